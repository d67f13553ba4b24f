# SPDX-License-Identifier: Apache-2.0
"""OTLP export end to end: real servers and clients on loopback, traced by
kspan with --exporter otlp, sending to an independent receiver that decodes
with the OpenTelemetry JavaScript definitions (tests/receiver). Every span and
resource field is checked, in the three protocols, and the retry rules are
checked against a receiver that answers with faults."""
import json
import os
import re
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import KSPAN, PY, ROOT, SERVERS, Kspan, Proc, attr_value, free_port

RECEIVER_DIR = ROOT / "tests" / "receiver"
# The binary under test: build/kspan (KSPAN_OTLP_BIN only to try a build of
# kspan that is not wired into the tree yet).
BIN = Path(os.environ.get("KSPAN_OTLP_BIN", str(KSPAN)))
SERVER, CLIENT = 2, 3
BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]


def _has_otlp():
    try:
        r = subprocess.run([str(BIN), "--help"], capture_output=True, text=True, timeout=10)
    except OSError:
        return False
    return "--otlp-endpoint" in r.stdout


pytestmark = [
    pytest.mark.skipif(not (RECEIVER_DIR / "node_modules").is_dir(),
                       reason="tests/receiver/node_modules missing: run make deps"),
    pytest.mark.skipif(not _has_otlp(), reason=f"{BIN} has no --exporter otlp"),
]


def wait_for(pred, timeout=30.0, step=0.1):
    """Poll pred() until it is true; bounded."""
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class Receiver:
    """tests/receiver/receiver.js on a free loopback port."""

    def __init__(self, tmp_path, protocol="http", faults=(), down_for=0, tls=None):
        self.port = free_port()
        self.out = tmp_path / f"recv-{self.port}.jsonl"
        self.log = tmp_path / f"recv-{self.port}.log"
        args = ["node", str(RECEIVER_DIR / "receiver.js"), "--port", str(self.port),
                "--out", str(self.out), "--protocol", protocol]
        if faults:
            args += ["--faults", ",".join(faults)]
        if down_for:
            args += ["--down-for", str(down_for)]
        if tls:
            args += ["--tls", *tls]
        self.logf = open(self.log, "w")
        self.p = subprocess.Popen(args, stdout=self.logf, stderr=subprocess.STDOUT)
        ready = "down for" if down_for else "listening"
        if not wait_for(lambda: ready in self.log.read_text() or self.p.poll() is not None,
                        timeout=20):
            raise TimeoutError("receiver did not start")
        assert self.p.poll() is None, self.log.read_text()

    def requests(self, signal_name=None):
        if not self.out.exists():
            return []
        out = [json.loads(l) for l in self.out.read_text().splitlines() if l.strip()]
        return [r for r in out if signal_name is None or r["signal"] == signal_name]

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logf.close()


@pytest.fixture
def receivers(tmp_path):
    started = []

    def make(**kw):
        r = Receiver(tmp_path, **kw)
        started.append(r)
        return r
    yield make
    for r in started:
        r.stop()


class OtlpKspan(Kspan):
    """build/kspan exporting OTLP, configured by environment and flags."""

    def __init__(self, tmp_path, args=(), env=None, exporter=True):
        base = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        super().__init__(tmp_path, env={**base, **(env or {})})
        self.args = [str(BIN), *(["--exporter", "otlp"] if exporter else []),
                     "--linger-ms", "200", "--otlp-batch-delay", "200", *args]

    def counters(self, group="otlp"):
        for line in self.stderr.splitlines():
            if line.startswith(f"kspan: info: {group}: ") and "=" in line:
                return {k: int(v) for k, v in
                        (kv.split("=", 1) for kv in line.split(": ", 3)[3].split())}
        raise AssertionError(f"no '{group}' counters in: {self.stderr}")


def attrs(lst):
    keys = [a["key"] for a in lst]
    assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
    return {a["key"]: attr_value(a["value"]) for a in lst}


