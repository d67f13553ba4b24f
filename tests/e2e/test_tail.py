# SPDX-License-Identifier: Apache-2.0
"""Tail sampling over real traffic: a threaded server with routes that fail,
sleep, call the server itself and then sleep, or just answer; kspan keeps
every error trace, every slow trace (whole, with the call that finished long
before its request did), every trace of a priority route, and the share of
the rest that the trace id selects."""
import collections
import math
import os
import subprocess
import time

from conftest import PY, Proc, free_port

SERVER, CLIENT = 2, 3
SLOW_MS = 200          # --tail-keep-slower-than
RATIO = 0.2            # --tail-ratio
THRESHOLD = int(RATIO * 2**64)

SERVICE = r"""
import sys, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port = int(sys.argv[1])
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        kind = self.path.split("/")[1]
        status = 200
        if kind == "err":
            status = 500
        elif kind == "slow":
            time.sleep(0.3)
        elif kind == "chain":
            # A call that ends long before this request does.
            item = self.path.rsplit("/", 1)[-1]
            urllib.request.urlopen(f"http://127.0.0.1:{port}/item/chain-{item}", timeout=10).read()
            time.sleep(0.5)
        body = b"ok\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
"""

# Paths in one list, fetched by 8 threads, each on its own keep-alive
# connection; the exit status says whether every answer came.
CLIENTS = r"""
import http.client, sys, threading
port, paths = int(sys.argv[1]), sys.argv[2:]
lock, errors = threading.Lock(), []
def run(k):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    for p in paths[k::8]:
        try:
            conn.request("GET", p)
            conn.getresponse().read()
        except Exception as e:
            with lock:
                errors.append((p, e))
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    conn.close()
ts = [threading.Thread(target=run, args=(k,)) for k in range(8)]
[t.start() for t in ts]
[t.join() for t in ts]
print(errors, file=sys.stderr)
sys.exit(1 if errors else 0)
"""

N_PLAIN, N_ERR, N_SLOW, N_CHAIN, N_ROUTE = 300, 20, 20, 8, 20


def get(port, path, traceparent=None):
    args = ["curl", "-sS", "-o", "/dev/null", "--max-time", "10"]
    if traceparent:
        args += ["-H", f"traceparent: {traceparent}"]
    subprocess.run(args + [f"http://127.0.0.1:{port}{path}"], check=True)


def tp(low, high=None):
    """A sampled traceparent whose trace id ends in the 8 bytes low."""
    high = high if high is not None else os.urandom(8).hex()
    return f"{high}{low:016x}", f"00-{high}{low:016x}-{os.urandom(8).hex()}-01"


def low8(trace_id):
    return int(trace_id[16:], 16)


