# SPDX-License-Identifier: Apache-2.0
"""--inject-traceparent never damages traffic: the receiver gets the bytes
that were sent plus exactly one traceparent line after each request line of
a plaintext HTTP/1.x request that carried none, and nothing else changes."""
import hashlib
import os
import re
import subprocess
import time

import pytest

from conftest import PY, Proc, free_port

CAPTURE = r"""
import os, socket, ssl, sys, threading
port, outdir, tls = int(sys.argv[1]), sys.argv[2], len(sys.argv) > 3
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port)); srv.listen(16)
if tls:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[3], sys.argv[4])
n = 0
def serve(c, i):
    if tls:
        c = ctx.wrap_socket(c, server_side=True)
    data = b""
    while True:
        d = c.recv(65536)
        if not d:
            break
        data += d
    with open(os.path.join(outdir, f"{i}.tmp"), "wb") as f:
        f.write(data)
    os.rename(os.path.join(outdir, f"{i}.tmp"), os.path.join(outdir, f"{i}.bin"))
    c.close()
while True:
    c, _ = srv.accept()
    n += 1
    threading.Thread(target=serve, args=(c, n), daemon=True).start()
"""

SENDER = r"""
import socket, ssl, sys, time
port, tls = int(sys.argv[1]), sys.argv[2] == "tls"
parts = [open(p, "rb").read() for p in sys.argv[3:]]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
if tls:
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(s)
for p in parts:
    s.sendall(p)
    time.sleep(0.05)  # separate writes
s.shutdown(socket.SHUT_WR) if not tls else s.unwrap().shutdown(socket.SHUT_WR)
s.settimeout(10)
try:
    while s.recv(65536):
        pass
except OSError:
    pass
"""

TP = re.compile(rb"traceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]\r\n")


@pytest.fixture
def capture(tmp_path):
    port = free_port()
    out = tmp_path / "got"
    out.mkdir()
    srv = Proc([PY, "-c", CAPTURE, str(port), str(out)], port)
    yield port, out
    srv.stop()


def send(port, parts, tmp_path, tls=False):
    files = []
    for i, p in enumerate(parts):
        f = tmp_path / f"part-{time.monotonic_ns()}-{i}"
        f.write_bytes(p)
        files.append(str(f))
    subprocess.run([PY, "-c", SENDER, str(port), "tls" if tls else "plain", *files],
                   check=True, timeout=60)


def received(out, n):
    for _ in range(200):
        # Empty captures are the readiness probe's connections.
        files = [f for f in sorted(out.glob("*.bin"), key=lambda p: int(p.stem))
                 if f.stat().st_size]
        if len(files) >= n:
            return [f.read_bytes() for f in files]
        time.sleep(0.05)
    raise AssertionError("capture server got too few connections")


def check_injected(sent, got, requests):
    """got is sent plus one traceparent line after each request line."""
    assert len(TP.findall(got)) == requests
    stripped = TP.sub(b"", got)
    assert stripped == sent
    for m in TP.finditer(got):
        # Right after a request line.
        before = got[max(0, m.start() - 200):m.start()]
        assert re.search(rb"(GET|POST|PUT|DELETE|HEAD) /\S* HTTP/1\.[01]\r\n$", before), before


def test_injection_is_safe(kspan_factory, capture, tmp_path):
    port, out = capture
    body = os.urandom(1 << 20)
    post = (b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
    get = b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n"
    cases = [
        # (parts written, requests that must get a header)
        ([b"GET /split HTTP/1.1\r\nHost: x\r\n", b"X-A: 1\r\n\r\n"], 1),
        ([b"GET /p1 HTTP/1.1\r\n\r\nGET /p2 HTTP/1.1\r\nHost: y\r\n\r\nGET /p3 HTTP/1.1\r\n\r\n"], 3),
        ([b"GET /has HTTP/1.1\r\nTraceParent: 00-4bf92f3577b34da6a3ce929d0e0e4736-"
          b"00f067aa0ba902b7-01\r\n\r\n", get], 1),
        ([post + body[:100000], body[100000:700000], body[700000:] + get], 2),
        ([os.urandom(5000), b"GET /not-at-a-boundary HTTP/1.1\r\n\r\n"], 0),
    ]
    with kspan_factory(["--pid", str(os.getpid()), "--inject-traceparent"]) as k:
        for parts, _ in cases:
            send(port, parts, tmp_path)
        time.sleep(0.5)
        assert k.stop() == 0
    got = received(out, len(cases))
    for (parts, n), g in zip(cases, got):
        check_injected(b"".join(parts), g, n)
    # The body arrived byte for byte.
    big = TP.sub(b"", got[3])
    start = big.index(b"\r\n\r\n") + 4
    assert hashlib.sha256(big[start:start + len(body)]).digest() == hashlib.sha256(body).digest()
    c = k.counters()
    assert c["inject.injected"] == 1 + 3 + 1 + 2
    assert c["inject.skipped"] == 1
    assert c["inject.failed"] == 0


def test_tls_is_never_touched(kspan_factory, tmp_path):
    key, crt = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(crt), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    port = free_port()
    out = tmp_path / "got"
    out.mkdir()
    srv = Proc([PY, "-c", CAPTURE, str(port), str(out), str(crt), str(key)], port)
    req = b"GET /secret HTTP/1.1\r\nHost: x\r\n\r\n"
    try:
        with kspan_factory(["--pid", str(os.getpid()), "--inject-traceparent"]) as k:
            send(port, [req, req], tmp_path, tls=True)
            time.sleep(0.5)
            assert k.stop() == 0
        (got,) = received(out, 1)
    finally:
        srv.stop()
    assert got == req + req
    assert k.counters()["inject.injected"] == 0


def test_propagators_choose_the_headers(kspan_factory, capture, tmp_path, monkeypatch):
    port, out = capture
    monkeypatch.setenv("OTEL_PROPAGATORS", "b3,b3multi,jaeger")
    req = b"GET /formats HTTP/1.1\r\nHost: x\r\n\r\n"
    with kspan_factory(["--pid", str(os.getpid()), "--inject-traceparent"]) as k:
        send(port, [req], tmp_path)
        time.sleep(0.5)
        assert k.stop() == 0
    (got,) = received(out, 1)
    m = re.fullmatch(
        rb"GET /formats HTTP/1\.1\r\n"
        rb"b3: (?P<t1>[0-9a-f]{32})-(?P<s1>[0-9a-f]{16})-1\r\n"
        rb"X-B3-TraceId: (?P<t2>[0-9a-f]{32})\r\nX-B3-SpanId: (?P<s2>[0-9a-f]{16})\r\n"
        rb"X-B3-Sampled: 1\r\n"
        rb"uber-trace-id: (?P<t3>[0-9a-f]{32}):(?P<s3>[0-9a-f]{16}):0:01\r\n"
        rb"Host: x\r\n\r\n", got)
    assert m, got
    assert m["t1"] == m["t2"] == m["t3"] and m["s1"] == m["s2"] == m["s3"]
    assert b"traceparent" not in got
