# SPDX-License-Identifier: Apache-2.0
"""An instrumented root: a Node.js client using the official OpenTelemetry
SDK (@opentelemetry/sdk-trace-node with instrumentation-http) calls an
uninstrumented server. kspan's server spans must share the SDK's trace id
and have the SDK's client span as their parent."""
import json
import os
import subprocess
import time

from conftest import ROOT

SERVER = 2
SDK = ROOT / "tests" / "sdkclient"


def test_server_spans_join_the_sdk_trace(kspan_factory, threaded_server):
    assert (SDK / "node_modules").is_dir(), "run make deps (npm ci in tests/sdkclient)"
    urls = [f"http://127.0.0.1:{threaded_server.port}/sdk/{i}" for i in range(3)]
    with kspan_factory(["--pid", str(threaded_server.pid)]) as k:
        r = subprocess.run(["node", str(SDK / "client.js"), *urls], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        time.sleep(0.5)
        assert k.stop() == 0
    sdk = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(sdk) == 3 and all(s["kind"] == 2 for s in sdk)   # api.SpanKind.CLIENT
    spans = {s["attrs"]["url.path"]: s for s in k.spans() if s["kind"] == SERVER}
    assert len(spans) == 3
    for s in sdk:
        path = s["url"].split(str(threaded_server.port), 1)[1]
        mine = spans[path]
        assert mine["traceId"] == s["traceId"]
        assert mine["parentSpanId"] == s["spanId"]
        assert mine["spanId"] != s["spanId"]
        assert mine["flags"] == 1
