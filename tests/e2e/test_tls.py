# SPDX-License-Identifier: Apache-2.0
"""HTTPS through the TLS uprobes: real TLS servers and clients (OpenSSL in
libssl, the OpenSSL that node carries, GnuTLS) on loopback, certificates made
at test time. Every span must have the fields of its plaintext twin, with
url.scheme https, and the ciphertext under it must never reach the HTTP
parsers (no span, no not-HTTP counter)."""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from conftest import PY, Proc, free_port, nginx_https, wait_port

SERVER, CLIENT = 2, 3


# A threaded HTTPS/1.1 keep-alive server: /missing/... answers 404, POST
# echoes its body, everything else says hello.
TLS_SERVER = r"""
import http.server, ssl, sys
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.reply(404 if self.path.startswith("/missing") else 200, b"hello over tls\n")
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        self.reply(201, self.rfile.read(n))
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
"""

# urllib: a new connection per request. Prints the status codes. With
# --wait, it first gives kspan the second it may take to probe a library
# file that no traced process had mapped before.
URLLIB_CLIENT = r"""
import json, ssl, sys, time, urllib.error, urllib.request
if sys.argv[1] == "--wait":
    time.sleep(1.2)
    del sys.argv[1]
port, paths = int(sys.argv[1]), sys.argv[2:]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
codes = []
for p in paths:
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}{p}", context=ctx, timeout=10) as r:
            r.read()
            codes.append(r.status)
    except urllib.error.HTTPError as e:
        codes.append(e.code)
print(json.dumps(codes))
"""

# http.client on one keep-alive connection. Each line on stdin is a path
# (or "POST /path"), answered on stdout with the status; EOF ends it. The
# connection stays open between lines, across kspan restarts.
KEEPALIVE_CLIENT = r"""
import http.client, ssl, sys
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
for line in sys.stdin:
    parts = line.split()
    if not parts:
        continue
    method, path = (parts[0], parts[1]) if len(parts) == 2 else ("GET", parts[0])
    body = b"x" * 300 if method == "POST" else None
    c.request(method, path, body=body)
    r = c.getresponse()
    r.read()
    print(r.status, flush=True)
"""

NODE_SERVER = r"""
const https = require('https'), fs = require('fs');
const [port, cert, key] = [+process.argv[2], process.argv[3], process.argv[4]];
https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(req.url.startsWith('/missing') ? 404 : 200, { 'Content-Type': 'text/plain' });
    res.end('hello from node\n');
  });
}).listen(port, '127.0.0.1');
"""

# One keep-alive connection for every request, in order.
NODE_CLIENT = r"""
const https = require('https');
const port = +process.argv[2], paths = process.argv.slice(3);
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
(async () => {
  const codes = [];
  for (const p of paths) {
    codes.push(await new Promise((ok, bad) => {
      https.get({ host: '127.0.0.1', port, path: p, agent, rejectUnauthorized: false }, (r) => {
        r.resume();
        r.on('end', () => ok(r.statusCode));
      }).on('error', bad);
    }));
  }
  agent.destroy();
  console.log(JSON.stringify(codes));
})();
"""


@pytest.fixture
def tls_server(tmp_path, certs):
    port = free_port()
    script = tmp_path / "tls_server.py"
    script.write_text(TLS_SERVER)
    srv = Proc([PY, str(script), str(port), str(certs[0]), str(certs[1])], port)
    yield srv
    srv.stop()


def run_script(tmp_path, name, source, *args, interp=PY):
    script = tmp_path / name
    script.write_text(source)
    p = subprocess.run([interp, str(script), *map(str, args)], capture_output=True,
                       text=True, timeout=60, check=True)
    return p


def by_kind(spans, kind, pid=None):
    out = [s for s in spans if s["kind"] == kind
           and (pid is None or s["resource"]["process.pid"] == pid)]
    return sorted(out, key=lambda s: s["start"])


