# SPDX-License-Identifier: Apache-2.0
"""OTLP exporter faults under steady load: a client keeps a fixed request rate
to a traced server while the receiver (tests/receiver) answers with bursts of
503, resets connections, or is down for a while; the export queue is small
enough to overflow in some of them. Exact accounting: every request made is a
span, every span kspan produced reached the exporter, and each one is either
received exactly once by the receiver or counted as failed or dropped. None
vanishes, none arrives twice."""
import http.client
import re
import threading
import time

import pytest

from conftest import PY, SERVERS, Proc, free_port
from test_otlp import OtlpKspan, pytestmark, trace_spans, receivers, wait_for  # noqa: F401

RATE = 40           # requests per second
COUNT = 400         # requests per scenario: 10 s of traffic

SCENARIOS = {
    # fault list (by trace request number), receiver down for S, kspan args
    "503-bursts": ((["503"] * 3 + ["ok"] * 2) * 8, 0, ["--otlp-queue-size", "2048"]),
    "503-bursts-small-queue": ((["503"] * 4 + ["ok"]) * 6, 0, ["--otlp-queue-size", "32"]),
    "reset": (["reset", "ok", "reset", "reset", "ok"] * 6, 0, ["--otlp-queue-size", "2048"]),
    "down-then-up": ([], 8, ["--otlp-queue-size", "64"]),
    "503-then-give-up": (["503"] * 12, 0, ["--otlp-queue-size", "2048",
                                           "--otlp-retry-max-elapsed", "1500"]),
}


class SteadyClient(threading.Thread):
    """COUNT requests at RATE per second on keep-alive connections."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.statuses = []

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        t0 = time.monotonic()
        for i in range(COUNT):
            delay = t0 + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            conn.request("GET", f"/steady/{i}")
            r = conn.getresponse()
            r.read()
            self.statuses.append(r.status)
        conn.close()


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_faults_under_steady_load(tmp_path, receivers, scenario):
    faults, down_for, args = SCENARIOS[scenario]
    recv = receivers(faults=faults, down_for=down_for)
    port = free_port()
    server = Proc([PY, str(SERVERS), "threaded", str(port)], port)
    try:
        with OtlpKspan(tmp_path, ["--pid", str(server.pid), "--otlp-endpoint",
                                  f"http://127.0.0.1:{recv.port}", "--no-metrics",
                                  "--otlp-retry-initial", "100",
                                  "--otlp-batch-size", "16", *args]) as k:
            client = SteadyClient(port)
            client.start()
            client.join(timeout=COUNT / RATE + 60)
            assert not client.is_alive()
            assert client.statuses == [200] * COUNT
            # Let the last spans leave the trace buffer for the exporter.
            time.sleep(0.5)
            assert k.stop() == 0
    finally:
        server.stop()
    c = k.counters()
    produced = int(re.search(r"kspan: info: spans: exported=(\d+)", k.stderr).group(1))
    # Every request made a span, and every span reached the exporter.
    assert produced == COUNT, k.stderr
    assert c["received"] == produced
    # Nothing left behind, nothing rejected here: sent, failed or dropped.
    assert c["queue"] == 0 and c["rejected"] == 0
    assert c["sent"] + c["failed"] + c["dropped"] == c["received"], c
    # What the receiver accepted: exactly `sent` distinct spans of this
    # traffic, none twice.
    reqs = recv.requests("traces")
    ok = [r for r in reqs if r["answer"] == "ok"]
    spans = trace_spans(ok)
    paths = [s["attrs"]["url.path"] for s in spans]
    assert len(paths) == len(set(paths)), "a span arrived twice"
    assert set(paths) <= {f"/steady/{i}" for i in range(COUNT)}
    assert len(paths) == c["sent"]
    assert len(paths) + c["failed"] + c["dropped"] == COUNT
    # The faults really happened.
    answers = [r["answer"] for r in reqs]
    if faults:
        assert answers[:len(faults)] == faults[:len(answers)]
        assert len(answers) >= min(len(faults), 6)
    assert c["retried"] > 0, c
    if scenario == "503-bursts-small-queue" or scenario == "down-then-up":
        assert c["dropped"] > 0 and c["queue_max"] <= int(args[1]), c
    if scenario == "503-then-give-up":
        assert c["failed"] > 0, c
    if scenario in ("503-bursts", "reset"):
        assert c["sent"] == COUNT, c
    print(f"{scenario}: sent={c['sent']} failed={c['failed']} dropped={c['dropped']} "
          f"retried={c['retried']} requests={c['requests']}")
