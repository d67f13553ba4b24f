# SPDX-License-Identifier: Apache-2.0
"""HTTP/1.x spans from real servers and clients on loopback."""
import json
import os
import signal
import socket
import subprocess
import time

from conftest import PY, SERVERS, free_port

SERVER, CLIENT = 2, 3


def curl(*args):
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                           "--max-time", "10", *args],
                          check=True, capture_output=True, text=True).stdout


def by_kind(spans, kind, pid=None):
    return [s for s in spans if s["kind"] == kind
            and (pid is None or s["resource"]["process.pid"] == pid)]


def check_common(s):
    assert len(s["traceId"]) == 32 and int(s["traceId"], 16) != 0
    assert len(s["spanId"]) == 16 and int(s["spanId"], 16) != 0
    assert 0 < s["start"] <= s["end"]
    assert s["end"] - s["start"] < 10 * 10**9
    assert abs(s["start"] / 1e9 - time.time()) < 300
    a = s["attrs"]
    assert a["network.transport"] == "tcp"
    assert a["network.peer.address"] == "127.0.0.1"
    assert a["url.scheme"] == "http"


import pytest


# The capture paths this kernel can run: the one kspan chooses (socket
# layer), the syscall path with the socket tracepoints naming the socket, and
# the fd-table walk every kernel falls back to. They must yield the same spans.
@pytest.mark.parametrize("hook", [[], ["--capture", "syscall"], ["--sock-hook", "fdwalk"]],
                         ids=["chosen", "syscall", "fdwalk"])
def test_python_http_server_curl(kspan_factory, http_server, hook):
    paths = ["/", "/servers.py?x=1&y=2", "/missing/12345", "/"]
    with kspan_factory(["--pid", str(http_server.pid), *hook]) as k:
        codes = [curl(f"http://127.0.0.1:{http_server.port}{p}") for p in paths]
        time.sleep(0.5)
        assert k.stop() == 0
    assert codes == ["200", "200", "404", "200"]
    spans = k.spans()
    # Only the traced server: curl is not in the filter.
    assert len(spans) == len(paths)
    assert all(s["kind"] == SERVER for s in spans)
    spans.sort(key=lambda s: s["start"])
    for s, p, code in zip(spans, paths, codes):
        check_common(s)
        a = s["attrs"]
        path, _, query = p.partition("?")
        assert a["http.request.method"] == "GET"
        assert a["url.path"] == path
        # Query values are redacted unless allowed (--query-allow).
        assert a.get("url.query", "") == "&".join(
            kv.split("=")[0] + "=REDACTED" for kv in query.split("&") if kv)
        assert a["http.response.status_code"] == int(code)
        assert a["server.port"] == http_server.port
        assert a["client.address"] == "127.0.0.1"
        assert 1024 <= a["client.port"] <= 65535
        assert a["client.port"] == a["network.peer.port"]
        assert a["network.protocol.version"] == "1.1"
        assert s["resource"]["process.pid"] == http_server.pid
        assert "status" not in s  # 4xx is not an error on a server
    assert spans[2]["name"] == "GET /missing/{id}"
    assert spans[0]["name"] == "GET /"
    # Requests were sequential: spans do not overlap and are in order.
    for a, b in zip(spans, spans[1:]):
        assert a["end"] <= b["start"]
    c = k.counters()
    assert c["bpf.ringbuf_drops"] == 0
    assert c["http1.spans"] == len(paths)


HALF_CLOSE = r"""
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /servers.py HTTP/1.0\r\nHost: kspan\r\n\r\n")
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
s.close()
print(data.split(b" ")[1].decode(), len(data))
"""


def test_half_closed_client(kspan_factory, http_server):
    """A client that shuts down its sending side after the request goes on
    reading the response: only closing both ways ends the connection, so
    both spans are whole."""
    with kspan_factory(["--pid", str(http_server.pid), "--pid", str(os.getpid())]) as k:
        c = subprocess.run([PY, "-c", HALF_CLOSE, str(http_server.port)],
                           capture_output=True, text=True, timeout=30)
        time.sleep(0.5)
        assert k.stop() == 0
    status, size = c.stdout.split()
    assert status == "200" and int(size) > 1000
    spans = k.spans()
    srv = by_kind(spans, SERVER, http_server.pid)
    cli = by_kind(spans, CLIENT)
    assert len(srv) == 1 and len(cli) == 1
    for s in srv + cli:
        assert s["attrs"]["url.path"] == "/servers.py"
        assert s["attrs"]["http.response.status_code"] == 200
    assert cli[0]["attrs"]["http.response.body.size"] == os.path.getsize(SERVERS)
    assert cli[0]["start"] <= srv[0]["start"] <= srv[0]["end"] <= cli[0]["end"]
    assert k.counters()["http1.spans"] == 2


