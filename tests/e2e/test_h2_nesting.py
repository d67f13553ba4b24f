# SPDX-License-Identifier: Apache-2.0
"""Nesting with HTTP/2 on either side: a call a thread makes while it serves
exactly one server request is that request's child, whether the call or the
request is HTTP/1.1 or HTTP/2.

- A threaded HTTP/1.1 server (Python) whose handlers call nghttpd over h2c
  with httpx (python3-httpx on python3-h2), several handlers at once: with a
  client per thread each call nests under its handler's request; with one
  client shared by every thread (one connection, streams multiplexed, any
  thread may flush what others queued) a call nests only when it is surely
  the writing thread's own, and the others are counted.
- nghttpx, an event loop serving HTTP/2 streams, calling its HTTP/1.1 or
  h2c backend: nested while it serves one stream at a time; with many
  streams in flight at once it gets no guessed parent, never a wrong one,
  and every refusal is counted."""
import subprocess

import pytest

from conftest import PY, Proc, free_port
from h2util import CLIENT, SERVER, child_of, nghttpd, nghttpx, pick, run, traced

# A threaded HTTP/1.1 server; GET /call/N asks nghttpd for /r{N % 8}?id=N
# over HTTP/2 (prior knowledge) with httpx, and answers with what it got.
# "shared": one client (one connection) for every handler thread;
# "per-thread": a client of its own for each thread.
H1_TO_H2 = r"""
import http.server, sys, threading, httpx
port, up, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
shared = httpx.Client(http1=False, http2=True, timeout=10)
local = threading.local()
def client():
    if mode == "shared":
        return shared
    if not hasattr(local, "c"):
        local.c = httpx.Client(http1=False, http2=True, timeout=10)
    return local.c
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        n = int(self.path.rsplit("/", 1)[-1])
        r = client().get("http://127.0.0.1:%d/r%d?id=%d" % (up, n % 8, n))
        assert r.http_version == "HTTP/2"
        self.send_response(r.status_code)
        self.send_header("Content-Length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""

# THREADS keep-alive connections at once, PER requests each, in order.
OUTER_CLIENT = r"""
import http.client, sys, threading
port, threads, per = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
out = {}
def go(t):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    for j in range(per):
        n = t * per + j
        c.request("GET", "/call/%d" % n)
        r = c.getresponse()
        out[n] = (r.status, r.read().decode().strip())
    c.close()
