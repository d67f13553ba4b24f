# SPDX-License-Identifier: Apache-2.0
"""h2c through Upgrade (RFC 7540 3.2): nghttp -u and curl --http2 send an
HTTP/1.1 request with Upgrade: h2c and HTTP2-Settings to nghttpx, which
answers 101 and goes on in HTTP/2. The upgrade request is stream 1: its
span has the HTTP/1.1 request's method and path and the HTTP/2 response's
status, on both ends, and no 101 span is left behind. nghttpx forwards to
the threaded HTTP/1.1 test server."""
import pytest

from h2util import CLIENT, ERROR, SERVER, child_of, nghttpx, pick, run, traced


@pytest.fixture
def proxy(threaded_server):
    srv = nghttpx(threaded_server.port)
    yield srv
    srv.stop()


def check(s, kind, port, path, status, query=None):
    a = s["attrs"]
    assert s["kind"] == kind
    assert a["network.protocol.version"] == "2"
    assert a["url.scheme"] == "http"
    assert a["http.request.method"] == "GET"
    assert a["url.path"] == path
    assert a.get("url.query") == query
    assert a["http.response.status_code"] == status
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == port
    assert a["network.peer.address"] == "127.0.0.1"
    assert 0 < s["start"] <= s["end"]
    if kind == CLIENT:
        assert a["url.full"] == f"http://127.0.0.1:{port}{path}" + (f"?{query}" if query else "")
    else:
        assert a["client.port"] == a["network.peer.port"]


def frontend_spans(spans, port, backend, n):
    """The n HTTP/2 spans at each end of the proxy's frontend. HTTP/1.1
    spans there are only the proxy's calls to its backend: the 101
    exchanges became streams, not spans of their own."""
    srv, cli = pick(spans, SERVER, port, version="2"), pick(spans, CLIENT, port, version="2")
    assert len(srv) == n and len(cli) == n
    h1 = [s for s in spans if s["attrs"].get("network.protocol.version") == "1.1"]
    assert len(h1) == 2 * n
    for s in h1:
        if s["kind"] == CLIENT:
            assert s["attrs"]["network.peer.port"] == backend.port
        else:
            assert s["resource"]["process.pid"] == backend.pid
    assert not [s for s in spans if s["attrs"].get("http.response.status_code") == 101]
    return srv, cli


def test_nghttp_upgrade(kspan_factory, proxy, threaded_server):
    port = proxy.port
    paths = [("/status/201", 201), ("/status/404", 404)]
    spans, out, k = traced(kspan_factory, [proxy.pid, threaded_server.pid], lambda: run(
        "nghttp", "-nu", "-s", *[f"http://127.0.0.1:{port}{p}" for p, _ in paths]))
    # nghttp's summary (id ... code size path): the first went as stream 1
    rows = {r[-1]: r for r in (line.split() for line in out.splitlines())
            if r and r[-1].startswith("/status/")}
    assert rows["/status/201"][0] == "1" and rows["/status/201"][4] == "201"
    assert rows["/status/404"][4] == "404"
    srv, cli = frontend_spans(spans, port, threaded_server, 2)
    srv.sort(key=lambda s: s["attrs"]["url.path"])
    cli.sort(key=lambda s: s["attrs"]["url.path"])
    for s, c, (path, code) in zip(srv, cli, paths):
        check(s, SERVER, port, path, code)
        check(c, CLIENT, port, path, code)
        assert c["resource"]["process.executable.name"] == "nghttp"
        # the ends pair up by stream id, stream 1 included
        child_of(s, c)
    assert srv[0]["name"] == "GET /status/{id}"
    assert cli[1]["status"]["code"] == ERROR
    # stream 1 began with the HTTP/1.1 request, before the 101
    assert cli[0]["start"] < cli[1]["start"]
    c = k.counters()
    assert c["http2.upgrades"] == 2
    assert c["http2.protocol_errors"] == 0 and c["http2.hpack_errors"] == 0
    assert c["http1.parse_errors"] == 0


def test_curl_upgrade(kspan_factory, proxy, threaded_server):
    port = proxy.port
    spans, out, k = traced(kspan_factory, [proxy.pid, threaded_server.pid], lambda: run(
        "curl", "-sS", "--http2", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
        f"http://127.0.0.1:{port}/chunked?x=1"))
    assert out == "200 2"
    srv, cli = frontend_spans(spans, port, threaded_server, 1)
    for s, kind in ((srv[0], SERVER), (cli[0], CLIENT)):
        check(s, kind, port, "/chunked", 200, query="x=REDACTED")
        assert s["attrs"]["http.response.body.size"] == len(
            "a chunked body spread over several chunks\n")
    assert cli[0]["resource"]["process.executable.name"] == "curl"
    child_of(srv[0], cli[0])
    # The proxy called its backend while serving only stream 1: that call
    # nests under it, and the backend's span is paired under the call.
    calls = pick(spans, CLIENT, threaded_server.port, version="1.1")
    # (the proxy passes the frontend's authority on in Host)
    served = pick(spans, SERVER, port, pid=threaded_server.pid)
    assert len(calls) == 1 and len(served) == 1
    child_of(calls[0], srv[0])
    child_of(served[0], calls[0])
    c = k.counters()
    assert c["http2.upgrades"] == 2
    assert c["spans.nested"] == 1
