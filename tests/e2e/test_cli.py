# SPDX-License-Identifier: Apache-2.0
"""Probing, the verifier pass over every program, and user-facing errors."""
import os
import re
import subprocess
import time
import urllib.request

from conftest import KSPAN


def run(*args, **kw):
    return subprocess.run([str(KSPAN), *args], capture_output=True, text=True, timeout=120, **kw)


def test_probe_reports_and_chooses():
    r = run("probe")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "kernel BTF: yes" in out
    assert re.search(r"tp_btf sys_enter/sys_exit\s+works", out)
    assert re.search(r"chosen: \S.* \+ \S", out)
    # On this kernel kprobes are compiled out and fentry is refused; the
    # report must say so rather than pretend.
    for hook in ("fentry tcp_sendmsg/tcp_recvmsg", "kprobe tcp_sendmsg/tcp_recvmsg"):
        line = next(l for l in out.splitlines() if hook in l)
        assert "works" in line or "unavailable:" in line


def test_every_program_passes_the_verifier():
    r = run("probe", "--verify")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith(("verified", "refused", "FAILED"))]
    names = {l.split()[1] for l in lines}
    # Every program in the object was tried, including the ones that are
    # not attached here (kprobes, the raw_tp fallback).
    for prog in ("sys_enter_btf", "sys_exit_btf", "sys_enter_raw", "sys_exit_raw",
                 "tcp_sendmsg_kprobe", "tcp_recvmsg_kprobe", "tcp_sendmsg_fentry",
                 "tcp_recvmsg_fentry", "sock_send_length_btf", "sock_recv_length_btf",
                 "sock_send_data", "sock_recv_data", "sock_send_start", "sock_destroy_btf",
                 "inet_sock_set_state_btf", "sched_process_fork_btf", "sched_process_exit_btf",
                 "inject_sockops", "inject_msg", "conns_set_state", "conns_tcp_probe"):
        assert prog in names
    assert not any(l.startswith("FAILED") for l in lines)
    # Only fentry may be refused (the kernel rejects the program type).
    for l in lines:
        if l.startswith("refused"):
            assert "fentry" in l
    assert "0 failed verification" in r.stdout


def test_help_and_bad_arguments():
    r = run("--help")
    assert r.returncode == 0 and "--exporter" in r.stdout and "--pid" in r.stdout
    r = run("--exporter", "zipkin")
    assert r.returncode == 2 and "unknown exporter 'zipkin'" in r.stderr
    r = run("--pid", "abc")
    assert r.returncode == 2 and "invalid pid" in r.stderr


def test_missing_pid_is_a_clear_error():
    pid = 1
    while os.path.exists(f"/proc/{pid}"):
        pid += 7919
    r = run("--pid", str(pid), "--duration", "1")
    assert r.returncode == 1
    assert f"no process with pid {pid}" in r.stderr


def test_without_privileges_says_what_to_do():
    r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        "--inh-caps=-all", "--bounding-set=-all", str(KSPAN), "--duration", "1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert "needs CAP_BPF and CAP_PERFMON" in r.stderr
    assert "run as root" in r.stderr


LOG_LINE = re.compile(r"^kspan: (error|warn|info|debug): \S")


def traced_run(server, *args, env=None):
    """kspan on the server for 6 s (one periodic round) with one request in it."""
    k = subprocess.Popen([str(KSPAN), "--pid", str(server.pid), "--exporter", "otlp-json",
                          "--output", "/dev/null", "--duration", "6", *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=env)
    time.sleep(2)
    urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=10).read()
    _, err = k.communicate(timeout=60)
    return k.returncode, err.splitlines()


def test_every_stderr_line_has_a_level(http_server):
    rc, lines = traced_run(http_server, "-v")
    assert rc == 0, lines
    bad = [l for l in lines if not LOG_LINE.match(l)]
    assert not bad, bad
    levels = {LOG_LINE.match(l).group(1) for l in lines}
    assert {"info", "debug"} <= levels, lines
    assert any(l.startswith("kspan: info: self: ") for l in lines), lines
    assert any(l.startswith("kspan: info: spans: exported=1 ") for l in lines), lines

    # Above the level, nothing: a clean run at warn writes no line at all,
    # and the variable sets the same as the option.
    rc, lines = traced_run(http_server, env={**os.environ, "KSPAN_LOG_LEVEL": "warn"})
    assert rc == 0 and lines == [], lines
    rc, lines = traced_run(http_server, "--log-level", "error")
    assert rc == 0 and lines == [], lines

    r = run("--log-level", "loud")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == ("kspan: error: invalid --log-level 'loud': use error, "
                                        "warn, info or debug")