def trace_spans(requests):
    """Spans of the accepted trace requests, with their resource."""
    spans = []
    for r in requests:
        if r["signal"] != "traces" or not r["answer"].startswith(("ok", "partial")):
            continue
        for rs in r["body"]["resourceSpans"]:
            res = attrs(rs["resource"]["attributes"])
            assert len(rs["scopeSpans"]) == 1
            ss = rs["scopeSpans"][0]
            assert ss["scope"]["name"] == "kspan"
            assert ss["scope"]["version"] == res["telemetry.distro.version"]
            for sp in ss["spans"]:
                sp = dict(sp)
                sp["attrs"] = attrs(sp["attributes"])
                sp["resource"] = res
                spans.append(sp)
    return spans


def curl(*args):
    return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                           "--max-time", "10", *args],
                          check=True, capture_output=True, text=True).stdout


def container_id_of(pid):
    text = Path(f"/proc/{pid}/cgroup").read_text()
    ids = re.findall(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])", text)
    return ids[-1] if ids else None


# Test processes are children of pytest: same cgroup, same container.
CONTAINER_ID = container_id_of(os.getpid())


CLIENT_CODE = """
import sys
sys.path.insert(0, sys.argv[1])
from servers import keepalive_client
sys.stdin.readline()
print(keepalive_client(int(sys.argv[2]), sys.argv[3:]), flush=True)
"""

PATHS = ["/orders/12345", "/status/404", "POST /items", "/status/503"]


def check_resource(res, pid, name, exe):
    assert res["service.name"] == name
    assert res["process.pid"] == pid
    assert res["process.executable.name"] == os.path.basename(exe)
    assert res["process.executable.path"] == exe
    assert res["host.name"] == socket.gethostname()
    assert res["os.type"] == "linux"
    assert res["telemetry.distro.name"] == "kspan"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", res["telemetry.distro.version"])
    assert res["k8s.cluster.name"] == "e2e"       # kspan's own OTEL_RESOURCE_ATTRIBUTES
    assert res.get("container.id") == CONTAINER_ID


@pytest.mark.parametrize("protocol,compression", [
    ("http/protobuf", "none"), ("http/json", "gzip"), ("grpc", "gzip"), ("grpc", "none")])
