# SPDX-License-Identifier: Apache-2.0
"""HTTP/2 (h2c) and gRPC spans from real servers and clients on loopback:
nghttp and curl against nghttpd, a hand-written h2 client that forces HPACK
table eviction and keeps a connection open across kspan's start, and
grpcio's server and client (unary and streaming calls, OK and error
statuses, 100 concurrent streams, a connection opened before kspan)."""
import os
import re
import subprocess
import time

import pytest

from conftest import PY, ROOT, Proc, free_port

SERVER, CLIENT = 2, 3
ERROR = 2
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"

# grpc-core writes one iovec per frame header and payload: a call takes a
# dozen or more, and kspan captures only the first KSPAN_IOV_MAX of them.
IOV_MAX = int(re.search(r"#define KSPAN_IOV_MAX\s+(\d+)",
                        (ROOT / "include" / "kspan.h").read_text()).group(1))
needs_iov = pytest.mark.skipif(
    IOV_MAX < 32, reason=f"KSPAN_IOV_MAX is {IOV_MAX}: grpc-core's writes need 32")

# A small h2c client: one send() per request, its own HPACK encoder (no
# Huffman) with a model of the peer's table, so it knows which entries it
# can name by index.
H2RAW = r"""
import socket, struct, sys
port = int(sys.argv[1])
TABLE_MAX = 4096

class Enc:
    def __init__(self):
        self.t = []            # newest first: (name, value)
    def size(self):
        return sum(len(n) + len(v) + 32 for n, v in self.t)
    def add(self, n, v):
        self.t.insert(0, (n, v))
        while self.size() > TABLE_MAX:
            self.t.pop()
    @staticmethod
    def integer(first, bits, v):
        m = (1 << bits) - 1
        if v < m:
            return bytes([first | v])
        out = [first | m]
        v -= m
        while v >= 128:
            out.append(0x80 | (v & 0x7f))
            v >>= 7
        out.append(v)
        return bytes(out)
    @staticmethod
    def string(s):
        b = s.encode()
        return Enc.integer(0, 7, len(b)) + b
    def field(self, n, v, index=True):
        # by index when the table has it, else a literal (indexed if asked)
        if (n, v) in self.t:
            return self.integer(0x80, 7, 62 + self.t.index((n, v)))
        if index:
            self.add(n, v)
            return b"\x40" + self.string(n) + self.string(v)
        return b"\x00" + self.string(n) + self.string(v)

def frame(t, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([t, flags]) + struct.pack(">I", sid) + payload

s = socket.create_connection(("127.0.0.1", port))
buf = b""
def frames():
    global buf
    while True:
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            f, buf = buf[:9 + n], buf[9 + n:]
            yield f[3], f[4], int.from_bytes(f[5:9], "big") & 0x7fffffff, f[9:]
        d = s.recv(65536)
        if not d:
            raise SystemExit("connection closed")
        buf += d

enc = Enc()
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, b""))
sid = 1
def request(path, headers):
    global sid
    block = b"\x82\x86" + b"\x04" + Enc.string(path)
    for n, v, idx in headers:
        block += enc.field(n, v, idx)
    s.sendall(frame(1, 5, sid, block))
    for t, flags, st, payload in frames():
        if t == 4 and not flags & 1:
            s.sendall(frame(4, 1, 0, b""))
        if st == sid and t in (0, 1) and flags & 1:
            break
    sid += 2

auth = ("localhost:%d" % port)
mode = sys.argv[2]
if mode == "evict":
    for i in range(8):
        tp = "00-%032x-%016x-01" % (0xabc00 + i % 3, 0xdef00 + i % 3)
        hs = [(":authority", auth, True), ("traceparent", tp, True)]
        hs += [("x-big-%d" % k, ("%d-%d-" % (i, k)) * 200, True) for k in range(3)]
        request("/r%d" % i, hs)
elif mode == "before":
    # two requests before kspan: the table holds :authority and x-tag
    request("/r0", [(":authority", auth, True), ("x-tag", "warm", True)])
    request("/r1", [(":authority", auth, True), ("x-tag", "warm", True)])
    print("ready", flush=True)
    sys.stdin.readline()
    # named by index: unknown to kspan, so left out
    request("/r2", [(":authority", auth, True)])
    # a literal :authority, added to the table, then named by index
    enc.t.clear()   # (the peer still has the old entries; we just stop using them)
    request("/r3", [(":authority", auth, True)])
    request("/r4", [(":authority", auth, True)])
print("done", flush=True)
"""

