# SPDX-License-Identifier: Apache-2.0
"""HTTP/2 over TLS (ALPN h2) through the TLS uprobes: curl against nginx
with `listen ... ssl http2`, nghttp against nghttpd, and grpcio with TLS
channel and server credentials, certificates made at test time. The
plaintext the libraries hand over starts with the client preface, so the
HTTP/2 tracker takes it as it takes h2c; every span must carry what its h2c
twin carries, with url.scheme https and tls.protocol.version, and the
ciphertext must reach no parser."""
import subprocess

import pytest

from conftest import PY, Proc, free_port, nginx_https
from h2util import CLIENT, ERROR, SERVER, child_of, nghttpd, pick, run, traced
from test_tls import check_no_ciphertext


def check_h2_tls(s, kind, port, method, path, status, version):
    """What every span of these tests carries."""
    assert s["kind"] == kind
    assert len(s["traceId"]) == 32 and int(s["traceId"], 16) != 0
    assert 0 < s["start"] <= s["end"]
    a = s["attrs"]
    assert a["network.protocol.version"] == "2"
    assert a["url.scheme"] == "https"
    assert a["tls.protocol.version"] == version
    assert a["http.request.method"] == method
    assert a["url.path"] == path
    assert a["http.response.status_code"] == status
    assert a["network.transport"] == "tcp"
    assert a["network.peer.address"] == "127.0.0.1"
    assert a["server.port"] == port
    if kind == SERVER:
        assert a["client.address"] == "127.0.0.1"
        assert a["client.port"] == a["network.peer.port"]
    else:
        assert a["network.peer.port"] == port
        assert "client.address" not in a


def check_counters(k):
    c = check_no_ciphertext(k)
    assert c["http2.protocol_errors"] == 0
    assert c["http2.hpack_errors"] == 0
    assert c["http1.requests"] == 0
    return c


@pytest.fixture
def nginx_h2(tmp_path, certs):
    srv = nginx_https(tmp_path, certs, "ssl http2", "TLSv1.3")
    yield srv
    srv.stop()


def test_curl_nginx(kspan_factory, nginx_h2):
    port = nginx_h2.port
    reqs = [("/index.html", 200, 17), ("/users/7?a=1", 200, 7), ("/missing", 404, None),
            ("/fail/1", 503, None)]
    # One curl, one connection, the requests one after another on it.
    spans, out, k = traced(kspan_factory, [nginx_h2.pid], lambda: run(
        "curl", "-sSk", "--http2", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
        "-o", "/dev/null", "-w", "%{http_code} %{http_version}\n",
        *[f"https://127.0.0.1:{port}{p}" for p, _, _ in reqs]))
    assert out.split("\n")[:-1] == [f"{c} 2" for _, c, _ in reqs]
    srv, cli = pick(spans, SERVER, port), pick(spans, CLIENT, port)
    assert len(srv) == len(reqs) and len(cli) == len(reqs)
    for s, c, (p, code, size) in zip(srv, cli, reqs):
        path = p.partition("?")[0]
        check_h2_tls(s, SERVER, port, "GET", path, code, "1.3")
        check_h2_tls(c, CLIENT, port, "GET", path, code, "1.3")
        # nginx answers from its worker, a child of the traced master
        assert s["resource"]["process.pid"] != nginx_h2.pid
        assert c["resource"]["process.executable.name"] == "curl"
        if size is not None:
            assert s["attrs"]["http.response.body.size"] == size
            assert c["attrs"]["http.response.body.size"] == size
        assert c["attrs"]["url.full"].startswith(f"https://127.0.0.1:{port}{path}")
        # both ends on this host: paired by stream id
        child_of(s, c)
    assert [s["name"] for s in srv] == ["GET /index.html", "GET /users/{id}", "GET /missing",
                                        "GET /fail/{id}"]
    assert srv[1]["attrs"]["url.query"] == "a=REDACTED"
    assert srv[3]["status"]["code"] == ERROR and "status" not in srv[2]
    assert cli[2]["status"]["code"] == ERROR and cli[3]["status"]["code"] == ERROR
    # streams 1, 3, 5, 7 of one connection
    assert len({s["attrs"]["client.port"] for s in srv}) == 1
    c = check_counters(k)
    assert c["http2.spans"] == 2 * len(reqs)