def test_export_every_protocol(tmp_path, receivers, protocol, compression):
    recv = receivers(protocol="grpc" if protocol == "grpc" else "http")
    port = free_port()
    srv_env = {**os.environ, "OTEL_RESOURCE_ATTRIBUTES":
               "service.name=otlp-orders,deployment.environment=e2e",
               "KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "orders-7d4b9",
               "POD_NAMESPACE": "shop", "POD_UID": "11111111-2222-3333-4444-555555555555"}
    server = Proc([PY, str(SERVERS), "threaded", str(port)], port, env=srv_env)
    client = subprocess.Popen([PY, "-c", CLIENT_CODE, str(SERVERS.parent), str(port), *PATHS],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "OTEL_SERVICE_NAME": "otlp-client",
                                   "DB_PASSWORD": "x"})
    exe = os.path.realpath(f"/proc/{server.pid}/exe")
    assert exe == os.path.realpath(f"/proc/{client.pid}/exe")
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{recv.port}",
           "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
           "OTEL_EXPORTER_OTLP_COMPRESSION": compression,
           "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=team%20a,Authorization=Bearer%20t0k",
           "OTEL_RESOURCE_ATTRIBUTES": "k8s.cluster.name=e2e"}
    try:
        # No --exporter: an OTLP endpoint in the environment selects otlp.
        with OtlpKspan(tmp_path, ["--pid", str(server.pid), "--pid", str(client.pid),
                                  "--metric-export-interval", "60000"],
                       env=env, exporter=False) as k:
            client.stdin.write("go\n")
            client.stdin.flush()
            statuses = client.stdout.readline().strip()
            client.wait(timeout=10)
            assert statuses == "[200, 404, 201, 503]"
            wait_for(lambda: len(trace_spans(recv.requests())) >= 2 * len(PATHS), timeout=15)
            assert k.stop() == 0
    finally:
        server.stop()
        if client.poll() is None:
            client.kill()
    reqs = recv.requests()
    traces = [r for r in reqs if r["signal"] == "traces"]
    assert traces and all(r["answer"] == "ok" for r in traces)
    for r in traces:
        h = r["headers"]
        assert h["x-tenant"] == "team a"
        assert h["authorization"] == "Bearer t0k"
        assert r["gzip"] == (compression == "gzip")
        assert h["user-agent"].startswith("kspan/")
        if protocol == "grpc":
            assert h["content-type"] == "application/grpc"
            assert h["te"] == "trailers"
            assert r["path"] == "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        else:
            assert h["content-type"] == ("application/json" if protocol == "http/json"
                                         else "application/x-protobuf")
            assert r["encoding"] == ("json" if protocol == "http/json" else "protobuf")
            assert r["path"] == "/v1/traces"

    spans = trace_spans(reqs)
    assert len(spans) == 2 * len(PATHS)
    servers = sorted((s for s in spans if s["kind"] == SERVER), key=lambda s: int(s["startTimeUnixNano"]))
    clients = sorted((s for s in spans if s["kind"] == CLIENT), key=lambda s: int(s["startTimeUnixNano"]))
    assert len(servers) == len(clients) == len(PATHS)
    for s in spans:
        assert re.fullmatch(r"[0-9a-f]{32}", s["traceId"]) and int(s["traceId"], 16)
        assert re.fullmatch(r"[0-9a-f]{16}", s["spanId"]) and int(s["spanId"], 16)
        assert 0 < int(s["startTimeUnixNano"]) <= int(s["endTimeUnixNano"])
        assert abs(int(s["startTimeUnixNano"]) / 1e9 - time.time()) < 300
        # W3C flags in the low byte; the parent is known not to be remote.
        assert s["flags"] & 0x300 == 0x100
        a = s["attrs"]
        assert a["network.transport"] == "tcp"
        assert a["network.protocol.version"] == "1.1"
        assert a["url.scheme"] == "http"
        assert a["server.address"] == "127.0.0.1"
        assert a["server.port"] == port
    expected = [("GET", "/orders/12345", 200, "GET /orders/{id}"),
                ("GET", "/status/404", 404, "GET /status/{id}"),
                ("POST", "/items", 201, "POST /items"),
                ("GET", "/status/503", 503, "GET /status/{id}")]
    for srv, cli, (method, path, code, name) in zip(servers, clients, expected):
        # Both ends on this host: the server span is the client span's child.
        assert srv["traceId"] == cli["traceId"]
        assert srv["parentSpanId"] == cli["spanId"]
        assert "parentSpanId" not in cli or not cli["parentSpanId"]
        assert srv["attrs"]["http.request.method"] == cli["attrs"]["http.request.method"] == method
        assert srv["attrs"]["url.path"] == path
        assert srv["attrs"]["http.response.status_code"] == code
        assert cli["attrs"]["http.response.status_code"] == code
        assert srv["attrs"]["client.address"] == "127.0.0.1"
        assert srv["attrs"]["client.port"] == srv["attrs"]["network.peer.port"]
        assert srv["name"] == name
        assert cli["name"] == method
        # Status: servers error on 5xx only, clients on 4xx and 5xx.
        assert srv.get("status", {}).get("code", 0) == (2 if code >= 500 else 0)
        assert cli.get("status", {}).get("code", 0) == (2 if code >= 400 else 0)
        if code >= 500:
            assert srv["attrs"]["error.type"] == str(code)
    assert servers[0]["name"] == "GET /orders/{id}"
    assert servers[2]["attrs"]["http.request.body.size"] == 300

    res = servers[0]["resource"]
    check_resource(res, server.pid, "otlp-orders", exe)
    assert "servers.py threaded" in res["process.command_line"]
    assert res["deployment.environment"] == "e2e"   # the process's own attributes
    assert res["k8s.pod.name"] == "orders-7d4b9"
    assert res["k8s.namespace.name"] == "shop"
    assert res["k8s.pod.uid"] == "11111111-2222-3333-4444-555555555555"
    cres = clients[0]["resource"]
    check_resource(cres, client.pid, "otlp-client", exe)
    assert "k8s.pod.name" not in cres
    assert all(s["resource"] == res for s in servers)
    assert all(s["resource"] == cres for s in clients)

    c = k.counters()
    assert c["received"] == c["sent"] == 2 * len(PATHS)
    assert c["failed"] == c["dropped"] == c["retried"] == c["rejected"] == 0
    assert c["queue"] == 0

    # The duration histograms went out at shutdown.
    metrics = recv.requests("metrics")
    assert metrics and all(r["answer"] == "ok" for r in metrics)
    last = metrics[-1]["body"]
    hists = {}
    for rm in last["resourceMetrics"]:
        r = attrs(rm["resource"]["attributes"])
        for m in rm["scopeMetrics"][0]["metrics"]:
            if "histogram" in m:
                assert m["unit"] == "s"
                assert m["histogram"]["aggregationTemporality"] == 2
                for dp in m["histogram"]["dataPoints"]:
                    hists.setdefault((m["name"], r["process.pid"]), []).append(dp)
    srv_points = hists[("http.server.request.duration", server.pid)]
    cli_points = hists[("http.client.request.duration", client.pid)]
    for points in (srv_points, cli_points):
        assert sum(int(p["count"]) for p in points) == len(PATHS)
        for p in points:
            assert p["explicitBounds"] == BOUNDS
            assert len(p["bucketCounts"]) == len(BOUNDS) + 1
            assert sum(int(b) for b in p["bucketCounts"]) == int(p["count"])
            assert 0 <= p["min"] <= p["max"] <= p["sum"]
    routes = {attrs(p["attributes"]).get("http.route") for p in srv_points}
    # Number-like segments are ids in routes, as in span names.
    assert routes == {"/orders/{id}", "/status/{id}", "/items"}
    codes = sorted(attrs(p["attributes"])["http.response.status_code"] for p in cli_points)
    assert codes == [200, 201, 404, 503]
    for p in cli_points:
        a = attrs(p["attributes"])
        assert a["server.address"] == "127.0.0.1" and a["server.port"] == port
        assert a["http.request.method"] in ("GET", "POST")
        assert "http.route" not in a


