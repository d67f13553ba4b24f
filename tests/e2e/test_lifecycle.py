# SPDX-License-Identifier: Apache-2.0
"""Clean lifecycle: kspan killed with SIGKILL under load, 50 times, restarts
every time, and nothing of any killed instance stays in the kernel (its
programs, links and maps, the cgroup's sock_ops and the sk_msg attachment).
SIGTERM detaches everything too, after flushing."""
import json
import os
import signal
import subprocess
import time

from conftest import KSPAN

LOAD = r"""
import sys, time, urllib.request
port, until = int(sys.argv[1]), time.time() + float(sys.argv[2])
n = 0
while time.time() < until and n < 100000:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/load/{n}", timeout=5).read()
    except Exception:
        pass
    n += 1
"""


def bpf_ids(pid):
    """Program, map and link ids held by the process's file descriptors."""
    ids = {"prog": set(), "map": set(), "link": set()}
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = open(f"/proc/{pid}/fdinfo/{fd}").read()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, val = line.partition(":")
            if key in ("prog_id", "map_id", "link_id"):
                ids[key[:-3]].add(int(val))
    return ids


def alive(kind, ids):
    out = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True).stdout
    return {o["id"] for o in json.loads(out or "[]")} & ids


def start(args=()):
    p = subprocess.Popen([str(KSPAN), "--exporter", "otlp-json", "--output", "/dev/null",
                          "--inject-traceparent", *args], stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "kspan: info: tracing" in line:
            return p
    raise AssertionError(f"kspan did not start: rc={p.wait()}")


def wait_gone(held):
    # The kernel frees objects after the last reference goes, shortly.
    for _ in range(100):
        left = {k: alive(k, v) for k, v in held.items()}
        if not any(left.values()):
            return
        time.sleep(0.1)
    raise AssertionError(f"still in the kernel: {left}")


def test_kill_9_fifty_times_leaves_nothing(threaded_server):
    load = subprocess.Popen(["/usr/bin/python3", "-c", LOAD, str(threaded_server.port), "120"])
    held = {"prog": set(), "map": set(), "link": set()}
    try:
        for _ in range(50):
            k = start(["--pid", str(threaded_server.pid), "--pid", str(load.pid)])
            ids = bpf_ids(k.pid)
            assert ids["prog"] and ids["link"]
            for kind in held:
                held[kind] |= ids[kind]
            time.sleep(0.05)
            k.send_signal(signal.SIGKILL)
            k.wait()
    finally:
        load.terminate()
        load.wait()
    wait_gone(held)


def test_sigterm_detaches_everything():
    k = start()
    ids = bpf_ids(k.pid)
    cg = subprocess.run(["bpftool", "-j", "cgroup", "tree"], capture_output=True, text=True).stdout
    assert "sock_ops" in cg
    k.send_signal(signal.SIGTERM)
    rest = k.stderr.read()
    assert k.wait(timeout=30) == 0
    assert "kspan: info: spans:" in rest   # counters printed after the flush
    wait_gone(ids)
