# SPDX-License-Identifier: Apache-2.0
"""A TCP socket freed while kspan runs is usually taken again at once, at the
same kernel address, by the next socket allocated on that CPU. The next
connection must still be a connection of its own: every request gets its
span, with that connection's peer port.

The server answers each request only after the client has closed (as wrk
does when it stops with requests in flight): the response meets a socket
that is gone, and the reset that comes back closes the server's socket
inside the write that carried the response. Client and server share one
CPU, and the client creates its next socket before the server frees the
current one, so the next connection's server socket takes the freed one's
place."""
import os
import select
import socket
import subprocess
import time

import pytest

from conftest import PY, SERVERS, free_port

CONNS = 20


def read_line(f, timeout=10.0):
    r, _, _ = select.select([f], [], [], timeout)
    assert r, "the server printed nothing"
    return f.readline().strip()


@pytest.mark.parametrize("hook", [[], ["--capture", "syscall"], ["--sock-hook", "fdwalk"]],
                         ids=["chosen", "syscall", "fdwalk"])
def test_reused_socket_address(kspan_factory, hook):
    cpu = min(os.sched_getaffinity(0))
    own = os.sched_getaffinity(0)
    port = free_port()
    srv = subprocess.Popen(["taskset", "-c", str(cpu), PY, str(SERVERS), "answer_after_close",
                            str(port)], stdout=subprocess.PIPE, text=True)
    ports = []
    try:
        assert read_line(srv.stdout) == "ready"
        with kspan_factory(["--pid", str(srv.pid), *hook]) as k:
            os.sched_setaffinity(0, {cpu})
            nxt = socket.socket()
            for _ in range(CONNS):
                s = nxt
                s.settimeout(10)
                s.connect(("127.0.0.1", port))
                ports.append(s.getsockname()[1])
                s.sendall(b"GET /reuse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                nxt = socket.socket()
                s.close()
                assert read_line(srv.stdout) == f"closed {ports[-1]}"
            nxt.close()
            os.sched_setaffinity(0, own)
            time.sleep(0.5)
            assert k.stop() == 0
    finally:
        os.sched_setaffinity(0, own)
        srv.terminate()
        srv.wait(timeout=10)
    c = k.counters()
    spans = sorted(k.spans(), key=lambda s: s["start"])
    assert (c["http1.orphan_responses"], c["http1.unanswered"]) == (0, 0), k.stderr
    # The case under test happened: new sockets took freed ones' places.
    # Socket-layer capture (chosen here) keeps an entry until its socket is
    # destroyed, so none is ever left for the next socket there.
    if hook:
        assert c["bpf.socks_stale"] > 0, k.stderr
    else:
        assert c["bpf.socks_stale"] == 0, k.stderr
    assert len(spans) == CONNS
    for s, p in zip(spans, ports):
        a = s["attrs"]
        assert s["kind"] == 2
        assert s["resource"]["process.pid"] == srv.pid
        assert a["http.request.method"] == "GET"
        assert a["url.path"] == "/reuse"
        assert a["http.response.status_code"] == 200
        assert a["network.peer.port"] == p
        assert a["server.port"] == port