def test_tail_sampling_mixed_traffic(kspan_factory):
    port = free_port()
    srv = Proc([PY, "-c", SERVICE, str(port)], port)
    paths = ([f"/item/{i}" for i in range(N_PLAIN)] + [f"/err/{i}" for i in range(N_ERR)] +
             [f"/slow/{i}" for i in range(N_SLOW)] + [f"/chain/{i}" for i in range(N_CHAIN)] +
             [f"/checkout/{i}" for i in range(N_ROUTE // 2)] +
             [f"/api/v{i}/pay" for i in range(N_ROUTE // 2)])
    # Known ids around the ratio's bound: kept exactly when below it.
    known = {f"/item/known-{i}": tp(low) for i, low in enumerate(
        [1, THRESHOLD // 2, THRESHOLD - 1, THRESHOLD, THRESHOLD + 2**50, 2**64 - 1])}
    late_drop, late_keep = tp(2**64 - 2), tp(2**64 - 3)
    try:
        with kspan_factory(["--pid", str(srv.pid), "--tail-sampling",
                            "--tail-keep-slower-than", str(SLOW_MS),
                            "--tail-keep-routes", "/checkout/*,/api/*/pay",
                            "--tail-ratio", str(RATIO)]) as k:
            c = subprocess.run([PY, "-c", CLIENTS, str(port), *paths], timeout=300)
            assert c.returncode == 0
            for path, (_, header) in known.items():
                get(port, path, header)
            # The head sampler decides first: the caller said "not
            # sampled", so tail sampling never sees this error.
            get(port, "/err/unsampled", f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-00")
            # A part of a trace that comes after its trace was decided
            # follows the decision, whatever it shows.
            get(port, "/item/late-first", late_drop[1])
            get(port, "/err/late-first", late_keep[1])
            time.sleep(1.0)
            get(port, "/err/late-second", late_drop[1])
            get(port, "/item/late-second", late_keep[1])
            time.sleep(1.0)
            assert k.stop() == 0
    finally:
        srv.stop()

    traces = collections.defaultdict(list)
    for s in k.spans():
        traces[s["traceId"]].append(s)
    kept_paths = {}
    for tid, ss in traces.items():
        for s in ss:
            kept_paths[s["attrs"]["url.path"]] = (tid, s)

    def kept(path):
        return path in kept_paths

    # Every error, slow and priority-route trace.
    for i in range(N_ERR):
        tid, s = kept_paths[f"/err/{i}"]
        assert s["status"]["code"] == 2
    for i in range(N_SLOW):
        tid, s = kept_paths[f"/slow/{i}"]
        assert s["end"] - s["start"] > SLOW_MS * 1_000_000
    for i in range(N_ROUTE // 2):
        assert kept(f"/checkout/{i}") and kept(f"/api/v{i}/pay")
    # A slow request whose call ended half a second before it: the trace
    # waited for its root and went out whole.
    for i in range(N_CHAIN):
        tid, root = kept_paths[f"/chain/{i}"]
        ss = traces[tid]
        assert len(ss) == 3, ss
        by_id = {s["spanId"]: s for s in ss}
        call = next(s for s in ss if s["kind"] == CLIENT)
        callee = next(s for s in ss if s["kind"] == SERVER and s is not root)
        assert call["attrs"]["url.path"] == callee["attrs"]["url.path"] == f"/item/chain-{i}"
        assert by_id[call["parentSpanId"]] is root
        assert by_id[callee["parentSpanId"]] is call
        assert root["end"] - call["end"] > 400_000_000

    # The rest: kept exactly when the trace id is in the ratio's share (or
    # the request itself was slow), in about that share.
    plain_kept = plain_slow = 0
    for i in range(N_PLAIN):
        if not kept(f"/item/{i}"):
            continue
        tid, s = kept_paths[f"/item/{i}"]
        if s["end"] - s["start"] > SLOW_MS * 1_000_000:
            plain_slow += 1
        else:
            assert low8(tid) < THRESHOLD, tid
            plain_kept += 1
    m = N_PLAIN - plain_slow
    assert abs(plain_kept - m * RATIO) <= 5 * math.sqrt(m * RATIO * (1 - RATIO)) + 1
    # A known request that happened to be slow (a loaded machine) is kept
    # by the slow policy instead, whatever its id.
    known_slow = 0
    for path, (tid, _) in known.items():
        if kept(path) and kept_paths[path][1]["end"] - kept_paths[path][1]["start"] > \
                SLOW_MS * 1_000_000:
            known_slow += 1
        elif low8(tid) < THRESHOLD:
            assert kept_paths[path][0] == tid
        else:
            assert not kept(path)
    assert kept("/item/known-0") and kept("/item/known-2")

    assert not kept("/err/unsampled")
    assert not kept("/item/late-first") and not kept("/err/late-second")
    assert kept_paths["/err/late-first"][0] == late_keep[0]
    assert kept_paths["/item/late-second"][0] == late_keep[0]

    c = k.counters()
    assert c["spans.sampled_out"] == 1
    assert c["tail.kept_error"] == N_ERR + 1
    below = sum(low8(tid) < THRESHOLD for tid, _ in known.values())   # 3
    known_ratio = sum(kept(p) for p in known) - known_slow
    assert known_ratio >= below - known_slow
    assert c["tail.kept_slow"] == N_SLOW + N_CHAIN + plain_slow + known_slow
    assert c["tail.kept_route"] == N_ROUTE
    assert c["tail.kept_ratio"] == plain_kept + known_ratio
    assert c["tail.dropped"] == N_PLAIN - plain_slow - plain_kept + \
        len(known) - known_slow - known_ratio + 1
    assert c["tail.late_kept"] == 1 and c["tail.late_dropped"] == 1
    assert c["tail.early_full"] == 0 and c["tail.early_wait"] == 0
    assert c["tail.misses"] == 0 and c["tail.evicted"] == 0
    # Two parts of one trace went out apart: its first part and its late one.
    assert c["spans.traces"] == len(traces) + 1


def test_tail_sampling_off_by_default(kspan_factory, threaded_server):
    """Without a --tail-* option every trace goes out and there is no tail
    line in the counters."""
    with kspan_factory(["--pid", str(threaded_server.pid)]) as k:
        for i in range(5):
            get(threaded_server.port, f"/plain/{i}")
        time.sleep(0.5)
        assert k.stop() == 0
    assert sorted(s["attrs"]["url.path"] for s in k.spans()) == [f"/plain/{i}" for i in range(5)]
    assert not any(key.startswith("tail.") for key in k.counters())
