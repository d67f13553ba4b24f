# SPDX-License-Identifier: Apache-2.0
"""One trace per request across processes of this host: a client span and the
server span at the other end of its connection are paired, and a client call
made by a thread serving one request nests under that request."""
import collections
import os
import subprocess
import sys
import time

from conftest import PY, Proc, free_port

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "demo"))
from demo import SERVICE  # noqa: E402  the demo's service, reused

SERVER, CLIENT = 2, 3

CLIENTS = r"""
import sys, threading, urllib.request
port, n, conc = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
errors = []
def run(k):
    for i in range(n):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/orders/{k}-{i}", timeout=10).read()
        except Exception as e:
            errors.append(e)
ts = [threading.Thread(target=run, args=(k,)) for k in range(conc)]
[t.start() for t in ts]
[t.join() for t in ts]
sys.exit(1 if errors else 0)
"""


def start_chain():
    ports = [free_port() for _ in range(3)]
    procs = []
    for name, port, down in reversed([("frontend", ports[0], str(ports[1])),
                                      ("orders", ports[1], str(ports[2])),
                                      ("inventory", ports[2], "-")]):
        env = {**os.environ, "OTEL_SERVICE_NAME": name}
        procs.append(Proc([PY, "-c", SERVICE.replace("random.random() < 0.1", "False"),
                           str(port), down], port, env=env))
    return ports, procs


def run_chain(kspan_factory, extra, n, conc):
    ports, procs = start_chain()
    try:
        args = list(extra)
        for p in procs:
            args += ["--pid", str(p.pid)]
        args += ["--pid", str(os.getpid())]
        with kspan_factory(args, linger_ms=300) as k:
            c = subprocess.run([PY, "-c", CLIENTS, str(ports[0]), str(n), str(conc)], timeout=120)
            assert c.returncode == 0
            time.sleep(0.8)
            assert k.stop() == 0
    finally:
        for p in procs:
            p.stop()
    return ports, procs, k


def check_chain(spans, ports, procs):
    by_id = {s["spanId"]: s for s in spans}
    pid_of = {p.port: p.pid for p in procs}
    traces = collections.defaultdict(list)
    for s in spans:
        traces[s["traceId"]].append(s)
    shapes = []
    for tid, ss in traces.items():
        roots = [s for s in ss if "parentSpanId" not in s]
        assert len(roots) == 1, ss
        root = roots[0]
        assert root["kind"] == CLIENT and root["attrs"]["server.port"] == ports[0]
        chain = [root]
        while True:
            kids = [s for s in ss if s.get("parentSpanId") == chain[-1]["spanId"]]
            if not kids:
                break
            assert len(kids) == 1
            chain.append(kids[0])
        assert len(chain) == len(ss) == 6
        # client -> frontend server -> frontend client -> orders server -> ...
        want = [(CLIENT, None), (SERVER, ports[0]), (CLIENT, ports[1]), (SERVER, ports[1]),
                (CLIENT, ports[2]), (SERVER, ports[2])]
        for s, (kind, port) in zip(chain, want):
            assert s["kind"] == kind
            assert s["traceId"] == tid
            if kind == SERVER:
                assert s["resource"]["process.pid"] == pid_of[port]
                assert s["attrs"]["server.port"] == port
            elif port:
                assert s["attrs"]["server.port"] == port
        for parent, child in zip(chain, chain[1:]):
            assert parent["start"] <= child["start"]
            assert by_id[child["parentSpanId"]] is parent
        # The path the frontend received is the one the client sent.
        assert chain[0]["attrs"]["url.path"] == chain[1]["attrs"]["url.path"]
        item = chain[0]["attrs"]["url.path"].rsplit("/", 1)[-1]
        assert chain[3]["attrs"]["url.path"] == f"/items/{item}"
        assert chain[5]["attrs"]["url.path"] == f"/items/{item}"
        shapes.append(item)
    return shapes


def test_three_services_one_trace_per_request(kspan_factory):
    ports, procs, k = run_chain(kspan_factory, [], n=5, conc=1)
    spans = k.spans()
    items = check_chain(spans, ports, procs)
    assert sorted(items) == sorted(f"0-{i}" for i in range(5))
    c = k.counters()
    assert c["spans.paired"] == 15 and c["spans.nested"] == 10


def test_concurrent_clients_never_cross_traces(kspan_factory):
    ports, procs, k = run_chain(kspan_factory, [], n=4, conc=8)
    items = check_chain(k.spans(), ports, procs)
    assert sorted(items) == sorted(f"{c}-{i}" for c in range(8) for i in range(4))


def test_no_local_pairing_keeps_processes_apart(kspan_factory):
    ports, procs, k = run_chain(kspan_factory, ["--no-local-pairing"], n=3, conc=1)
    spans = k.spans()
    assert len(spans) == 18
    traces = collections.defaultdict(list)
    for s in spans:
        traces[s["traceId"]].append(s)
    # Per request: the client alone, frontend and orders each server+client,
    # inventory alone.
    sizes = sorted(len(v) for v in traces.values())
    assert sizes == [1] * 6 + [2] * 6
    for ss in traces.values():
        assert len({s["resource"]["process.pid"] for s in ss}) == 1
        if len(ss) == 2:
            srv = next(s for s in ss if s["kind"] == SERVER)
            cli = next(s for s in ss if s["kind"] == CLIENT)
            assert cli["parentSpanId"] == srv["spanId"]
            assert srv["start"] <= cli["start"] <= cli["end"] <= srv["end"]
    assert k.counters()["spans.paired"] == 0