def check_span(s, kind, method, path, status, port, version="1.3"):
    """The fields every HTTP/1.1 span has, over TLS."""
    assert s["kind"] == kind
    assert len(s["traceId"]) == 32 and int(s["traceId"], 16) != 0
    assert len(s["spanId"]) == 16 and int(s["spanId"], 16) != 0
    assert 0 < s["start"] <= s["end"]
    assert s["end"] - s["start"] < 10 * 10**9
    a = s["attrs"]
    assert a["http.request.method"] == method
    assert a["url.path"] == path
    assert a["url.scheme"] == "https"
    assert a["http.response.status_code"] == status
    assert a["network.protocol.version"] == "1.1"
    assert a["network.transport"] == "tcp"
    assert a["network.peer.address"] == "127.0.0.1"
    assert a.get("tls.protocol.version") == version
    if kind == SERVER:
        assert a["server.port"] == port
        assert a["client.address"] == "127.0.0.1"
        assert 1024 <= a["client.port"] <= 65535
        assert a["client.port"] == a["network.peer.port"]
        assert s["name"].startswith(method + " /")
        assert "status" not in s or status >= 500
    else:
        assert a["server.port"] == port
        assert a["network.peer.port"] == port
        assert a["url.full"].startswith(f"https://127.0.0.1:{port}{path}")
        assert s["name"] == method
        if status >= 400:
            assert s["status"]["code"] == 2


def check_no_ciphertext(k):
    """TLS records seen by the syscall hooks were dropped in the kernel: no
    span, no not-HTTP counter, and the plaintext came from the uprobes."""
    c = k.counters()
    assert c["tls.cipher_skipped"] > 0
    assert c["tls.plaintext_events"] > 0
    assert c["events.not_http_conns"] == 0
    assert c["events.not_http_events"] == 0
    assert c["events.not_http_bytes"] == 0
    assert c["events.bad_records"] == 0
    assert c["http1.parse_errors"] == 0
    assert c["bpf.ringbuf_drops"] == 0
    return c


def check_pairs(servers, clients):
    """Both ends on this host: each server span is its client span's child,
    inside it."""
    assert len(servers) == len(clients)
    for srv, cli in zip(servers, clients):
        assert srv["traceId"] == cli["traceId"]
        assert srv.get("parentSpanId") == cli["spanId"]
        assert cli["start"] <= srv["start"] <= srv["end"] <= cli["end"]


@pytest.fixture
def nginx_tls(tmp_path, certs):
    srv = nginx_https(tmp_path, certs, "ssl", "TLSv1.2")
    yield srv
    srv.stop()


def curl(*args):
    return subprocess.run(["curl", "-sSk", "-o", "/dev/null", "-w", "%{http_code}",
                           "--max-time", "10", *args],
                          check=True, capture_output=True, text=True).stdout


def test_curl_nginx(kspan_factory, nginx_tls):
    port = nginx_tls.port
    reqs = [("/", 200), ("/users/7", 200), ("/missing/1", 404), ("/fail/2", 503)]
    with kspan_factory(["--pid", str(nginx_tls.pid), "--pid", str(os.getpid())]) as k:
        codes = [int(curl(f"https://127.0.0.1:{port}{p}")) for p, _ in reqs]
        time.sleep(0.5)
        assert k.stop() == 0
    assert codes == [c for _, c in reqs]
    spans = k.spans()
    servers = by_kind(spans, SERVER)
    clients = by_kind(spans, CLIENT)
    assert len(servers) == len(reqs) and len(clients) == len(reqs)
    for s, c, (path, code) in zip(servers, clients, reqs):
        # TLS 1.2 here: the version comes from the ServerHello's legacy
        # field, with no supported_versions extension.
        check_span(s, SERVER, "GET", path, code, port, version="1.2")
        check_span(c, CLIENT, "GET", path, code, port, version="1.2")
        # nginx answers from its worker, a child of the traced master.
        assert s["resource"]["process.pid"] != nginx_tls.pid
        assert c["resource"]["process.executable.name"] == "curl"
    assert servers[0]["name"] == "GET /"
    assert servers[1]["name"] == "GET /users/{id}"
    assert servers[3]["status"]["code"] == 2
    check_pairs(servers, clients)
    c = check_no_ciphertext(k)
    assert c["http1.spans"] == 2 * len(reqs)


