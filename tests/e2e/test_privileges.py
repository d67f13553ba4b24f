# SPDX-License-Identifier: Apache-2.0
"""Least privilege: kspan traces HTTP as an unprivileged user holding only
the documented capabilities, and says what is missing without them."""
import os
import select
import signal
import subprocess
import time

from conftest import KSPAN, parse_otlp_lines

CAPS = "cap_bpf,cap_perfmon,cap_net_admin,cap_sys_ptrace,cap_dac_read_search"


def as_nobody(caps, cmd, **kw):
    """Run cmd as user nobody with exactly `caps` in its effective set."""
    shell = " ".join(f"'{c}'" for c in cmd)
    args = ["capsh", f"--caps={caps}+eip cap_setpcap,cap_setuid,cap_setgid+ep" if caps else
            "--caps=cap_setpcap,cap_setuid,cap_setgid+ep",
            "--keep=1", "--user=nobody"]
    if caps:
        args.append(f"--addamb={caps}")
    return subprocess.Popen(args + ["--", "-c", f"grep CapEff /proc/self/status >&2; exec {shell}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def wait_tracing(p, timeout=20):
    """What p wrote to stderr up to kspan's line saying it is tracing. Read
    from the pipe itself, so that communicate() gets the rest."""
    end, head = time.time() + timeout, b""
    while b"kspan: info: tracing" not in head:
        left = end - time.time()
        r, _, _ = select.select([p.stderr], [], [], max(left, 0))
        chunk = os.read(p.stderr.fileno(), 4096) if r else b""
        assert chunk, f"kspan did not start: {head.decode(errors='replace')}"
        head += chunk
    return head.decode()


def test_documented_capabilities_are_enough(threaded_server):
    k = as_nobody(CAPS, [str(KSPAN), "--pid", str(threaded_server.pid), "-e", "otlp-json",
                         "--linger-ms", "100", "--duration", "30"])
    head = wait_tracing(k)
    for i in range(3):
        subprocess.run(["curl", "-sS", "-o", "/dev/null",
                        f"http://127.0.0.1:{threaded_server.port}/cap/{i}"], check=True)
    time.sleep(0.5)
    k.send_signal(signal.SIGINT)
    out, err = k.communicate(timeout=30)
    err = head + err
    assert k.returncode == 0, err
    # Exactly the five capabilities, nothing else: bits 2, 12, 19, 38, 39.
    eff = int(err.split("CapEff:")[1].split()[0], 16)
    assert eff == (1 << 2) | (1 << 12) | (1 << 19) | (1 << 38) | (1 << 39)
    spans = parse_otlp_lines(out)
    assert sorted(s["attrs"]["url.path"] for s in spans) == ["/cap/0", "/cap/1", "/cap/2"]
    # CAP_SYS_PTRACE lets kspan read the traced process's /proc entries.
    assert all(s["resource"]["process.executable.name"].startswith("python") for s in spans)


def test_without_cap_bpf_it_says_what_is_missing():
    k = as_nobody(CAPS.replace("cap_bpf,", ""), [str(KSPAN), "--duration", "1"])
    out, err = k.communicate(timeout=30)
    assert k.returncode == 1
    assert "needs CAP_BPF and CAP_PERFMON" in err