def traffic(http_server, n):
    for i in range(n):
        assert curl(f"http://127.0.0.1:{http_server.port}/missing/{i}") == "404"


def run_faults(tmp_path, receivers, http_server, faults, n=3, protocol="http/protobuf",
               args=(), wait_ok=True):
    recv = receivers(protocol="grpc" if protocol == "grpc" else "http", faults=faults)
    # One request of all n spans: a batch is sent when it is full.
    with OtlpKspan(tmp_path, ["--pid", str(http_server.pid), "--otlp-endpoint",
                              f"http://127.0.0.1:{recv.port}", "--otlp-protocol", protocol,
                              "--no-metrics", "--otlp-retry-initial", "300",
                              "--otlp-batch-size", str(n), "--otlp-batch-delay", "60000",
                              *args]) as k:
        traffic(http_server, n)
        if wait_ok:
            wait_for(lambda: any(r["answer"].startswith(("ok", "partial"))
                                 for r in recv.requests("traces")), timeout=30)
        else:
            wait_for(lambda: len(recv.requests("traces")) >= len(faults), timeout=30)
        assert k.stop() == 0
    return recv, k


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_retry_after_seconds_and_date(tmp_path, receivers, http_server, protocol):
    recv, k = run_faults(tmp_path, receivers, http_server, ["429s:2", "429d:2"],
                         protocol=protocol)
    reqs = recv.requests("traces")
    assert [r["answer"] for r in reqs] == ["429s:2", "429d:2", "ok"]
    # Retry-After honoured: 2 s after the first, at the date after the second
    # (an HTTP-date has whole seconds, so it is at least 1 s away).
    assert reqs[1]["t"] - reqs[0]["t"] >= 1900
    assert reqs[2]["t"] - reqs[1]["t"] >= 900
    # The same spans each time, all delivered once accepted.
    ids = [sorted(s["spanId"] for rs in r["body"]["resourceSpans"]
                  for ss in rs["scopeSpans"] for s in ss["spans"]) for r in reqs]
    assert ids[0] == ids[1] == ids[2] and len(ids[0]) == 3
    c = k.counters()
    assert (c["sent"], c["failed"], c["dropped"], c["retried"]) == (3, 0, 0, 2)