def test_threaded_server_keepalive_and_pipelining(kspan_factory, threaded_server):
    port = threaded_server.port
    ka_paths = ["/users/1", "/users/2?full=1", "/status/500", "POST /items", "/chunked"]
    pipe_paths = ["/p/1", "/p/2", "/status/404"]
    with kspan_factory(["--pid", str(threaded_server.pid), "--pid", str(os.getpid())]) as k:
        ka = subprocess.Popen([PY, str(SERVERS), "keepalive", str(port), *ka_paths],
                              stdout=subprocess.PIPE, text=True)
        # The client is a child of this test process, so the filter follows it.
        ka_out, _ = ka.communicate(timeout=30)
        pp = subprocess.Popen([PY, str(SERVERS), "pipelined", str(port), *pipe_paths],
                              stdout=subprocess.PIPE, text=True)
        pp_out, _ = pp.communicate(timeout=30)
        time.sleep(0.5)
        assert k.stop() == 0
    assert json.loads(ka_out) == [200, 200, 500, 201, 200]
    assert json.loads(pp_out) == [200, 200, 404]
    spans = k.spans()
    # Pipelined requests share their start (one write, or one read): their
    # responses, and so their ends, come in order.
    order = lambda s: (s["start"], s["end"])  # noqa: E731
    server = sorted(by_kind(spans, SERVER, threaded_server.pid), key=order)
    ka_client = sorted(by_kind(spans, CLIENT, ka.pid), key=order)
    pp_client = sorted(by_kind(spans, CLIENT, pp.pid), key=order)
    assert len(server) == len(ka_paths) + len(pipe_paths)
    assert len(ka_client) == len(ka_paths)
    assert len(pp_client) == len(pipe_paths)

    expect = [("GET", "/users/1", 200), ("GET", "/users/2", 200), ("GET", "/status/500", 500),
              ("POST", "/items", 201), ("GET", "/chunked", 200)]
    ka_server = [s for s in server if s["attrs"]["client.port"] == ka_client[0]["attrs"]["network.peer.port"] or False]
    # All keep-alive requests share one client connection.
    ports = {s["attrs"]["network.peer.port"] for s in ka_client}
    assert len(ports) == 1 and ports == {port}
    local_ports = {s["attrs"]["client.port"] for s in server[:len(ka_paths)]}
    assert len(local_ports) == 1
    for srv, cli, (method, path, status) in zip(server, ka_client, expect):
        for s in (srv, cli):
            check_common(s)
            a = s["attrs"]
            assert a["http.request.method"] == method
            assert a["url.path"] == path
            assert a["http.response.status_code"] == status
            assert a["network.protocol.version"] == "1.1"
        # The server's span lies inside the client's.
        assert cli["start"] <= srv["start"] <= srv["end"] <= cli["end"]
        assert cli["attrs"]["server.port"] == port
        assert srv["attrs"]["server.port"] == port
        assert cli["name"] == method
        assert srv["resource"]["process.pid"] == threaded_server.pid
    assert server[0]["name"] == "GET /users/{id}"
    assert ka_server is not None
    # Status rules: 5xx is an error on both sides, 4xx only on clients.
    assert server[2]["status"]["code"] == 2 and ka_client[2]["status"]["code"] == 2
    assert "status" not in server[0]
    # Sizes: the POST body (300 bytes) echoed back, the chunked body decoded.
    assert server[3]["attrs"]["http.request.body.size"] == 300
    assert ka_client[3]["attrs"]["http.response.body.size"] == 300
    assert ka_client[4]["attrs"]["http.response.body.size"] == len(
        b"a chunked body spread over several chunks\n")
    # Pipelined: three requests in one write, three spans, in order.
    pserver = server[len(ka_paths):]
    for srv, cli, path in zip(pserver, pp_client, pipe_paths):
        assert srv["attrs"]["url.path"] == cli["attrs"]["url.path"] == path
    assert [s["attrs"]["http.response.status_code"] for s in pp_client] == [200, 200, 404]
    assert pp_client[2]["status"]["code"] == 2  # a client's 404 is an error
    assert "status" not in pserver[2]
    assert len({s["start"] for s in pp_client}) == 1  # one write carried all three


