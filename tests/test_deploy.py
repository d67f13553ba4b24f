# SPDX-License-Identifier: Apache-2.0
"""The deployment files parse and say what the README promises. A cluster
cannot run here, so this checks structure only."""
from pathlib import Path

import yaml

from conftest import ROOT

DEPLOY = ROOT / "deploy"


def test_daemonset_structure():
    docs = list(yaml.safe_load_all((DEPLOY / "kspan-daemonset.yaml").read_text()))
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostPID"] is True
    (c,) = spec["containers"]
    sc = c["securityContext"]
    assert sc["privileged"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    # Exactly the set the privilege test runs kspan with.
    assert sorted(sc["capabilities"]["add"]) == sorted(
        ["BPF", "PERFMON", "NET_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"])
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/sys/kernel/btf", "/sys/fs/cgroup", "/sys/kernel/tracing"} <= mounts
    assert c["resources"]["limits"]["memory"] and c["resources"]["limits"]["cpu"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://otel-collector")
    assert ds["spec"]["selector"]["matchLabels"] == ds["spec"]["template"]["metadata"]["labels"]


def test_dockerfile_builds_with_make():
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.count("FROM debian:bookworm") == 2
    assert "RUN make all" in text
    assert "COPY --from=build /src/build/kspan" in text