def test_503_502_504_backoff_then_ok(tmp_path, receivers, http_server):
    recv, k = run_faults(tmp_path, receivers, http_server, ["503", "502", "504"])
    reqs = recv.requests("traces")
    assert [r["answer"] for r in reqs] == ["503", "502", "504", "ok"]
    gaps = [b["t"] - a["t"] for a, b in zip(reqs, reqs[1:])]
    # Exponential backoff from 300 ms with jitter in [b/2, 3b/2).
    assert gaps[0] >= 140 and gaps[1] >= 290 and gaps[2] >= 590
    c = k.counters()
    assert (c["sent"], c["failed"], c["retried"], c["requests"]) == (3, 0, 3, 4)
    assert "HTTP 503" in k.stderr and "retrying in" in k.stderr


@pytest.mark.parametrize("fault", ["400", "500", "404"])
def test_permanent_errors_not_retried(tmp_path, receivers, http_server, fault):
    recv, k = run_faults(tmp_path, receivers, http_server, [fault, "ok"], wait_ok=False)
    time.sleep(1.0)
    reqs = recv.requests("traces")
    assert [r["answer"] for r in reqs] == [fault]
    c = k.counters()
    assert (c["sent"], c["failed"], c["retried"]) == (0, 3, 0)
    assert f"HTTP {fault}" in k.stderr and "not retrying" in k.stderr


def test_connection_reset_retried(tmp_path, receivers, http_server):
    recv, k = run_faults(tmp_path, receivers, http_server, ["reset"])
    reqs = recv.requests("traces")
    assert [r["answer"] for r in reqs] == ["reset", "ok"]
    c = k.counters()
    assert (c["sent"], c["failed"], c["retried"]) == (3, 0, 1)


def test_partial_success_logged_not_retried(tmp_path, receivers, http_server):
    recv, k = run_faults(tmp_path, receivers, http_server, ["partial:2"])
    assert [r["answer"] for r in recv.requests("traces")] == ["partial:2"]
    c = k.counters()
    assert (c["sent"], c["rejected"], c["failed"], c["retried"]) == (1, 2, 0, 0)
    assert "rejected 2 of 3 spans" in k.stderr and "rejected 2 spans" in k.stderr


@pytest.mark.parametrize("fault,retried", [("grpc:14", True), ("exhausted:1", True),
                                           ("400", False), ("429s:1", False)])
def test_grpc_status_rules(tmp_path, receivers, http_server, fault, retried):
    recv, k = run_faults(tmp_path, receivers, http_server, [fault], protocol="grpc",
                         wait_ok=retried)
    if not retried:
        time.sleep(1.0)
    reqs = recv.requests("traces")
    assert [r["answer"] for r in reqs] == ([fault, "ok"] if retried else [fault])
    if fault.startswith("exhausted"):
        # RESOURCE_EXHAUSTED is retried only with RetryInfo, after its delay.
        assert reqs[1]["t"] - reqs[0]["t"] >= 900
    c = k.counters()
    assert (c["sent"], c["failed"], c["retried"]) == ((3, 0, 1) if retried else (0, 3, 0))


def test_receiver_down_then_up(tmp_path, receivers, http_server):
    """Down at start, up 5 s later: inside the retry window, no span lost."""
    recv = receivers(down_for=5)
    with OtlpKspan(tmp_path, ["--pid", str(http_server.pid), "--otlp-endpoint",
                              f"http://127.0.0.1:{recv.port}", "--no-metrics",
                              "--otlp-retry-initial", "500"]) as k:
        traffic(http_server, 5)
        assert wait_for(lambda: len(trace_spans(recv.requests())) >= 5, timeout=40)
        assert k.stop() == 0
    spans = trace_spans(recv.requests())
    assert sorted(s["attrs"]["url.path"] for s in spans) == sorted(f"/missing/{i}"
                                                                   for i in range(5))
    c = k.counters()
    assert (c["received"], c["sent"], c["failed"], c["dropped"]) == (5, 5, 0, 0)
    assert c["retried"] >= 2
    assert "Couldn't connect" in k.stderr or "Failed to connect" in k.stderr