def test_nghttp_nghttpd(kspan_factory, certs, tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello h2 over tls\n")
    srv_proc = nghttpd(www, tls=certs)
    port = srv_proc.port
    try:
        spans, out, k = traced(kspan_factory, [srv_proc.pid], lambda: run(
            "nghttp", "-n", f"https://127.0.0.1:{port}/index.html",
            f"https://127.0.0.1:{port}/missing"))
    finally:
        srv_proc.stop()
    srv = sorted(pick(spans, SERVER, port, pid=srv_proc.pid), key=lambda s: s["attrs"]["url.path"])
    cli = sorted(pick(spans, CLIENT, port), key=lambda s: s["attrs"]["url.path"])
    assert len(srv) == 2 and len(cli) == 2
    for s, c, (path, code) in zip(srv, cli, [("/index.html", 200), ("/missing", 404)]):
        check_h2_tls(s, SERVER, port, "GET", path, code, "1.3")
        check_h2_tls(c, CLIENT, port, "GET", path, code, "1.3")
        assert c["resource"]["process.executable.name"] == "nghttp"
        child_of(s, c)
    assert srv[0]["attrs"]["http.response.body.size"] == len("hello h2 over tls\n")
    assert cli[0]["attrs"]["url.full"] == f"https://127.0.0.1:{port}/index.html"
    assert cli[1]["status"]["code"] == ERROR
    check_counters(k)


GRPC_TLS_SERVER = r"""
import sys, grpc
from concurrent import futures
def say(req, ctx):
    if req.startswith(b"fail-"):
        ctx.abort(getattr(grpc.StatusCode, req[5:].decode().upper()), "failed on purpose")
    return b"hi " + req
def stream(req, ctx):
    for i in range(int(req)):
        yield b"part %d" % i
h = grpc.method_handlers_generic_handler("demo.Echo", {
    "Say": grpc.unary_unary_rpc_method_handler(say),
    "Stream": grpc.unary_stream_rpc_method_handler(stream),
})
srv = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
srv.add_generic_rpc_handlers((h,))
key, cert = open(sys.argv[3], "rb").read(), open(sys.argv[2], "rb").read()
srv.add_secure_port("127.0.0.1:%s" % sys.argv[1], grpc.ssl_server_credentials([(key, cert)]))
srv.start()
srv.wait_for_termination()
"""

GRPC_TLS_CLIENT = r"""
import sys, grpc
cert = open(sys.argv[2], "rb").read()
# the certificate names localhost: the channel checks it against that name
ch = grpc.secure_channel("127.0.0.1:%s" % sys.argv[1], grpc.ssl_channel_credentials(cert),
                         options=[("grpc.ssl_target_name_override", "localhost")])
say = ch.unary_unary("/demo.Echo/Say")
out = []
for r in (b"a", b"fail-unavailable", b"fail-not_found"):
    try:
        out.append(say(r).decode())
    except grpc.RpcError as e:
        out.append(e.code().name)
out.append(len(list(ch.unary_stream("/demo.Echo/Stream")(b"3"))))
print(out, flush=True)
"""


def test_grpc_tls(kspan_factory, certs):
    """grpcio (grpc-core on the system's libssl) with TLS credentials both
    ways: grpc-core encrypts into memory, so the socket of each TLS call is
    the one its thread just read, as for node."""
    port = free_port()
    srv_proc = Proc([PY, "-c", GRPC_TLS_SERVER, str(port), str(certs[0]), str(certs[1])], port)
    cli_pid = []

    def go():
        p = subprocess.Popen([PY, "-c", GRPC_TLS_CLIENT, str(port), str(certs[0])],
                             stdout=subprocess.PIPE, text=True)
        cli_pid.append(p.pid)
        return p.communicate(timeout=60)[0].strip()
    try:
        spans, out, k = traced(kspan_factory, [srv_proc.pid], go)
    finally:
        srv_proc.stop()
    assert out == "['hi a', 'UNAVAILABLE', 'NOT_FOUND', 3]"
    want = [("Say", 0), ("Say", 14), ("Say", 5), ("Stream", 0)]
    srv = pick(spans, SERVER, port, pid=srv_proc.pid)
    cli = pick(spans, CLIENT, port, pid=cli_pid[0])
    assert len(srv) == len(want) and len(cli) == len(want)
    for s, c, (method, code) in zip(srv, cli, want):
        for sp, kind in ((s, SERVER), (c, CLIENT)):
            check_h2_tls(sp, kind, port, "POST", f"/demo.Echo/{method}", 200, "1.3")
            a = sp["attrs"]
            assert sp["name"] == f"demo.Echo/{method}"
            assert a["rpc.system"] == "grpc"
            assert a["rpc.service"] == "demo.Echo" and a["rpc.method"] == method
            assert a["rpc.grpc.status_code"] == code
            # the channel's authority is the name it checks the certificate against
            assert a["server.address"] == "localhost"
        assert (s.get("status", {}).get("code") == ERROR) == (code == 14)
        assert (c.get("status", {}).get("code") == ERROR) == (code != 0)
        child_of(s, c)
    assert cli[0]["attrs"]["url.full"] == "https://localhost/demo.Echo/Say"
    check_counters(k)
