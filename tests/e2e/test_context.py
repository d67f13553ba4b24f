# SPDX-License-Identifier: Apache-2.0
"""Propagated context read from real requests: a server span whose request
carries valid context joins the caller's trace with the caller's span as its
parent; invalid context restarts the trace."""
import os
import subprocess
import time

SERVER = 2
TID = "4bf92f3577b34da6a3ce929d0e0e4736"
SID = "00f067aa0ba902b7"


def curl(port, path, *headers):
    args = ["curl", "-sS", "-o", "/dev/null", "--max-time", "10"]
    for h in headers:
        args += ["-H", h]
    subprocess.run(args + [f"http://127.0.0.1:{port}{path}"], check=True)


def test_incoming_context(kspan_factory, threaded_server):
    port = threaded_server.port
    with kspan_factory(["--pid", str(threaded_server.pid),
                        "--baggage-attributes", "tenant,user.tier"]) as k:
        curl(port, "/w3c", f"traceparent: 00-{TID}-{SID}-01",
             "tracestate: vendor=opaque", "baggage: tenant=acme%20corp, other=1;p=x, user.tier=gold")
        curl(port, "/unsampled", f"TraceParent:  00-{TID}-{SID}-00 ")
        curl(port, "/upper", f"traceparent: 00-{TID.upper()}-{SID}-01")
        curl(port, "/version-ff", f"traceparent: ff-{TID}-{SID}-01")
        curl(port, "/zero", f"traceparent: 00-{'0' * 32}-{SID}-01")
        curl(port, "/future", f"traceparent: cc-{TID}-{SID}-01-what-the-future-will-be-like")
        curl(port, "/dup", f"traceparent: 00-{TID}-{SID}-01", f"traceparent: 00-{TID}-{SID}-01")
        curl(port, "/b3", f"b3: {TID}-{SID}-1")
        curl(port, "/b3multi", f"X-B3-TraceId: {TID[16:]}", f"X-B3-SpanId: {SID}",
             "X-B3-Sampled: 1")
        curl(port, "/jaeger", f"uber-trace-id: {TID}%3A{SID}%3A0%3A1")
        curl(port, "/none")
        time.sleep(0.5)
        assert k.stop() == 0
    spans = {s["attrs"]["url.path"]: s for s in k.spans() if s["kind"] == SERVER}
    # The default sampler, parentbased_always_on, honours the caller's
    # "not sampled" flag: that trace is not exported.
    assert len(spans) == 10 and "/unsampled" not in spans

    def joined(path, trace=TID, flags=1):
        s = spans[path]
        assert s["traceId"] == trace, path
        assert s["parentSpanId"] == SID, path
        assert s["spanId"] != SID
        assert s.get("flags", 0) == flags, path

    def restarted(path):
        s = spans[path]
        assert s["traceId"] != TID and "parentSpanId" not in s, path

    joined("/w3c")
    joined("/future")
    joined("/b3")
    joined("/b3multi", trace="0" * 16 + TID[16:])
    joined("/jaeger")
    for p in ("/upper", "/version-ff", "/zero", "/dup", "/none"):
        restarted(p)
    assert spans["/w3c"]["attrs"]["tenant"] == "acme corp"
    assert spans["/w3c"]["attrs"]["user.tier"] == "gold"
    assert "tenant" not in spans["/none"]["attrs"]
    c = k.counters()
    assert c["spans.sampled_out"] == 1
    assert c["context.valid"] == 6
    assert c["context.traceparent_invalid"] == 3
    assert c["context.traceparent_duplicate"] == 1


def test_head_sampler_from_environment(kspan_factory, threaded_server, monkeypatch):
    port = threaded_server.port
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    with kspan_factory(["--pid", str(threaded_server.pid)]) as k:
        for i in range(5):
            curl(port, f"/off/{i}")
        time.sleep(0.5)
        assert k.stop() == 0
    assert k.spans() == []
    assert k.counters()["spans.sampled_out"] == 5
    # always_on ignores the caller's flag and exports, marked sampled.
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_on")
    with kspan_factory(["--pid", str(threaded_server.pid)]) as k:
        curl(port, "/on", f"traceparent: 00-{TID}-{SID}-00")
        time.sleep(0.5)
        assert k.stop() == 0
    (s,) = k.spans()
    assert s["traceId"] == TID and s["parentSpanId"] == SID and s["flags"] == 1