def test_receiver_down_for_good(tmp_path, http_server):
    """Nothing ever listens: the queue stays bounded, every span is counted
    as sent, failed or dropped, and kspan still stops in bounded time."""
    port = free_port()
    n = 40
    with OtlpKspan(tmp_path, ["--pid", str(http_server.pid), "--no-metrics",
                              "--otlp-queue-size", "8", "--otlp-batch-size", "4",
                              "--otlp-retry-initial", "200",
                              "--otlp-retry-max-elapsed", "1500",
                              "--otlp-shutdown-timeout", "2000"],
                   env={"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
                        f"http://127.0.0.1:{port}/v1/traces"}) as k:
        traffic(http_server, n)
        # Let every span reach the exporter (linger, then its queue).
        wait_for(lambda: False, timeout=1.0)
        t0 = time.time()
        assert k.stop() == 0
        stop_s = time.time() - t0
    c = k.counters()
    assert c["received"] == n
    assert c["sent"] == 0 and c["rejected"] == 0
    assert c["failed"] + c["dropped"] == n
    assert c["dropped"] > 0 and c["failed"] > 0
    assert c["queue_max"] <= 8 and c["queue"] == 0
    spans = int(re.search(r"kspan: info: spans: exported=(\d+)", k.stderr).group(1))
    assert spans == n
    assert stop_s < 2.0 + 10    # the shutdown timeout, and a margin for exit


@pytest.mark.parametrize("when", ["exit", "burst"])
def test_small_queue_loses_no_span(tmp_path, receivers, http_server, when):
    """More spans fall due at once than the export queue (8) holds. At exit
    (every span kept in the trace buffer until then) kspan waits for the
    queue to drain, within the shutdown timeout; while running (a burst
    falling due together) the trace buffer hands over what fits and keeps
    the rest for its next sweeps. Either way none is dropped."""
    recv = receivers()
    n = 40
    linger = "60000" if when == "exit" else "3000"
    with OtlpKspan(tmp_path, ["--pid", str(http_server.pid), "--otlp-endpoint",
                              f"http://127.0.0.1:{recv.port}", "--no-metrics",
                              "--otlp-queue-size", "8", "--otlp-batch-size", "4",
                              "--linger-ms", linger]) as k:
        traffic(http_server, n)
        if when == "burst":
            assert wait_for(lambda: len(trace_spans(recv.requests())) >= n, timeout=30)
        assert k.stop() == 0
    c = k.counters()
    assert (c["received"], c["sent"], c["failed"], c["dropped"]) == (n, n, 0, 0), c
    assert c["queue_max"] <= 8
    if when == "burst":
        assert k.counters("spans")["held"] > 0
    spans = trace_spans(recv.requests())
    assert sorted(s["attrs"]["url.path"] for s in spans) == sorted(f"/missing/{i}"
                                                                   for i in range(n))


def test_invalid_env_values_fall_back(tmp_path, receivers, http_server):
    """Invalid values: a clear message and the default; empty means unset."""
    recv = receivers()
    env = {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{recv.port}/v1/traces",
           "OTEL_EXPORTER_OTLP_PROTOCOL": "http/thrift",
           "OTEL_EXPORTER_OTLP_TIMEOUT": "ten",
           "OTEL_EXPORTER_OTLP_COMPRESSION": "",
           "OTEL_METRICS_EXPORTER": "none"}
    with OtlpKspan(tmp_path, ["--pid", str(http_server.pid)], env=env) as k:
        traffic(http_server, 2)
        wait_for(lambda: len(trace_spans(recv.requests())) >= 2, timeout=15)
        assert k.stop() == 0
    assert "invalid OTEL_EXPORTER_OTLP_PROTOCOL 'http/thrift': use grpc, http/protobuf or " \
           "http/json; ignoring it" in k.stderr
    assert "invalid OTEL_EXPORTER_OTLP_TIMEOUT 'ten'" in k.stderr
    reqs = recv.requests()
    assert [r["signal"] for r in reqs] == ["traces"]
    assert reqs[0]["encoding"] == "protobuf" and not reqs[0]["gzip"]
    assert len(trace_spans(reqs)) == 2