GRPC_SERVER = r"""
import sys, time, grpc
from concurrent import futures

def say(req, ctx):
    if req.startswith(b"fail-"):
        ctx.abort(getattr(grpc.StatusCode, req[5:].decode().upper()), "failed on purpose")
    return b"hi " + req

def slow(req, ctx):
    # all 100 calls are open at once; their answers leave one by one
    time.sleep(0.5 + 0.01 * int(req))
    return req

def stream(req, ctx):
    for i in range(int(req)):
        yield b"part %d" % i

def collect(it, ctx):
    return b"|".join(it)

def chat(it, ctx):
    for m in it:
        yield b"re " + m

h = grpc.method_handlers_generic_handler("demo.Echo", {
    "Say": grpc.unary_unary_rpc_method_handler(say),
    "Other": grpc.unary_unary_rpc_method_handler(say),
    "Slow": grpc.unary_unary_rpc_method_handler(slow),
    "Stream": grpc.unary_stream_rpc_method_handler(stream),
    "Collect": grpc.stream_unary_rpc_method_handler(collect),
    "Chat": grpc.stream_stream_rpc_method_handler(chat),
})
srv = grpc.server(futures.ThreadPoolExecutor(max_workers=110))
srv.add_generic_rpc_handlers((h,))
srv.add_insecure_port("127.0.0.1:%s" % sys.argv[1])
srv.start()
srv.wait_for_termination()
"""

GRPC_CLIENT = r"""
import sys, time, grpc
port, mode = sys.argv[1], sys.argv[2]
ch = grpc.insecure_channel("127.0.0.1:%s" % port)
say = ch.unary_unary("/demo.Echo/Say")
def code(f, *a):
    try:
        f(*a)
        return "OK"
    except grpc.RpcError as e:
        return e.code().name
if mode == "basic":
    out = [code(say, b"a"), code(say, b"fail-unavailable"), code(say, b"fail-not_found"),
           code(say, b"fail-internal")]
    out.append(len(list(ch.unary_stream("/demo.Echo/Stream")(b"3"))))
    out.append(ch.stream_unary("/demo.Echo/Collect")(iter([b"x", b"y", b"z"])).decode())
    out.append(len(list(ch.stream_stream("/demo.Echo/Chat")(iter([b"1", b"2"])))))
    print(out, flush=True)
elif mode == "concurrent":
    # one call a write: a write of many calls has more iovecs than kspan
    # copies (the calls stay open together: each lasts 0.5 s or more)
    slow = ch.unary_unary("/demo.Echo/Slow")
    fs = []
    for i in range(100):
        fs.append(slow.future(b"%d" % i))
        time.sleep(0.003)
    print(sum(f.result() == b"%d" % i for i, f in enumerate(fs)), flush=True)
elif mode == "before":
    say(b"warm")
    print("ready", flush=True)
    sys.stdin.readline()
    print(say(b"again").decode(), ch.unary_unary("/demo.Echo/Other")(b"new").decode(),
          flush=True)
"""


def by(spans, kind, pid):
    return [s for s in spans if s["kind"] == kind and s["resource"]["process.pid"] == pid]


def check_h2(s, port):
    """What every HTTP/2 span carries."""
    assert len(s["traceId"]) == 32 and int(s["traceId"], 16) != 0
    assert len(s["spanId"]) == 16 and int(s["spanId"], 16) != 0
    assert 0 < s["start"] <= s["end"]
    assert s["end"] - s["start"] < 10 * 10**9
    a = s["attrs"]
    assert a["network.protocol.version"] == "2"
    assert a["network.transport"] == "tcp"
    assert a["network.peer.address"] == "127.0.0.1"
    if s["kind"] == SERVER:
        assert a["client.address"] == "127.0.0.1"
        assert a["client.port"] == a["network.peer.port"]
        assert a["server.port"] == port
    else:
        assert a["network.peer.port"] == port
        assert a["server.port"] == port
        assert "client.address" not in a