def test_handshake_duration(kspan_factory, nginx_tls):
    """curl (SSL_connect) and nginx (SSL_do_handshake, non-blocking): the
    handshake's duration on the spans of the request that opened each
    connection, never on the requests after it on the same connection."""
    port = nginx_tls.port
    base = f"https://127.0.0.1:{port}"
    with kspan_factory(["--pid", str(nginx_tls.pid), "--pid", str(os.getpid())]) as k:
        t0 = time.time_ns()
        # Two requests on one connection, then one on a connection of its own.
        first = curl(f"{base}/", "-o", "/dev/null", f"{base}/users/7")
        second = curl(f"{base}/missing/1")
        t1 = time.time_ns()
        time.sleep(0.5)
        assert k.stop() == 0
    assert (first, second) == ("200200", "404")
    spans = k.spans()
    servers, clients = by_kind(spans, SERVER), by_kind(spans, CLIENT)
    assert [s["attrs"]["url.path"] for s in servers] == ["/", "/users/7", "/missing/1"]
    assert [c["attrs"]["url.path"] for c in clients] == ["/", "/users/7", "/missing/1"]
    ports = [s["attrs"]["client.port"] for s in servers]
    assert ports[0] == ports[1] != ports[2]
    for side in (servers, clients):
        for i in (0, 2):
            hs = side[i]["attrs"]["kspan.tls.handshake_us"]
            # Measured while curl ran: within the test's own bounds.
            assert 0 < hs * 1000 < t1 - t0
        assert "kspan.tls.handshake_us" not in side[1]["attrs"]
    check_pairs(servers, clients)
    c = check_no_ciphertext(k)
    # curl's and nginx's, for each of the two connections.
    assert c["tls.handshakes"] == 4


def test_python_urllib(kspan_factory, tls_server, tmp_path):
    paths = ["/a/1", "/b?q=1", "/missing/3"]
    with kspan_factory(["--pid", str(tls_server.pid), "--pid", str(os.getpid())]) as k:
        out = run_script(tmp_path, "urllib_client.py", URLLIB_CLIENT, tls_server.port, *paths)
        time.sleep(0.5)
        assert k.stop() == 0
    assert json.loads(out.stdout) == [200, 200, 404]
    spans = k.spans()
    servers = by_kind(spans, SERVER, tls_server.pid)
    clients = by_kind(spans, CLIENT)
    assert len(servers) == len(paths) and len(clients) == len(paths)
    for s, c, p, code in zip(servers, clients, paths, [200, 200, 404]):
        path, _, query = p.partition("?")
        check_span(s, SERVER, "GET", path, code, tls_server.port)
        check_span(c, CLIENT, "GET", path, code, tls_server.port)
        if query:
            assert s["attrs"]["url.query"] == "q=REDACTED"
        # A connection per request, each with its handshake (blocking
        # SSL_do_handshake on both sides).
        assert s["attrs"]["kspan.tls.handshake_us"] > 0
        assert c["attrs"]["kspan.tls.handshake_us"] > 0
    # urllib opens a connection per request.
    assert len({c["attrs"]["network.peer.port"] for c in clients}) == 1
    assert len({s["attrs"]["client.port"] for s in servers}) == len(paths)
    check_pairs(servers, clients)
    check_no_ciphertext(k)


