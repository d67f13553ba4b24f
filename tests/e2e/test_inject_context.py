# SPDX-License-Identifier: Apache-2.0
"""--inject-traceparent carries the caller's context through a service: a
server request that came with traceparent + tracestate + baggage, B3 (single
or multi header) or uber-trace-id makes the request the serving thread sends
downstream continue that trace, with the server span as parent, and carry the
tracestate and baggage on as received. Checked on the bytes the downstream
server receives and on the exported spans."""
import hashlib
import os
import re
import socket
import time

import pytest

from conftest import PY, Proc, free_port

SERVER, CLIENT = 2, 3

# The traced service: each request is served by a thread of its own, which
# calls the downstream server with urllib for the same path.
MIDDLE = r"""
import sys, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, down = int(sys.argv[1]), int(sys.argv[2])
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        req = urllib.request.Request(f"http://127.0.0.1:{down}{self.path}")
        if self.path.startswith("/own-baggage"):
            req.add_header("baggage", "mine=1")
        with urllib.request.urlopen(req, timeout=10) as r:
            r.read()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""

# Not traced: keeps each request head exactly as it arrived.
DOWN = r"""
import os, socket, sys, threading
port, outdir = int(sys.argv[1]), sys.argv[2]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(64)
n = 0
def serve(c, i):
    data = b""
    while b"\r\n\r\n" not in data:
        d = c.recv(65536)
        if not d:
            break
        data += d
    if data:
        with open(os.path.join(outdir, f"{i}.tmp"), "wb") as f:
            f.write(data)
        os.rename(os.path.join(outdir, f"{i}.tmp"), os.path.join(outdir, f"{i}.bin"))
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    c.close()
while True:
    c, _ = srv.accept()
    n += 1
    threading.Thread(target=serve, args=(c, n), daemon=True).start()
