# SPDX-License-Identifier: Apache-2.0
"""TCP figures in tracing mode, over a link with a known delay and loss
between two network namespaces (the relay of test_conns.py): spans carry
the smoothed RTT, the retransmits during the request and the connect time
of the request that opened the connection; the OTLP metrics carry connect
durations, RTTs, retransmits and failed connects per peer, and kspan's own
counters, as the test receiver decodes them."""
import json

import pytest

from test_conns import A_ADDR, B_ADDR, RTT_MS, Net, stop, within
from test_otlp import RECEIVER_DIR, OtlpKspan, Receiver, attrs, trace_spans, wait_for

SERVER_SPAN, CLIENT_SPAN = 2, 3

# An HTTP/1.1 keep-alive server in B. It prints its port.
SERVER = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.reply()
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        while n > 0:
            d = self.rfile.read(min(n, 65536))
            if not d:
                return
            n -= len(d)
        self.reply()
    def reply(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer((sys.argv[1], 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""

# A client in A. It prints its pid, waits for a line, runs its plan, prints
# what it did as JSON and waits for another line before it exits:
#   get N        one connection, N requests on it
#   upload SIZE  one connection, one POST of SIZE bytes, with the socket's
#                own retransmit count (TCP_INFO) just before and after
#   refused P N  N connects to port P, counting ECONNREFUSED
CLIENT = r"""
import http.client, json, os, socket, struct, sys
host, port, plan = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
print(os.getpid(), flush=True)
sys.stdin.readline()
def tcp_info(s):
    b = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return {"total_retrans": struct.unpack_from("I", b, 100)[0],
            "rtt_us": struct.unpack_from("I", b, 68)[0]}
out = {"conns": [], "refused": 0}
while plan:
    what = plan.pop(0)
    if what == "get":
        n = int(plan.pop(0))
        c = http.client.HTTPConnection(host, port, timeout=60)
        c.connect()
        for i in range(n):
            c.request("GET", f"/item/{i}")
            r = c.getresponse()
            r.read()
            assert r.status == 200
        out["conns"].append({"port": c.sock.getsockname()[1], "requests": n,
                             **tcp_info(c.sock)})
        c.close()
    elif what == "upload":
        size = int(plan.pop(0))
        c = http.client.HTTPConnection(host, port, timeout=120)
        c.connect()
        before = tcp_info(c.sock)
        c.request("POST", "/upload", body=b"x" * size)
        r = c.getresponse()
        r.read()
        assert r.status == 200
        after = tcp_info(c.sock)
        out["conns"].append({"port": c.sock.getsockname()[1], "requests": 1,
                             "retrans": after["total_retrans"] - before["total_retrans"],
                             **after})
        c.close()
    elif what == "refused":
        p, n = int(plan.pop(0)), int(plan.pop(0))
        for i in range(n):
            s = socket.socket()
            try:
                s.connect((host, p))
            except ConnectionRefusedError:
                out["refused"] += 1
            finally:
                s.close()
print(json.dumps(out), flush=True)
sys.stdin.readline()
"""

RTT_US = RTT_MS * 1000


def start_server(net):
    srv = net.popen(net.b, SERVER, B_ADDR)
    line = srv.stdout.readline()
    assert line.strip().isdigit(), srv.stderr.read()
    return srv, int(line)


def run_client(cli):
    """Let the client run its plan; its report."""
    cli.stdin.write("go\n")
    cli.stdin.flush()
    line = cli.stdout.readline()
    assert line.strip().startswith("{"), cli.stderr.read()
    report = json.loads(line)
    cli.stdin.write("exit\n")
    cli.stdin.flush()
    cli.wait(timeout=60)
    return report


def by_start(spans, kind):
    return sorted((s for s in spans if s["kind"] == kind), key=lambda s: s["start"])


def check_figures(a, opened):
    """The 40 ms round trip, no retransmit, and the connect time on the
    request that opened the connection only."""
    assert within(a["kspan.tcp.srtt_us"], RTT_US, 0.2), a
    assert a["kspan.tcp.retransmits"] == 0, a
    if opened:
        assert within(a["kspan.tcp.connect_us"], RTT_US, 0.2), a
    else:
        assert "kspan.tcp.connect_us" not in a, a


def test_spans_carry_tcp_figures(tmp_path, kspan_factory):
    """A 40 ms round trip: every span's smoothed RTT within 20% of it, no
    retransmit, and the connect time (client: SYN to established; server:
    SYN-ACK to ACK) on the first request of each connection only."""
    with Net(delay_ms=20) as net:
        srv, port = start_server(net)
        cli = net.popen(net.a, CLIENT, B_ADDR, port, "get", 3, "get", 1)
        try:
            cli_pid = int(cli.stdout.readline())
            with kspan_factory(["--pid", str(cli_pid), "--pid", str(srv.pid)]) as k:
                report = run_client(cli)
                wait_for(lambda: len(k.spans()) >= 8, timeout=15)
                assert k.stop() == 0
        finally:
            stop(cli)
            stop(srv)
    spans = k.spans()
    clients, servers = by_start(spans, CLIENT_SPAN), by_start(spans, SERVER_SPAN)
    assert len(clients) == len(servers) == 4, k.stderr
    first = [True, False, False, True]     # the requests that opened a connection
    for s, opened in zip(clients, first):
        a = s["attrs"]
        assert s["resource"]["process.pid"] == cli_pid
        assert a["network.transport"] == "tcp" and a["network.type"] == "ipv4"
        assert a["server.address"] == B_ADDR and a["server.port"] == port
        check_figures(a, opened)
    # The server's spans by connection, in the order the client made them.
    conn_ports = [c["port"] for c in report["conns"]]
    assert [s["attrs"]["client.port"] for s in servers] == \
        [conn_ports[0]] * 3 + [conn_ports[1]]
    for s, opened in zip(servers, first):
        a = s["attrs"]
        assert s["resource"]["process.pid"] == srv.pid
        assert a["network.type"] == "ipv4" and a["client.address"] == A_ADDR
        check_figures(a, opened)
    # The socket's own view agrees on the round trip.
    for c in report["conns"]:
        assert within(c["rtt_us"], RTT_US, 0.2), c


def test_retransmits_match_the_socket(tmp_path, kspan_factory):
    """5% loss each way and a 1.5 MB upload: the client span counts the
    segments its socket sent again during the request, as the socket's
    own TCP_INFO counter says (read just before and after the request)."""
    size = 1_500_000
    with Net(delay_ms=20, loss=0.05) as net:
        srv, port = start_server(net)
        cli = net.popen(net.a, CLIENT, B_ADDR, port, "upload", size)
        try:
            cli_pid = int(cli.stdout.readline())
            with kspan_factory(["--pid", str(cli_pid), "--pid", str(srv.pid)]) as k:
                report = run_client(cli)
                wait_for(lambda: len(k.spans()) >= 2, timeout=15)
                assert k.stop() == 0
        finally:
            stop(cli)
            stop(srv)
    clients = by_start(k.spans(), CLIENT_SPAN)
    assert len(clients) == 1, k.stderr
    a = clients[0]["attrs"]
    kernel = report["conns"][0]["retrans"]
    assert kernel > 0, "5% loss produced no retransmit: is the link lossy?"
    assert a["http.request.body.size"] == size
    # One count per retransmitted segment as the kernel sends it; the
    # socket counts a segment it failed to hand to the device too.
    assert within(a["kspan.tcp.retransmits"], kernel, 0.1), (a, kernel)
    assert a["kspan.tcp.retransmits"] <= kernel
    assert "kspan.tcp.srtt_us" in a
    c = k.counters()
    assert c["bpf.ringbuf_drops"] == 0


def points_of(reqs):
    """Data points of the last metrics request by (metric name, resource
    pid), each with its attributes decoded, and the metrics' units."""
    last = reqs[-1]["body"]
    out, units = {}, {}
    for rm in last["resourceMetrics"]:
        res = attrs(rm["resource"]["attributes"])
        for m in rm["scopeMetrics"][0]["metrics"]:
            units[m["name"]] = m.get("unit")
            data = m.get("histogram") or m.get("sum")
            assert data["aggregationTemporality"] == 2, m
            for dp in data["dataPoints"]:
                dp = dict(dp)
                dp["attrs"] = attrs(dp.get("attributes", []))
                out.setdefault((m["name"], res["process.pid"]), []).append(dp)
    return out, units


def value(dp):
    return int(dp["asInt"])


@pytest.mark.skipif(not (RECEIVER_DIR / "node_modules").is_dir(),
                    reason="tests/receiver/node_modules missing: run make deps")
def test_tcp_and_self_metrics(tmp_path):
    """Three connections and two refused connects over a 40 ms link: the
    connect-duration histogram counts the three, the failure counter the
    two, the request-duration histograms the requests, RTTs are near 40 ms;
    kspan's own counters go out under its own resource and agree with what
    the receiver got. With -v the same counters are logged."""
    recv = Receiver(tmp_path)
    try:
        with Net(delay_ms=20) as net:
            srv, port = start_server(net)
            cli = net.popen(net.a, CLIENT, B_ADDR, port,
                            "get", 1, "get", 2, "get", 1, "refused", 9, 2)
            try:
                cli_pid = int(cli.stdout.readline())
                with OtlpKspan(tmp_path, ["--otlp-endpoint", f"http://127.0.0.1:{recv.port}",
                                          "--metric-export-interval", "60000", "-v",
                                          "--pid", str(cli_pid), "--pid", str(srv.pid)]) as k:
                    report = run_client(cli)
                    wait_for(lambda: len(trace_spans(recv.requests())) >= 8, timeout=20)
                    # -v logs kspan's own counters every 5 s.
                    wait_for(lambda: "kspan: info: self:" in k.errfile.read_text(),
                             timeout=20)
                    assert k.stop() == 0
                    kspan_pid = k.proc.pid
            finally:
                stop(cli)
                stop(srv)
    finally:
        recv.stop()
    assert report["refused"] == 2
    spans = trace_spans(recv.requests())
    assert len(spans) == 8
    metrics = recv.requests("metrics")
    assert metrics and all(r["answer"] == "ok" for r in metrics)
    pts, units = points_of(metrics)
    assert units["kspan.tcp.connect.duration"] == "s"
    assert units["kspan.tcp.rtt"] == "s"
    assert units["kspan.tcp.retransmits"] == "{segment}"
    assert units["kspan.tcp.connect.failures"] == "{connection}"

    # The pid filter holds for TCP figures too: no other process (the
    # receiver, kspan's own export connection) has any.
    assert {pid for name, pid in pts if name.startswith("kspan.tcp.")} == {cli_pid, srv.pid}

    # The client: three connections made, two refused.
    conn = pts[("kspan.tcp.connect.duration", cli_pid)]
    assert len(conn) == 1, conn
    a = conn[0]["attrs"]
    assert a == {"kspan.tcp.role": "client", "network.type": "ipv4",
                 "server.address": B_ADDR, "server.port": port}
    assert int(conn[0]["count"]) == len(report["conns"]) == 3
    assert within(conn[0]["min"], RTT_MS / 1000, 0.2) and \
        within(conn[0]["max"], RTT_MS / 1000, 0.2), conn
    assert sum(int(b) for b in conn[0]["bucketCounts"]) == 3
    fails = pts[("kspan.tcp.connect.failures", cli_pid)]
    assert len(fails) == 1, fails
    assert fails[0]["attrs"] == {"kspan.tcp.role": "client", "network.type": "ipv4",
                                 "server.address": B_ADDR, "server.port": 9,
                                 "error.type": "refused"}
    assert value(fails[0]) == report["refused"]
    rtt = pts[("kspan.tcp.rtt", cli_pid)]
    by_port = {p["attrs"]["server.port"]: p for p in rtt}
    assert int(by_port[port]["count"]) >= 3
    assert within(by_port[port]["min"], RTT_MS / 1000, 0.2), rtt
    assert within(by_port[port]["max"], RTT_MS / 1000, 0.2), rtt
    retrans = {p["attrs"]["server.port"]: value(p)
               for p in pts[("kspan.tcp.retransmits", cli_pid)]}
    assert retrans[port] == 0
    # Request durations: one per request sent.
    creq = pts[("http.client.request.duration", cli_pid)]
    assert sum(int(p["count"]) for p in creq) == 4

    # The server: its side of the same connections, the client by address.
    srtt = pts[("kspan.tcp.rtt", srv.pid)]
    assert len(srtt) == 1
    assert srtt[0]["attrs"] == {"kspan.tcp.role": "server", "network.type": "ipv4",
                                "server.address": B_ADDR, "server.port": port,
                                "network.peer.address": A_ADDR}
    assert int(srtt[0]["count"]) >= 3
    assert within(srtt[0]["min"], RTT_MS / 1000, 0.2), srtt
    assert ("kspan.tcp.connect.duration", srv.pid) not in pts
    sreq = pts[("http.server.request.duration", srv.pid)]
    assert sum(int(p["count"]) for p in sreq) == 4

    # kspan's own counters, under its own resource.
    def one(name, **want):
        got = [p for p in pts[(name, kspan_pid)] if p["attrs"] == want]
        assert len(got) == 1, (name, pts[(name, kspan_pid)])
        return value(got[0])
    res = next(attrs(rm["resource"]["attributes"]) for rm in metrics[-1]["body"]["resourceMetrics"]
               if attrs(rm["resource"]["attributes"])["process.pid"] == kspan_pid)
    assert res["service.name"] == "kspan"
    submitted, received = one("kspan.events.submitted"), one("kspan.events.received")
    assert 0 < received <= submitted
    assert one("kspan.events.dropped") == 0
    assert one("kspan.spans.exported") == len(spans)
    assert one("otel.sdk.exporter.span.exported") == len(spans)
    assert one("otel.sdk.exporter.span.exported", **{"error.type": "export_failed"}) == 0
    assert one("otel.sdk.processor.span.processed", **{"error.type": "queue_full"}) == 0
    assert one("otel.sdk.processor.span.queue.size") == 0
    assert one("otel.sdk.processor.span.queue.capacity") == 2048
    assert one("kspan.spans.dropped", **{"kspan.drop.reason": "pool_full"}) == 0
    assert one("kspan.parse.errors", **{"kspan.parser": "http1"}) == 0
    # Both ends of every request on this host: each server span paired.
    assert one("kspan.span.links", **{"kspan.link.outcome": "paired"}) == 4
    assert one("kspan.span.links", **{"kspan.link.outcome": "refused"}) == 0

    # -v: the same counters on stderr, with a level.
    lines = [l for l in k.stderr.splitlines() if l.startswith("kspan: info: self: ")]
    assert lines
    logged = dict(kv.split("=") for kv in lines[-1].split(": ", 3)[3].split())
    assert int(logged["events_received"]) > 0
    assert int(logged["events_dropped"]) == 0
    assert int(logged["spans_exported"]) <= len(spans)


@pytest.mark.skipif(not (RECEIVER_DIR / "node_modules").is_dir(),
                    reason="tests/receiver/node_modules missing: run make deps")
def test_tcp_metrics_at_the_export_interval(tmp_path):
    """With a short --metric-export-interval the TCP series go out while
    kspan runs, not only at exit."""
    recv = Receiver(tmp_path)
    try:
        with Net(delay_ms=20) as net:
            srv, port = start_server(net)
            cli = net.popen(net.a, CLIENT, B_ADDR, port, "get", 1)
            try:
                cli_pid = int(cli.stdout.readline())
                with OtlpKspan(tmp_path, ["--otlp-endpoint", f"http://127.0.0.1:{recv.port}",
                                          "--metric-export-interval", "500",
                                          "--pid", str(cli_pid)]) as k:
                    run_client(cli)

                    def connects():
                        reqs = recv.requests("metrics")
                        if not reqs:
                            return 0
                        pts, _ = points_of(reqs)
                        return sum(int(p["count"]) for p in
                                   pts.get(("kspan.tcp.connect.duration", cli_pid), []))
                    seen = wait_for(connects, timeout=20)
                    running = k.proc.poll() is None
                    assert k.stop() == 0
            finally:
                stop(cli)
                stop(srv)
    finally:
        recv.stop()
    assert running and seen == 1