def keepalive_client(tmp_path, port):
    script = tmp_path / "ka_client.py"
    script.write_text(KEEPALIVE_CLIENT)
    return subprocess.Popen([PY, str(script), str(port)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def ask(cli, line):
    cli.stdin.write(line + "\n")
    cli.stdin.flush()
    return int(cli.stdout.readline())


def test_keepalive(kspan_factory, tls_server, tmp_path):
    reqs = [("GET", "/k/1", 200), ("POST", "/items", 201), ("GET", "/missing/2", 404),
            ("GET", "/k/3", 200)]
    with kspan_factory(["--pid", str(tls_server.pid), "--pid", str(os.getpid())]) as k:
        cli = keepalive_client(tmp_path, tls_server.port)
        codes = [ask(cli, f"{m} {p}") for m, p, _ in reqs]
        cli.stdin.close()
        cli.wait(timeout=10)
        time.sleep(0.5)
        assert k.stop() == 0
    assert codes == [c for _, _, c in reqs]
    spans = k.spans()
    servers = by_kind(spans, SERVER, tls_server.pid)
    clients = by_kind(spans, CLIENT, cli.pid)
    assert len(servers) == len(reqs) and len(clients) == len(reqs)
    for s, c, (m, p, code) in zip(servers, clients, reqs):
        check_span(s, SERVER, m, p, code, tls_server.port)
        check_span(c, CLIENT, m, p, code, tls_server.port)
    # One connection for all of them.
    assert len({s["attrs"]["client.port"] for s in servers}) == 1
    assert servers[1]["attrs"]["http.request.body.size"] == 300
    assert clients[1]["attrs"]["http.response.body.size"] == 300
    for a, b in zip(servers, servers[1:]):
        assert a["end"] <= b["start"]
    check_pairs(servers, clients)
    check_no_ciphertext(k)


def test_node_https(kspan_factory, certs, tmp_path):
    """node carries its own OpenSSL, exported from the binary, and encrypts
    into memory: the socket comes from the read that preceded SSL_read."""
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.skip("node is not installed (make deps)")
    port = free_port()
    script = tmp_path / "node_server.js"
    script.write_text(NODE_SERVER)
    srv = Proc([node, str(script), str(port), str(certs[0]), str(certs[1])], port)
    paths = ["/n/1", "/n/2?x=1", "/missing/3"]
    try:
        with kspan_factory(["--pid", str(srv.pid), "--pid", str(os.getpid())]) as k:
            out = run_script(tmp_path, "node_client.js", NODE_CLIENT, port, *paths,
                             interp=node)
            time.sleep(0.5)
            assert k.stop() == 0
    finally:
        srv.stop()
    assert json.loads(out.stdout) == [200, 200, 404]
    spans = k.spans()
    servers = by_kind(spans, SERVER, srv.pid)
    clients = by_kind(spans, CLIENT)
    assert len(servers) == len(paths) and len(clients) == len(paths)
    for s, c, p, code in zip(servers, clients, paths, [200, 200, 404]):
        check_span(s, SERVER, "GET", p.partition("?")[0], code, port)
        check_span(c, CLIENT, "GET", p.partition("?")[0], code, port)
        assert c["resource"]["process.executable.name"] == "node"
    assert len({s["attrs"]["client.port"] for s in servers}) == 1
    check_pairs(servers, clients)
    check_no_ciphertext(k)


def test_gnutls_cli(kspan_factory, tls_server):
    if not shutil.which("gnutls-cli"):
        pytest.skip("gnutls-cli is not installed (make deps: gnutls-bin)")
    port = tls_server.port
    with kspan_factory(["--pid", str(tls_server.pid), "--pid", str(os.getpid())]) as k:
        cli = subprocess.Popen(["gnutls-cli", "--insecure", "--port", str(port), "127.0.0.1"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        # No traced process mapped libgnutls before: kspan finds it in the
        # new process's maps and attaches within a second of its exec.
        time.sleep(1.2)
        cli.stdin.write(f"GET /g/1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode() +
                        f"GET /missing/2 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        cli.stdin.flush()
        out = b""
        end = time.time() + 10
        while out.count(b"hello over tls") < 2 and time.time() < end:
            out += os.read(cli.stdout.fileno(), 4096)
        cli.stdin.close()
        cli.wait(timeout=10)
        time.sleep(0.5)
        assert k.stop() == 0
    assert b"HTTP/1.0 200" in out or b"HTTP/1.1 200" in out
    spans = k.spans()
    clients = by_kind(spans, CLIENT, cli.pid)
    servers = by_kind(spans, SERVER, tls_server.pid)
    assert len(clients) == 2 and len(servers) == 2
    for s, c, (p, code) in zip(servers, clients, [("/g/1", 200), ("/missing/2", 404)]):
        check_span(s, SERVER, "GET", p, code, port)
        check_span(c, CLIENT, "GET", p, code, port)
    check_pairs(servers, clients)
    c = check_no_ciphertext(k)
    assert c["tls.libs"] >= 2  # libssl of the server, libgnutls of the client


def test_started_after_kspan_own_copy(kspan_factory, certs, tmp_path):
    """A server started after kspan, with a private copy of libssl (a new
    file: the system's is already probed): found through exec and probed
    within a second. The client maps the system's libssl, so the same
    library is mapped twice from two files, each probed once."""
    libdir = tmp_path / "lib"
    libdir.mkdir()
    shutil.copy2("/usr/lib/x86_64-linux-gnu/libssl.so.3", libdir / "libssl.so.3")
    port = free_port()
    script = tmp_path / "tls_server.py"
    script.write_text(TLS_SERVER)
    with kspan_factory(["--pid", str(os.getpid()), "-v"]) as k:
        env = dict(os.environ, LD_LIBRARY_PATH=str(libdir))
        srv = Proc([PY, str(script), str(port), str(certs[0]), str(certs[1])], port, env=env)
        try:
            with open(f"/proc/{srv.pid}/maps") as f:
                assert str(libdir / "libssl.so.3") in f.read()
            time.sleep(1.0)
            out = run_script(tmp_path, "urllib_client.py", URLLIB_CLIENT, "--wait", port,
                             "/late/1", "/late/2")
            time.sleep(0.5)
        finally:
            srv.stop()
        # The last process that mapped the copy is gone: its probes are
        # removed after a 10 s grace, while kspan keeps running.
        removed = f"tls: removed 11 probes from /proc/{srv.pid}/root{libdir}/libssl.so.3"
        end = time.time() + 20
        while removed not in k.errfile.read_text() and time.time() < end:
            time.sleep(0.2)
        assert removed in k.errfile.read_text()
        assert k.stop() == 0
    assert json.loads(out.stdout) == [200, 200]
    spans = k.spans()
    servers = by_kind(spans, SERVER, srv.pid)
    clients = by_kind(spans, CLIENT)
    assert len(servers) == 2 and len(clients) == 2
    for s, c, p in zip(servers, clients, ["/late/1", "/late/2"]):
        check_span(s, SERVER, "GET", p, 200, port)
        check_span(c, CLIENT, "GET", p, 200, port)
    check_pairs(servers, clients)
    check_no_ciphertext(k)
    copies = [ln for ln in k.stderr.splitlines()
              if "tls: attached" in ln and ln.split()[7].endswith(str(libdir / "libssl.so.3"))]
    assert len(copies) == 1, k.stderr


def test_kspan_restart_keeps_connection(kspan_factory, tls_server, tmp_path):
    """A TLS connection open across a kspan restart: the new kspan follows
    it from its first TLS call. The server thread was already inside
    SSL_read when the new kspan started, so that one request's server side
    is lost (no entry probe, no buffer); the ones after are complete."""
    args = ["--pid", str(tls_server.pid), "--pid", str(os.getpid())]
    with kspan_factory(args) as k1:
        cli = keepalive_client(tmp_path, tls_server.port)
        assert ask(cli, "/before/1") == 200
        time.sleep(0.3)
        assert k1.stop() == 0
    assert len(by_kind(k1.spans(), CLIENT, cli.pid)) == 1
    paths = ["/after/1", "/after/2", "/after/3"]
    with kspan_factory(args) as k2:
        codes = [ask(cli, p) for p in paths]
        cli.stdin.close()
        cli.wait(timeout=10)
        time.sleep(0.5)
        assert k2.stop() == 0
    assert codes == [200, 200, 200]
    spans = k2.spans()
    clients = by_kind(spans, CLIENT, cli.pid)
    servers = by_kind(spans, SERVER, tls_server.pid)
    assert [c["attrs"]["url.path"] for c in clients] == paths
    assert [s["attrs"]["url.path"] for s in servers] == paths[1:]
    for c, p in zip(clients, paths):
        check_span(c, CLIENT, "GET", p, 200, tls_server.port, version=None)
    for s, p in zip(servers, paths[1:]):
        check_span(s, SERVER, "GET", p, 200, tls_server.port, version=None)
    # One connection, which predates this kspan: its ServerHello was not
    # seen, so the TLS version is unknown.
    assert len({s["attrs"]["client.port"] for s in servers}) == 1
    c = check_no_ciphertext(k2)
    assert c["spans.exported"] == len(clients) + len(servers)


def bpf_tls_runs():
    """Runs of kspan's TLS uprobe programs (kernel.bpf_stats_enabled on)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return sum(p.get("run_cnt", 0) for p in json.loads(out)
               if p.get("type") == "kprobe" and p.get("name", "").startswith("tls_"))


@pytest.fixture
def bpf_stats():
    path = "/proc/sys/kernel/bpf_stats_enabled"
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write("1")
    yield
    with open(path, "w") as f:
        f.write(old)


def test_untraced_processes_take_no_probe(kspan_factory, tls_server, certs, tmp_path,
                                          bpf_stats):
    """--tls-probes process: the uprobes are the traced processes' own. A
    TLS server and client outside the filter, on the same libssl file,
    never run a TLS program (no breakpoint in them), while the traced
    server's calls still do. The default (shared) has them run every one."""
    port = free_port()
    script = tmp_path / "other_server.py"
    script.write_text(TLS_SERVER)
    other = Proc([PY, str(script), str(port), str(certs[0]), str(certs[1])], port)
    try:
        with kspan_factory(["--pid", str(tls_server.pid)]) as k:
            before = bpf_tls_runs()
            run_script(tmp_path, "c0.py", URLLIB_CLIENT, port, "/a")
            shared = bpf_tls_runs()
            assert k.stop() == 0
        assert shared > before
        with kspan_factory(["--pid", str(tls_server.pid), "--tls-probes", "process"]) as k:
            before = bpf_tls_runs()
            out = run_script(tmp_path, "c1.py", URLLIB_CLIENT, port, "/a", "/b", "/c")
            outside = bpf_tls_runs()
            run_script(tmp_path, "c2.py", URLLIB_CLIENT, tls_server.port, "/traced")
            inside = bpf_tls_runs()
            time.sleep(0.5)
            assert k.stop() == 0
    finally:
        other.stop()
    assert json.loads(out.stdout) == [200, 200, 200]
    assert outside == before, "an untraced process ran a TLS probe"
    assert inside > outside
    servers = by_kind(k.spans(), SERVER)
    assert [s["attrs"]["url.path"] for s in servers] == ["/traced"]
    assert servers[0]["resource"]["process.pid"] == tls_server.pid


# Imports ssl (maps libssl), waits for a line on stdin, then forks: the
# child serves HTTPS, the parent waits for it.
FORK_SERVER = r"""
import os, ssl, sys
sys.stdin.readline()
if os.fork():
    os.wait()
    sys.exit(0)
sys.argv[0] = "child"
exec(open(sys.argv[4]).read())
"""


def test_child_forked_later_is_probed(kspan_factory, certs, tmp_path):
    """--tls-probes process: a traced process that forks after kspan
    started; the child gets its own probes (tls_fork) and its HTTPS is
    traced."""
    port = free_port()
    (tmp_path / "tls_server.py").write_text(TLS_SERVER)
    (tmp_path / "fork_server.py").write_text(FORK_SERVER)
    parent = subprocess.Popen([PY, str(tmp_path / "fork_server.py"), str(port), str(certs[0]),
                               str(certs[1]), str(tmp_path / "tls_server.py")],
                              stdin=subprocess.PIPE, text=True)
    child = None
    try:
        time.sleep(0.5)
        with kspan_factory(["--pid", str(parent.pid), "--tls-probes", "process"]) as k:
            parent.stdin.write("go\n")
            parent.stdin.flush()
            wait_port(port)
            with open(f"/proc/{parent.pid}/task/{parent.pid}/children") as f:
                child = int(f.read().split()[0])
            out = run_script(tmp_path, "c.py", URLLIB_CLIENT, port, "/forked/1", "/forked/2")
            time.sleep(0.5)
            assert k.stop() == 0
    finally:
        if child:
            os.kill(child, signal.SIGTERM)
        parent.wait(timeout=10)
    assert json.loads(out.stdout) == [200, 200]
    servers = by_kind(k.spans(), SERVER, child)
    assert [s["attrs"]["url.path"] for s in servers] == ["/forked/1", "/forked/2"]
    for s, p in zip(servers, ["/forked/1", "/forked/2"]):
        check_span(s, SERVER, "GET", p, 200, port)