def test_nginx_and_curl_without_pid_filter(kspan_factory, nginx):
    base = f"http://127.0.0.1:{nginx.port}"
    cases = [
        (["-X", "GET", f"{base}/index.html"], "GET", "/index.html", 200),
        (["--head", f"{base}/index.html"], "HEAD", "/index.html", 200),
        (["-X", "GET", f"{base}/big.bin"], "GET", "/big.bin", 200),
        (["-X", "GET", f"{base}/fail/now"], "GET", "/fail/now", 503),
        (["-X", "GET", f"{base}/nothing-here"], "GET", "/nothing-here", 404),
    ]
    pids = []
    with kspan_factory() as k:
        for args, *_ in cases:
            p = subprocess.Popen(["curl", "-sS", "-o", "/dev/null", "--max-time", "10", *args])
            pids.append(p.pid)
            p.wait(timeout=20)
        time.sleep(0.7)
        assert k.stop() == 0
    spans = k.spans()
    nginx_spans = sorted([s for s in spans if s["kind"] == SERVER
                          and s["attrs"]["server.port"] == nginx.port],
                         key=lambda s: s["start"])
    assert len(nginx_spans) == len(cases)
    for s, pid, (_, method, path, status) in zip(nginx_spans, pids, cases):
        check_common(s)
        assert s["resource"]["process.executable.name"] == "nginx"
        # The worker, a child of the master we started, served it.
        assert s["resource"]["process.pid"] != nginx.pid
        assert s["attrs"]["http.request.method"] == method
        assert s["attrs"]["url.path"] == path
        assert s["attrs"]["http.response.status_code"] == status
        client = by_kind(spans, CLIENT, pid)
        assert len(client) == 1, f"curl {pid}: {client}"
        c = client[0]
        check_common(c)
        assert c["resource"]["process.executable.name"] == "curl"
        assert c["attrs"]["http.request.method"] == method
        assert c["attrs"]["url.path"] == path
        assert c["attrs"]["http.response.status_code"] == status
        assert c["attrs"]["server.port"] == nginx.port
        assert c["attrs"]["network.peer.port"] == nginx.port
        assert c["attrs"]["url.full"] == f"{base}{path}"
        assert "url.full" not in s["attrs"]
        assert s["attrs"]["client.port"] == c["attrs"]["network.peer.port"] or \
            s["attrs"]["network.peer.port"] != nginx.port
        assert c["start"] <= s["start"] <= s["end"] <= c["end"]
    big = nginx_spans[2]
    assert big["attrs"]["http.response.body.size"] == 200_000
    assert "http.response.body.size" not in nginx_spans[1]["attrs"] or \
        nginx_spans[1]["attrs"]["http.response.body.size"] == 0
    assert nginx_spans[3]["status"]["code"] == 2
    assert "status" not in nginx_spans[4]
    # kspan never traces itself.
    assert all(s["resource"]["process.pid"] != k.proc.pid for s in spans)


GARBAGE_CLIENT = r"""
import os, socket, sys
port, echo_port = int(sys.argv[1]), int(sys.argv[2])
def talk(data, read=True, p=None):
    s = socket.create_connection(("127.0.0.1", p or port), timeout=5)
    s.sendall(data)
    if read:
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
    s.close()
# Binary noise, a TLS ClientHello and a half request to the echo server.
talk(os.urandom(3000), p=echo_port)
talk(bytes.fromhex("160301020001") + os.urandom(500), p=echo_port)
talk(b"GET /never-finished HTTP/1.1\r\nHost: x\r\nX-Partial: ", read=False)
# A request whose head is 64 KiB: too large to see, nothing invented.
talk(b"GET /huge HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 65536 + b"\r\nConnection: close\r\n\r\n")
# Then one ordinary request, which must still be traced.
talk(b"GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
"""