"""


def ids(name):
    h = hashlib.sha256(name.encode()).hexdigest()
    return h[:32], h[32:48]


TS = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
BAG = "userId=alice,serverNode=DF%2028,isProduction=false"
LONG_TS = [f"k{i:02d}=" + "v" * 56 for i in range(10)]      # 60 bytes each
LONG_BAG = [f"key{i:02d}=" + "x" * 94 for i in range(12)]   # 100 bytes each


def w3c(name, flags="01"):
    t, s = ids(name)
    return [f"traceparent: 00-{t}-{s}-{flags}"]


def cases():
    """path -> (incoming header lines, expected trace id, caller span id,
    downstream flags, tracestate, baggage). None: header must be absent."""
    c = {}
    t, s = ids("/w3c")
    c["/w3c"] = (w3c("/w3c") + [f"tracestate: {TS}", f"baggage: {BAG}"], t, s, "01", TS, BAG)
    t, s = ids("/w3c-lines")
    c["/w3c-lines"] = (w3c("/w3c-lines") + ["tracestate:  a=1 ", "Tracestate:b=2", "baggage: k1=v1",
                                            "BAGGAGE:\tk2=v2;p=1"],
                       t, s, "01", "a=1,b=2", "k1=v1,k2=v2;p=1")
    t, s = ids("/w3c-unsampled")
    c["/w3c-unsampled"] = (w3c("/w3c-unsampled", "00") + [f"tracestate: {TS}"], t, s, "00", TS, None)
    t, s = ids("/b3")
    c["/b3"] = ([f"b3: {t}-{s}-1", f"baggage: {BAG}", "tracestate: x=1"], t, s, "01", None, BAG)
    t, s = ids("/b3-64")
    c["/b3-64"] = ([f"b3: {t[16:]}-{s}-1-{ids('p')[1]}"], "0" * 16 + t[16:], s, "01", None, None)
    t, s = ids("/b3-unsampled")
    c["/b3-unsampled"] = ([f"b3: {t}-{s}-0"], t, s, "00", None, None)
    t, s = ids("/b3multi")
    c["/b3multi"] = ([f"X-B3-TraceId: {t}", f"x-b3-spanid: {s}", "X-B3-Sampled: true",
                      f"X-B3-ParentSpanId: {ids('q')[1]}"], t, s, "01", None, None)
    t, s = ids("/jaeger")
    c["/jaeger"] = ([f"uber-trace-id: {t.upper()}:{s}:0:1"], t, s, "01", None, None)
    t, s = ids("/jaeger-short")
    # Percent-encoded, ids shorter than their full width: left-padded.
    c["/jaeger-short"] = ([f"Uber-Trace-Id: {t[20:]}%3a{s[4:]}%3A0%3A3"], "0" * 20 + t[20:],
                          "0000" + s[4:], "01", None, None)
    t, s = ids("/own-baggage")
    c["/own-baggage"] = (w3c("/own-baggage") + [f"tracestate: {TS}", f"baggage: {BAG}"],
                         t, s, "01", TS, "mine=1")
    t, s = ids("/long")
    # Over the limits: whole members are dropped from the end.
    c["/long"] = (w3c("/long") + ["tracestate: " + ",".join(LONG_TS),
                                  "baggage: " + ",".join(LONG_BAG)],
                  t, s, "01", ",".join(LONG_TS[:8]), ",".join(LONG_BAG[:10]))
    t, s = ids("/bad-bytes")
    # A control byte in one baggage line: no baggage goes on at all.
    c["/bad-bytes"] = (w3c("/bad-bytes") + [f"tracestate: {TS}", "baggage: ok=1", "baggage: a=1\x01"],
                       t, s, "01", TS, None)
    return c


@pytest.fixture
def services(tmp_path):
    down_port, mid_port = free_port(), free_port()
    out = tmp_path / "down"
    out.mkdir()
    down = Proc([PY, "-c", DOWN, str(down_port), str(out)], down_port)
    mid = Proc([PY, "-c", MIDDLE, str(mid_port), str(down_port)], mid_port)
    yield mid, mid_port, out
    mid.stop()
    down.stop()


def call(port, path, lines):
    head = (f"GET {path} HTTP/1.1\r\nHost: mid\r\n" + "".join(l + "\r\n" for l in lines) +
            "Connection: close\r\n\r\n").encode("latin-1")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        got = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    assert got.startswith(b"HTTP/1.1 200 "), got


def received(out, paths):
    """{path: head} of what the downstream server got."""
    heads = {}
    for _ in range(200):
        for f in out.glob("*.bin"):
            h = f.read_bytes().decode("latin-1")
            heads[h.split(" ", 2)[1]] = h
        if set(paths) <= set(heads):
            return heads
        time.sleep(0.05)
    raise AssertionError(f"downstream got {sorted(heads)}, not {sorted(paths)}")


def header_values(head, name):
    return [v.strip() for n, v in re.findall(r"\r\n([^:\r\n]+):([^\r\n]*)", head)
            if n.lower() == name]


def run(kspan_factory, services, want):
    mid, port, out = services
    with kspan_factory(["--pid", str(mid.p.pid), "--inject-traceparent"], linger_ms=300) as k:
        for path, (lines, *_) in want.items():
            call(port, path, lines)
        time.sleep(0.8)
        assert k.stop() == 0
    return k, received(out, want)


def test_context_and_its_members_go_downstream(kspan_factory, services):
    want = cases()
    k, heads = run(kspan_factory, services, want)
    spans = k.spans()
    for path, (lines, trace, caller, flags, ts, bag) in want.items():
        head = heads[path]
        # One traceparent, right after the request line, then the members.
        m = re.match(rf"GET {re.escape(path)} HTTP/1\.1\r\n"
                     r"traceparent: 00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\r\n", head)
        assert m, (path, head)
        assert header_values(head, "traceparent") == [m.group(0).split(": ")[1].strip()]
        assert m.group(1) == trace, path
        assert m.group(3) == flags, path
        assert header_values(head, "tracestate") == ([ts] if ts else []), path
        assert header_values(head, "baggage") == ([bag] if bag else []), path
        after = head[m.end():]
        if ts:
            assert after.startswith(f"tracestate: {ts}\r\n"), path
            after = after[len(f"tracestate: {ts}\r\n"):]
        if bag and path != "/own-baggage":
            assert after.startswith(f"baggage: {bag}\r\n"), path
            after = after[len(f"baggage: {bag}\r\n"):]
        # Then exactly what urllib wrote.
        assert re.match(r"(Accept-Encoding|Host|User-Agent|Connection|Baggage): ", after), (path, after)
        if flags == "00":
            continue        # unsampled: the parent-based sampler exports nothing
        if path == "/bad-bytes":
            # The HTTP parser refuses the head (a control byte), so there is
            # no server span; the client span is in the caller's trace.
            cli = [s for s in spans if s["kind"] == CLIENT and s["attrs"]["url.path"] == path]
            assert len(cli) == 1 and cli[0]["traceId"] == trace
            assert m.group(2) == cli[0]["spanId"]
            continue
        srv = [s for s in spans if s["kind"] == SERVER and s["attrs"]["url.path"] == path]
        assert len(srv) == 1, path
        srv = srv[0]
        assert srv["traceId"] == trace and srv["parentSpanId"] == caller, path
        cli = [s for s in spans if s["kind"] == CLIENT and s.get("parentSpanId") == srv["spanId"]]
        assert len(cli) == 1, path
        assert cli[0]["traceId"] == trace and cli[0]["attrs"]["url.path"] == path
        # The downstream request's parent is the exported client span.
        assert m.group(2) == cli[0]["spanId"], path
    sampled = [p for p, c in want.items() if c[3] == "01"]
    assert len(spans) == 2 * len(sampled) - 1
    assert k.counters()["http1.parse_errors"] == 1
    c = k.counters()
    assert c["inject.injected"] == len(want)
    assert c["inject.failed"] == 0
    assert c["inject.tracestate_capped"] == 1
    assert c["inject.baggage_capped"] == 1
    assert c["inject.props_dropped"] == 1


def test_propagators_pick_what_goes_on(kspan_factory, services, monkeypatch):
    """Without "baggage" in OTEL_PROPAGATORS no baggage goes on; tracestate
    goes with tracecontext; every header names the same ids."""
    monkeypatch.setenv("OTEL_PROPAGATORS", "tracecontext,b3")
    want = {p: c for p, c in cases().items() if p in ("/w3c", "/jaeger")}
    k, heads = run(kspan_factory, services, want)
    for path, (lines, trace, caller, flags, ts, bag) in want.items():
        head = heads[path]
        (tp,) = header_values(head, "traceparent")
        (b3,) = header_values(head, "b3")
        _, t, s, f = tp.split("-")
        assert t == trace and f == "01"
        assert b3 == f"{t}-{s}-1"
        assert header_values(head, "tracestate") == ([ts] if ts else [])
        assert header_values(head, "baggage") == []
    assert k.counters()["inject.injected"] == 2


def invalid_cases():
    """Context the userspace parsers refuse (user/tracectx.c): the kernel
    must refuse it too, so the thread's request starts a new trace."""
    t, s = ids("invalid")
    return {
        "/x-b3-upper": [f"b3: {t.upper()}-{s}-1"],
        "/x-b3-long": [f"b3: {t}abcd-{s}-1"],
        "/x-b3-short-span": [f"b3: {t}-{s[1:]}-1"],
        "/x-b3-zero": [f"b3: {'0' * 32}-{s}-1"],
        "/x-b3-state": [f"b3: {t}-{s}-x"],
        "/x-b3-twice": [f"b3: {t}-{s}-1", f"b3: {t}-{s}-1"],
        "/x-b3multi-half": [f"X-B3-TraceId: {t}"],
        "/x-b3multi-sampled": [f"X-B3-TraceId: {t}", f"X-B3-SpanId: {s}", "X-B3-Sampled: yes"],
        "/x-jaeger-3": [f"uber-trace-id: {t}:{s}:0"],
        "/x-jaeger-long": [f"uber-trace-id: {t}1:{s}:0:1"],
        "/x-jaeger-zero": [f"uber-trace-id: {t}:0:0:1"],
        "/x-jaeger-pct": [f"uber-trace-id: {t}%3A{s}%3A0%3"],
        "/x-tp-ff": [f"traceparent: ff-{t}-{s}-01"],
        "/x-tp-00-extra": [f"traceparent: 00-{t}-{s}-01-x"],
        "/x-tp-upper": [f"traceparent: 00-{t.upper()}-{s}-01"],
    }