@pytest.fixture
def nghttpd(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello h2\n")
    for i in range(8):
        (www / f"r{i}").write_text(f"r{i}\n")
    port = free_port()
    srv = Proc(["nghttpd", "--no-tls", "-d", str(www), str(port)], port)
    yield srv
    srv.stop()


@pytest.fixture
def grpc_server():
    port = free_port()
    srv = Proc([PY, "-c", GRPC_SERVER, str(port)], port)
    yield srv
    srv.stop()


def traced(kspan_factory, pids, fn):
    """Run fn with kspan tracing pids and this process's children."""
    args = ["--capture-bytes", "8192", "--pid", str(os.getpid())]
    for p in pids:
        args += ["--pid", str(p)]
    with kspan_factory(args, linger_ms=300) as k:
        out = fn()
        time.sleep(0.8)
        assert k.stop() == 0
    return k.spans(), out, k


def traced_late(kspan_factory, server_pid, script, port):
    """Start a client that connects and makes its first calls, then kspan,
    then let the client go on: its connection predates kspan."""
    cli = subprocess.Popen([PY, "-c", script, str(port), "before"], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        assert cli.stdout.readline().strip() == "ready"

        def go():
            cli.stdin.write("go\n")
            cli.stdin.flush()
            return cli.stdout.readline().strip()
        spans, out, _ = traced(kspan_factory, [server_pid, cli.pid], go)
    finally:
        cli.stdin.close()
        cli.wait(timeout=10)
    return spans, out, cli.pid


def run(*args, **kw):
    return subprocess.run(list(args), check=True, capture_output=True, text=True,
                          timeout=60, **kw).stdout


def test_nghttp_nghttpd(kspan_factory, nghttpd):
    port = nghttpd.port
    urls = [f"http://127.0.0.1:{port}/index.html?a=1", f"http://127.0.0.1:{port}/missing"]
    spans, out, _ = traced(kspan_factory, [nghttpd.pid], lambda: run(
        "nghttp", "-n", "-H", f"traceparent: {TRACEPARENT}", *urls))
    srv = sorted(by(spans, SERVER, nghttpd.pid), key=lambda s: s["attrs"]["url.path"])
    cli = [s for s in spans if s["kind"] == CLIENT and s["attrs"].get("server.port") == port]
    cli.sort(key=lambda s: s["attrs"]["url.path"])
    assert len(srv) == 2 and len(cli) == 2
    for s in srv + cli:
        check_h2(s, port)
        a = s["attrs"]
        assert a["http.request.method"] == "GET"
        assert a["url.scheme"] == "http"
        assert a["server.address"] == "127.0.0.1"
        # the propagated context wins: the caller's trace, its span the parent
        assert s["traceId"] == TRACE_ID and s["parentSpanId"] == PARENT_ID
        assert "rpc.system" not in a
    ok, missing = srv
    assert ok["name"] == "GET /index.html" and missing["name"] == "GET /missing"
    assert ok["attrs"]["url.path"] == "/index.html"
    assert ok["attrs"]["url.query"] == "a=REDACTED"
    assert ok["attrs"]["http.response.status_code"] == 200
    assert ok["attrs"]["http.response.body.size"] == len("hello h2\n")
    assert missing["attrs"]["http.response.status_code"] == 404
    assert missing.get("status", {}).get("code", 0) != ERROR
    cok, cmissing = cli
    assert cok["name"] == "GET"
    assert cok["attrs"]["url.full"] == f"http://127.0.0.1:{port}/index.html?a=REDACTED"
    assert cmissing["attrs"]["http.response.status_code"] == 404
    assert cmissing["status"]["code"] == ERROR
    assert cmissing["attrs"]["error.type"] == "404"
    # one connection for both requests
    assert len({s["attrs"]["client.port"] for s in srv}) == 1


def test_curl_prior_knowledge(kspan_factory, nghttpd):
    port = nghttpd.port
    # (curl 7.88 trips over a second request on one connection to nghttpd:
    # one connection each)
    spans, out, k = traced(kspan_factory, [nghttpd.pid], lambda: [run(
        "curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
        "-w", "%{http_code} %{http_version}", f"http://127.0.0.1:{port}{p}")
        for p in ("/index.html", "/missing")])
    assert out == ["200 2", "404 2"]
    srv = sorted(by(spans, SERVER, nghttpd.pid), key=lambda s: s["start"])
    cli = sorted([s for s in spans if s["kind"] == CLIENT
                  and s["attrs"].get("server.port") == port], key=lambda s: s["start"])
    assert [s["attrs"]["url.path"] for s in srv] == ["/index.html", "/missing"]
    assert [s["attrs"]["url.path"] for s in cli] == ["/index.html", "/missing"]
    assert [s["attrs"]["http.response.status_code"] for s in srv + cli] == [200, 404] * 2
    for s in srv + cli:
        check_h2(s, port)
        assert s["attrs"]["http.request.method"] == "GET"
        assert s["attrs"]["server.address"] == "127.0.0.1"
    # both ends on this host: each server span is paired with the client
    # span of the same stream of the same connection
    for s, c in zip(srv, cli):
        assert s["traceId"] == c["traceId"]
        assert s["parentSpanId"] == c["spanId"]
        assert c.get("parentSpanId", "") == ""
        assert c["start"] <= s["start"] and s["end"] <= c["end"]
    assert cli[0]["attrs"]["url.full"] == f"http://127.0.0.1:{port}/index.html"


def test_table_eviction(kspan_factory, nghttpd):
    """Three 1.2 KB headers a request, new each time, push everything else out
    of the 4 KB table; :authority and traceparent come back by index or anew,
    and every span must still read them right."""
    port = nghttpd.port
    spans, out, _ = traced(kspan_factory, [nghttpd.pid], lambda: run(
        PY, "-c", H2RAW, str(port), "evict"))
    assert out.strip() == "done"
    for kind, pid in ((SERVER, nghttpd.pid), (CLIENT, None)):
        ss = [s for s in spans if s["kind"] == kind and
              (pid is None or s["resource"]["process.pid"] == pid) and
              s["attrs"].get("server.port") == port]
        ss.sort(key=lambda s: s["start"])
        assert [s["attrs"]["url.path"] for s in ss] == [f"/r{i}" for i in range(8)]
        for i, s in enumerate(ss):
            check_h2(s, port)
            assert s["attrs"]["server.address"] == "localhost"
            assert s["attrs"]["http.response.status_code"] == 200
            assert s["traceId"] == "%032x" % (0xabc00 + i % 3)
            assert s["parentSpanId"] == "%016x" % (0xdef00 + i % 3)


def test_connection_before_kspan(kspan_factory, nghttpd):
    """A connection opened, and its tables filled, before kspan started:
    entries kspan never saw are left out, never guessed; literal and static
    fields come through, and entries added later are known."""
    port = nghttpd.port
    spans, out, cli_pid = traced_late(kspan_factory, nghttpd.pid, H2RAW, port)
    assert out == "done"
    for kind, pid in ((SERVER, nghttpd.pid), (CLIENT, cli_pid)):
        ss = sorted(by(spans, kind, pid), key=lambda s: s["start"])
        assert [s["attrs"]["url.path"] for s in ss] == ["/r2", "/r3", "/r4"]
        r2, r3, r4 = ss
        for s in ss:
            check_h2(s, port)
            assert s["attrs"]["http.request.method"] == "GET"
            assert s["attrs"]["http.response.status_code"] == 200
        # r2 named :authority by an index from before: not known, so the
        # address is the connection's, and no url.full is made up
        assert r2["attrs"]["server.address"] == "127.0.0.1"
        assert "url.full" not in r2["attrs"]
        # r3 sent it anew, r4 named that new entry by index
        assert r3["attrs"]["server.address"] == "localhost"
        assert r4["attrs"]["server.address"] == "localhost"
        if kind == CLIENT:
            assert r4["attrs"]["url.full"] == f"http://localhost:{port}/r4"
            assert r4["name"] == "GET"
        else:
            assert r4["name"] == "GET /r4"
    # stream ids are the connection's own: the ends pair up though kspan
    # joined late
    srv = sorted(by(spans, SERVER, nghttpd.pid), key=lambda s: s["start"])
    cl = sorted(by(spans, CLIENT, cli_pid), key=lambda s: s["start"])
    for s, c in zip(srv, cl):
        assert s["parentSpanId"] == c["spanId"] and s["traceId"] == c["traceId"]


def grpc_spans(spans, kind, pid):
    return [s for s in spans if s["kind"] == kind and s["resource"]["process.pid"] == pid
            and s["attrs"].get("rpc.system") == "grpc"]


@needs_iov
def test_grpc_calls(kspan_factory, grpc_server):
    port = grpc_server.port
    cli_pid = []

    def go():
        p = subprocess.Popen([PY, "-c", GRPC_CLIENT, str(port), "basic"],
                             stdout=subprocess.PIPE, text=True)
        cli_pid.append(p.pid)
        out, _ = p.communicate(timeout=60)
        return out.strip()
    spans, out, _ = traced(kspan_factory, [grpc_server.pid], go)
    assert out == "['OK', 'UNAVAILABLE', 'NOT_FOUND', 'INTERNAL', 3, 'x|y|z', 2]"
    want = [("Say", 0), ("Say", 14), ("Say", 5), ("Say", 13), ("Stream", 0), ("Collect", 0),
            ("Chat", 0)]
    server_error = {2, 4, 12, 13, 14, 15}
    srv = sorted(grpc_spans(spans, SERVER, grpc_server.pid), key=lambda s: s["start"])
    cli = sorted(grpc_spans(spans, CLIENT, cli_pid[0]), key=lambda s: s["start"])
    assert len(srv) == len(want) and len(cli) == len(want)
    for (method, code), s, c in zip(want, srv, cli):
        for sp in (s, c):
            check_h2(sp, port)
            a = sp["attrs"]
            assert sp["name"] == f"demo.Echo/{method}"
            assert a["rpc.service"] == "demo.Echo" and a["rpc.method"] == method
            assert a["rpc.grpc.status_code"] == code
            assert a["http.request.method"] == "POST"
            assert a["url.path"] == f"/demo.Echo/{method}"
            assert a["http.response.status_code"] == 200
        assert (s.get("status", {}).get("code") == ERROR) == (code in server_error)
        assert (c.get("status", {}).get("code") == ERROR) == (code != 0)
        if code:
            assert c["attrs"]["error.type"] == str(code)
        # paired across the connection by stream id
        assert s["parentSpanId"] == c["spanId"]
        assert c["attrs"]["server.address"] == "127.0.0.1"
        assert c["attrs"]["url.full"] == f"http://127.0.0.1:{port}/demo.Echo/{method}"


@needs_iov
def test_grpc_100_concurrent(kspan_factory, grpc_server):
    port = grpc_server.port
    spans, out, _ = traced(kspan_factory, [grpc_server.pid], lambda: run(
        PY, "-c", GRPC_CLIENT, str(port), "concurrent"))
    assert out.strip() == "100"
    srv = grpc_spans(spans, SERVER, grpc_server.pid)
    cli = [s for s in grpc_spans(spans, CLIENT, s_pid(spans, CLIENT, port))]
    for ss in (srv, cli):
        assert len(ss) == 100
        # all on one connection, all open at once
        assert len({s["attrs"]["network.peer.port"] for s in ss}) == 1
        assert max(s["start"] for s in ss) < min(s["end"] for s in ss)
        for s in ss:
            check_h2(s, port)
            assert s["name"] == "demo.Echo/Slow"
            assert s["attrs"]["rpc.grpc.status_code"] == 0
    by_id = {s["spanId"]: s for s in cli}
    assert all(by_id[s["parentSpanId"]]["traceId"] == s["traceId"] for s in srv)


def s_pid(spans, kind, port):
    pids = {s["resource"]["process.pid"] for s in spans if s["kind"] == kind
            and s["attrs"].get("server.port") == port}
    assert len(pids) == 1, pids
    return pids.pop()


@needs_iov
def test_grpc_connection_before_kspan(kspan_factory, grpc_server):
    port = grpc_server.port
    spans, out, cli_pid = traced_late(kspan_factory, grpc_server.pid, GRPC_CLIENT, port)
    assert out == "hi again hi new"
    for kind, pid in ((SERVER, grpc_server.pid), (CLIENT, cli_pid)):
        ss = sorted(by(spans, kind, pid), key=lambda s: s["start"])
        assert len(ss) == 2
        again, new = ss
        for s in ss:
            check_h2(s, port)
            assert s["attrs"]["http.request.method"] == "POST"
            assert s["attrs"]["http.response.status_code"] == 200
        # Say's :path was indexed before kspan came: left out. Other's is a
        # literal. content-type and grpc-status were indexed before too:
        # nothing says gRPC, so nothing claims it.
        assert "url.path" not in again["attrs"]
        assert new["attrs"]["url.path"] == "/demo.Echo/Other"
        for s in ss:
            assert "rpc.system" not in s["attrs"]
            assert s["attrs"]["server.address"] == "127.0.0.1"
    srv = sorted(by(spans, SERVER, grpc_server.pid), key=lambda s: s["start"])
    cl = sorted(by(spans, CLIENT, cli_pid), key=lambda s: s["start"])
    for s, c in zip(srv, cl):
        assert s["parentSpanId"] == c["spanId"]