ECHO_SERVER = r"""
import socket, sys, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen(16)
def serve(c):
    try:
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
    finally:
        c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def test_garbage_and_oversized_input(kspan_factory, threaded_server, tmp_path):
    from conftest import Proc
    echo_port = free_port()
    echo = Proc([PY, "-c", ECHO_SERVER, str(echo_port)], echo_port)
    try:
        with kspan_factory(["--pid", str(threaded_server.pid), "--pid", str(echo.pid),
                            "--pid", str(os.getpid())]) as k:
            subprocess.run([PY, "-c", GARBAGE_CLIENT, str(threaded_server.port), str(echo_port)],
                           check=True, timeout=60)
            time.sleep(0.5)
            assert k.stop() == 0
    finally:
        echo.stop()
    spans = k.spans()
    paths = sorted((s["kind"], s["attrs"]["url.path"]) for s in spans)
    # Only the complete request made spans (server and client side).
    assert paths == [(SERVER, "/after"), (CLIENT, "/after")], paths
    c = k.counters()
    assert c["http1.head_too_large"] >= 1
    assert c["events.not_http_events"] >= 2
    assert c["events.bad_records"] == 0


def test_sigterm_flushes_waiting_spans(kspan_factory, threaded_server):
    # A linger longer than the test: only the shutdown flush can export.
    with kspan_factory(["--pid", str(threaded_server.pid)], linger_ms=600000) as k:
        for i in range(3):
            curl(f"http://127.0.0.1:{threaded_server.port}/s/{i}")
        time.sleep(0.5)
        assert k.stop(signal.SIGTERM) == 0
    assert sorted(s["attrs"]["url.path"] for s in k.spans()) == ["/s/0", "/s/1", "/s/2"]


def test_duration_stops_by_itself(tmp_path, threaded_server):
    from conftest import KSPAN
    out = tmp_path / "d.jsonl"
    t = time.time()
    r = subprocess.run([str(KSPAN), "--pid", str(threaded_server.pid), "-e", "otlp-json",
                        "-o", str(out), "--duration", "2"], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert 1.5 < time.time() - t < 15


PREEXISTING_CLIENT = r"""
import http.client, sys
port = int(sys.argv[1])
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for p in ("/before/1", "/before/2"):
    conn.request("GET", p); conn.getresponse().read()
print("ready", flush=True)
sys.stdin.readline()
for p in ("/after/1", "/status/404", "/after/3"):
    conn.request("GET", p); conn.getresponse().read()
conn.close()
"""


def test_connection_opened_before_kspan(kspan_factory, threaded_server):
    client = subprocess.Popen([PY, "-c", PREEXISTING_CLIENT, str(threaded_server.port)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdout.readline().strip() == "ready"
        with kspan_factory(["--pid", str(threaded_server.pid), "--pid", str(client.pid)]) as k:
            client.stdin.write("go\n")
            client.stdin.flush()
            assert client.wait(timeout=30) == 0
            time.sleep(0.5)
            assert k.stop() == 0
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    spans = k.spans()
    want = ["/after/1", "/status/404", "/after/3"]
    for kind, pid in ((SERVER, threaded_server.pid), (CLIENT, client.pid)):
        got = sorted(by_kind(spans, kind, pid), key=lambda s: s["start"])
        # Roles come from who sent the request: connect/accept were not seen.
        assert [s["attrs"]["url.path"] for s in got] == want
        assert [s["attrs"]["http.response.status_code"] for s in got] == [200, 404, 200]
        for s in got:
            check_common(s)
    assert len(spans) == 6


def test_query_and_userinfo_redaction(kspan_factory, threaded_server, tmp_path):
    port = threaded_server.port
    raw = (f"GET http://alice:hunter2@127.0.0.1:{port}/login?page=2&user=bob&sig=s3cr3t"
           f"&token=t0k HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
    client = f"""
import socket
s = socket.create_connection(("127.0.0.1", {port}), timeout=10)
s.sendall({raw.encode()!r})
while s.recv(65536):
    pass
"""
    with kspan_factory(["--pid", str(threaded_server.pid), "--pid", str(os.getpid()),
                        "--query-allow", "page,sig"], linger_ms=200) as k:
        subprocess.run([PY, "-c", client], check=True, timeout=30)
        time.sleep(0.5)
        assert k.stop() == 0
    spans = k.spans()
    assert len(spans) == 2
    for s in spans:
        assert s["attrs"]["url.query"] == "page=2&user=REDACTED&sig=REDACTED&token=REDACTED"
    cli = next(s for s in spans if s["kind"] == CLIENT)
    assert cli["attrs"]["url.full"] == (f"http://REDACTED:REDACTED@127.0.0.1:{port}/login"
                                        "?page=2&user=REDACTED&sig=REDACTED&token=REDACTED")
    out = k.out.read_text() + k.stderr
    for secret in ("hunter2", "alice", "s3cr3t", "t0k", "bob"):
        assert secret not in out