def test_invalid_context_starts_new_trace(kspan_factory, services):
    bad = invalid_cases()
    t, s = ids("invalid")
    # Valid after all: a later traceparent version may append fields, and an
    # invalid traceparent gives way to a valid b3.
    good = {"/v-tp-01": [f"traceparent: 01-{t}-{s}-01-later"],
            "/v-tp-bad-b3": [f"traceparent: 00-{t}-{s}-1", f"b3: {t}-{s}-1"]}
    want = {p: (lines,) for p, lines in {**bad, **good}.items()}
    k, heads = run(kspan_factory, services, want)
    spans = k.spans()
    for path in want:
        (tp,) = header_values(heads[path], "traceparent")
        srv = [x for x in spans if x["kind"] == SERVER and x["attrs"]["url.path"] == path]
        assert len(srv) == 1, path
        if path in good:
            assert tp.split("-")[1] == t, path
            assert srv[0]["traceId"] == t and srv[0]["parentSpanId"] == s, path
        else:
            assert tp.split("-")[1] != t and tp.endswith("-01"), path
            assert srv[0]["traceId"] == tp.split("-")[1] and "parentSpanId" not in srv[0], path
    c = k.counters()
    assert c["inject.injected"] == len(want)
    # Userspace never found a context the kernel did not.
    assert c["inject.context_unseen"] == 0
