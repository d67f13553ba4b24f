# SPDX-License-Identifier: Apache-2.0
"""An instrumented root: a Node.js client using the official OpenTelemetry
SDK (@opentelemetry/sdk-trace-node with instrumentation-http) calls an
uninstrumented server and exports its spans with the SDK's OTLP exporter to
the test receiver. kspan's server spans must share the SDK's trace id and
have the SDK's client span as their parent."""
import json
import os
import subprocess
import time

from conftest import ROOT, free_port, wait_port

SERVER = 2
SDK = ROOT / "tests" / "sdkclient"
RECEIVER = ROOT / "tests" / "receiver" / "receiver.js"


def test_server_spans_join_the_sdk_trace(kspan_factory, threaded_server, tmp_path):
    assert (SDK / "node_modules").is_dir(), "run make deps (npm ci in tests/sdkclient)"
    port = free_port()
    got = tmp_path / "received.jsonl"
    rx = subprocess.Popen(["node", str(RECEIVER), "--port", str(port), "--out", str(got)],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        urls = [f"http://127.0.0.1:{threaded_server.port}/sdk/{i}" for i in range(3)]
        env = {**os.environ, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":
               f"http://127.0.0.1:{port}/v1/traces", "OTEL_SERVICE_NAME": "sdk-client"}
        with kspan_factory(["--pid", str(threaded_server.pid)]) as k:
            r = subprocess.run(["node", str(SDK / "client.js"), *urls], capture_output=True,
                               text=True, timeout=60, env=env)
            assert r.returncode == 0, r.stderr
            time.sleep(0.5)
            assert k.stop() == 0
    finally:
        rx.terminate()
        rx.wait()
    sdk = []
    for line in got.read_text().splitlines():
        body = json.loads(line)["body"]
        for rs in body["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                sdk += ss["spans"]
    assert len(sdk) == 3 and all(s["kind"] == 3 for s in sdk)   # SPAN_KIND_CLIENT
    spans = {s["attrs"]["url.path"]: s for s in k.spans() if s["kind"] == SERVER}
    assert len(spans) == 3
    for s in sdk:
        attrs = {a["key"]: a["value"] for a in s["attributes"]}
        url = (attrs.get("http.url") or attrs.get("url.full"))["stringValue"]
        mine = spans[url.split(str(threaded_server.port), 1)[1]]
        assert mine["traceId"] == s["traceId"]
        assert mine["parentSpanId"] == s["spanId"]
        assert mine["spanId"] != s["spanId"]
        assert mine["flags"] == 1
