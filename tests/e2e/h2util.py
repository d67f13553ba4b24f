# SPDX-License-Identifier: Apache-2.0
"""What the HTTP/2 e2e tests share: nghttpx and nghttpd as servers, running
kspan around a piece of traffic, and picking spans."""
import os
import subprocess
import time

from conftest import Proc, free_port

SERVER, CLIENT = 2, 3
ERROR = 2


def nghttpx(backend_port, h2_backend=False):
    """nghttpx (nghttp2's reverse proxy): cleartext frontend speaking
    HTTP/1.1, h2c by prior knowledge and h2c through Upgrade; one worker
    process; the backend over HTTP/1.1 or h2c."""
    port = free_port()
    backend = f"127.0.0.1,{backend_port}" + (";;proto=h2" if h2_backend else "")
    return Proc(["nghttpx", "--conf=/dev/null", f"--frontend=127.0.0.1,{port};no-tls",
                 f"--backend={backend}", "--workers=1", "--errorlog-file=/dev/null"], port)


def nghttpd(www, tls=None):
    """nghttpd serving www: h2c by prior knowledge, or h2 over TLS (ALPN)
    with tls = (cert, key)."""
    port = free_port()
    args = ["nghttpd", "-d", str(www), str(port)]
    args = args + [str(tls[1]), str(tls[0])] if tls else args[:1] + ["--no-tls"] + args[1:]
    return Proc(args, port)


def traced(kspan_factory, pids, fn, extra=()):
    """Run fn with kspan tracing pids (and their children) and this
    process's children; returns (spans, fn's result, kspan)."""
    args = ["--capture-bytes", "8192", "--pid", str(os.getpid()), *extra]
    for p in pids:
        args += ["--pid", str(p)]
    with kspan_factory(args, linger_ms=300) as k:
        out = fn()
        time.sleep(0.8)
        assert k.stop() == 0
    return k.spans(), out, k


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True,
                          timeout=60, **kw).stdout


def pick(spans, kind, port, pid=None, version=None):
    """Spans of one kind towards a server port, by start time."""
    out = [s for s in spans if s["kind"] == kind and s["attrs"].get("server.port") == port
           and (pid is None or s["resource"]["process.pid"] == pid)
           and (version is None or s["attrs"].get("network.protocol.version") == version)]
    return sorted(out, key=lambda s: s["start"])


def child_of(child, parent):
    """child is parent's child in one trace, and started after it; a child
    in the same process (nested) also ended before it. (Across processes the
    reader of the last bytes may return before their writer's syscall does.)"""
    assert child["traceId"] == parent["traceId"], (child["name"], parent["name"])
    assert child.get("parentSpanId") == parent["spanId"], (child["name"], parent["name"])
    assert parent["start"] <= child["start"]
    if child["resource"]["process.pid"] == parent["resource"]["process.pid"]:
        assert child["end"] <= parent["end"]