ts = [threading.Thread(target=go, args=(t,)) for t in range(threads)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(sorted(out.items()))
"""

THREADS, PER = 4, 3


@pytest.fixture
def www(tmp_path):
    d = tmp_path / "www"
    d.mkdir()
    for i in range(8):
        (d / f"r{i}").write_text(f"r{i}\n")
    return d


@pytest.fixture
def h2_origin(www):
    srv = nghttpd(www)
    yield srv
    srv.stop()


def h1_handlers_call_h2(kspan_factory, h2_origin, mode):
    """The handlers' spans, chain by chain, and the counters."""
    port = free_port()
    app = Proc([PY, "-c", H1_TO_H2, str(port), str(h2_origin.port), mode], port)
    cli_pid = []

    def go():
        p = subprocess.Popen([PY, "-c", OUTER_CLIENT, str(port), str(THREADS), str(PER)],
                             stdout=subprocess.PIPE, text=True)
        cli_pid.append(p.pid)
        return p.communicate(timeout=60)[0].strip()
    try:
        spans, out, k = traced(kspan_factory, [app.pid, h2_origin.pid], go,
                               extra=["--query-allow", "id"])
    finally:
        app.stop()
    n = THREADS * PER
    assert out == str([(i, (200, f"r{i % 8}")) for i in range(n)])
    outer = pick(spans, CLIENT, port, pid=cli_pid[0])
    served = pick(spans, SERVER, port, pid=app.pid)
    calls = pick(spans, CLIENT, h2_origin.port, pid=app.pid)
    origin = pick(spans, SERVER, h2_origin.port, pid=h2_origin.pid)
    assert len(outer) == n and len(served) == n and len(calls) == n and len(origin) == n
    by_path = {s["attrs"]["url.path"]: s for s in served}
    by_id = {s["attrs"]["url.query"]: s for s in calls}
    at_origin = {s["attrs"]["url.query"]: s for s in origin}
    out = []
    for o in outer:
        path = o["attrs"]["url.path"]
        i = int(path.rsplit("/", 1)[-1])
        s, c, d = by_path[path], by_id[f"id={i}"], at_origin[f"id={i}"]
        assert s["attrs"]["network.protocol.version"] == "1.1"
        for sp in (c, d):
            assert sp["attrs"]["network.protocol.version"] == "2"
            assert sp["attrs"]["url.path"] == f"/r{i % 8}"
            assert sp["attrs"]["http.response.status_code"] == 200
        # outer call -> handler (paired); the h2 call -> nghttpd (paired)
        child_of(s, o)
        child_of(d, c)
        assert o.get("parentSpanId", "") == ""
        out.append((s, c))
    # the handlers ran on THREADS connections (and threads) at once
    assert len({s["attrs"]["client.port"] for s, _ in out}) == THREADS
    c = k.counters()
    assert c["spans.nest_ambiguous"] == 0 and c["spans.nest_stale"] == 0
    assert c["spans.link_refused"] == 0
    return out, c


def test_h1_handlers_call_h2(kspan_factory, h2_origin):
    """A client per thread: every call is its handler's child, so each
    request is one trace of four spans, never crossing another."""
    chains, c = h1_handlers_call_h2(kspan_factory, h2_origin, "per-thread")
    for s, call in chains:
        child_of(call, s)
    assert c["spans.nested"] == len(chains)
    assert c["http2.nest_refused"] == 0


def test_h1_handlers_share_h2_client(kspan_factory, h2_origin):
    """One connection for all threads: a thread writing the connection may
    carry HEADERS another thread queued. Calls nest only under their own
    handler's request; those that cannot be known are counted."""
    chains, c = h1_handlers_call_h2(kspan_factory, h2_origin, "shared")
    nested = 0
    for s, call in chains:
        if call.get("parentSpanId"):
            child_of(call, s)
            nested += 1
        else:
            assert call["traceId"] != s["traceId"]
    assert c["spans.nested"] == nested
    assert c["http2.nest_refused"] == len(chains) - nested


@pytest.fixture
def proxy_h1(threaded_server):
    srv = nghttpx(threaded_server.port)
    yield srv
    srv.stop()


@pytest.fixture
def proxy_h2(h2_origin):
    srv = nghttpx(h2_origin.port, h2_backend=True)
    yield srv
    srv.stop()


def curl_h2(port, path):
    return run("curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w",
               "%{http_code}", f"http://127.0.0.1:{port}{path}")


def chains(spans, port, backend, backend_pid, version, n):
    """Per request: the frontend's client and server spans, the proxy's call
    and the backend's server span, matched by the path."""
    front_cli = pick(spans, CLIENT, port, version="2")
    front_srv = [s for s in pick(spans, SERVER, port, version="2")
                 if s["resource"]["process.pid"] != backend_pid]
    calls = pick(spans, CLIENT, backend, version=version)
    back = [s for s in spans if s["kind"] == SERVER and s["resource"]["process.pid"] == backend_pid]
    for ss in (front_cli, front_srv, calls, back):
        assert len(ss) == n
    key = lambda s: s["attrs"]["url.path"] + "?" + s["attrs"].get("url.query", "")  # noqa: E731
    maps = [{key(s): s for s in ss} for ss in (front_cli, front_srv, calls, back)]
    assert all(len(m) == n for m in maps)
    return [tuple(m[p] for m in maps) for p in sorted(maps[0])]


def test_h2_stream_calls_h1(kspan_factory, proxy_h1, threaded_server):
    """One stream at a time: each backend call nests under its stream."""
    paths = ["/status/200", "/status/201", "/status/404"]
    spans, out, k = traced(kspan_factory, [proxy_h1.pid, threaded_server.pid],
                           lambda: [curl_h2(proxy_h1.port, p) for p in paths])
    assert out == ["200", "201", "404"]
    for fc, fs, call, back in chains(spans, proxy_h1.port, threaded_server.port,
                                     threaded_server.pid, "1.1", len(paths)):
        child_of(fs, fc)
        child_of(call, fs)
        child_of(back, call)
        assert call["resource"]["process.pid"] == fs["resource"]["process.pid"]
    c = k.counters()
    assert c["spans.nested"] == len(paths)
    assert c["spans.nest_ambiguous"] == 0 and c["spans.nest_stale"] == 0


def test_h2_stream_calls_h2(kspan_factory, proxy_h2, h2_origin):
    """HTTP/2 on both sides of the proxy: the h2c call to nghttpd nests under
    the stream it serves."""
    paths = ["/r1", "/r2", "/missing"]
    spans, out, k = traced(kspan_factory, [proxy_h2.pid, h2_origin.pid],
                           lambda: [curl_h2(proxy_h2.port, p) for p in paths])
    assert out == ["200", "200", "404"]
    for fc, fs, call, back in chains(spans, proxy_h2.port, h2_origin.port, h2_origin.pid,
                                     "2", len(paths)):
        child_of(fs, fc)
        child_of(call, fs)
        child_of(back, call)
        assert call["attrs"]["network.protocol.version"] == "2"
    assert k.counters()["spans.nested"] == len(paths)


def test_many_streams_never_a_wrong_parent(kspan_factory, proxy_h1, threaded_server):
    """nghttp asks for many paths at once on one connection: the proxy's
    thread serves several streams at a time. A backend call gets a parent
    only when its thread served that one stream alone, and the parent is
    always the stream it was made for; every call left without one was
    refused and counted."""
    n = 12
    urls = [f"http://127.0.0.1:{proxy_h1.port}/status/200?n={i}" for i in range(n)]
    spans, out, k = traced(kspan_factory, [proxy_h1.pid, threaded_server.pid],
                           lambda: run("nghttp", "-n", *urls), extra=["--query-allow", "n"])
    nested = refused = 0
    for fc, fs, call, back in chains(spans, proxy_h1.port, threaded_server.port,
                                     threaded_server.pid, "1.1", n):
        child_of(fs, fc)
        child_of(back, call)
        if call.get("parentSpanId"):
            child_of(call, fs)
            nested += 1
        else:
            refused += 1
    # all on one connection
    assert len({s["attrs"]["network.peer.port"] for s in pick(spans, SERVER, proxy_h1.port,
                                                              version="2")}) == 1
    c = k.counters()
    assert c["spans.nested"] == nested
    assert c["spans.nest_ambiguous"] + c["spans.nest_stale"] == refused
    assert c["spans.link_refused"] == 0
