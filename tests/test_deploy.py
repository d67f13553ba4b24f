# SPDX-License-Identifier: Apache-2.0
"""The deployment files parse and say what the README promises, and the
image's package lists come from the Makefile and cover what the build and
the binary use. A cluster and a Docker engine cannot run here, so this checks
structure and the Debian packages of this machine's build only."""
import os
import re
import shutil
import subprocess
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


def make_var(name):
    return subprocess.run(["make", "-s", "--no-print-directory", "--eval", f"print-var: ; @echo $({name})",
                           "print-var"], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.split()


def owners(paths):
    """{path: Debian package} for files dpkg knows, trying the resolved and
    the /usr-merged twin of each path too."""
    found = {}
    for twin in (lambda p: p, os.path.realpath,
                 lambda p: p[4:] if p.startswith("/usr/") else "/usr" + p):
        want = {twin(p): p for p in paths if p not in found}
        if not want:
            break
        out = subprocess.run(["dpkg", "-S", *want], capture_output=True, text=True).stdout
        for line in out.splitlines():
            pkgs, _, path = line.partition(": ")
            if path in want and not line.startswith("diversion"):
                found[want[path]] = pkgs.split(",")[0].split(":")[0].strip()
    return found


def installed_closure(roots):
    """The installed packages that roots depend on, with every alternative
    and through every level (Depends and Pre-Depends)."""
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Provides}\t${Depends}, ${Pre-Depends}\n"],
                         check=True, capture_output=True, text=True).stdout
    deps, provided = {}, {}
    for line in out.splitlines():
        pkg, provides, dep = line.split("\t")
        deps[pkg] = [re.split(r"[\s(:]", d.strip())[0] for d in re.split(r"[,|]", dep) if d.strip()]
        for v in provides.split(","):
            if v.strip():
                provided.setdefault(re.split(r"[\s(]", v.strip())[0], []).append(pkg)
    seen, todo = set(), list(roots)
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        todo += deps.get(p, []) + provided.get(p, [])
    return seen


def test_dockerfile_installs_what_the_makefile_says():
    text = (DEPLOY / "Dockerfile").read_text()
    assert text.count("FROM debian:bookworm") == 2
    assert "RUN make build-deps && make all && make -s runtime-pkgs > build/runtime-pkgs" in text
    assert "$(cat /tmp/runtime-pkgs)" in text
    assert "COPY --from=build /src/build/kspan" in text
    # No package list kept by hand beside the Makefile's.
    assert not re.search(r"\blib[a-z0-9-]+\b(?!\.)", text.split("FROM debian:bookworm AS build")[1]
                         .replace("runtime-pkgs", ""))


def test_runtime_pkgs_cover_what_kspan_loads():
    kspan = ROOT / "build" / "kspan"
    pkgs = set(subprocess.run(["make", "-s", "--no-print-directory", "runtime-pkgs"], cwd=ROOT,
                              check=True, capture_output=True, text=True).stdout.split())
    # Every library the binary names (NEEDED), found where the loader would.
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", subprocess.run(
        ["readelf", "-d", str(kspan)], check=True, capture_output=True, text=True).stdout)
    # The loader's cache, for this machine's architecture only.
    arch = subprocess.run(["cc", "-print-multiarch"], check=True, capture_output=True,
                          text=True).stdout.strip()
    cache = {name: path for name, path in re.findall(
        r"^\s*(\S+) \(libc6[^)]*\) => (\S+)$", subprocess.run(
            ["ldconfig", "-p"], check=True, capture_output=True, text=True).stdout, re.M)
        if f"/{arch}/" in path}
    # And every library it dlopens by soname.
    dlopened = set(re.findall(rb"lib[a-z0-9_-]+\.so\.\d+", kspan.read_bytes())) - {
        n.encode() for n in needed}
    assert b"libcapstone.so.4" in dlopened
    paths = [cache[n] for n in needed] + [cache[n.decode()] for n in dlopened if n.decode() in cache]
    own = owners(paths)
    assert set(own) == set(paths), f"no package owns {set(paths) - set(own)}"
    assert set(own.values()) <= pkgs, f"runtime-pkgs misses {set(own.values()) - pkgs}"


def test_build_pkgs_cover_headers_tools_and_libraries():
    """Every header the build includes, every tool it runs and every
    library it links comes from BUILD_PKGS or what they depend on: the
    image's build stage installs nothing else."""
    allowed = installed_closure(make_var("BUILD_PKGS"))
    cflags = make_var("CFLAGS")
    deps = subprocess.run(["cc", *cflags, "-M", *sorted(map(str, (ROOT / "user").glob("*.c")))],
                          cwd=ROOT, check=True, capture_output=True, text=True).stdout
    deps += subprocess.run([make_var("CLANG")[0], *make_var("BPF_CFLAGS"), "-M",
                            *sorted(map(str, (ROOT / "bpf").glob("*.bpf.c")))],
                           cwd=ROOT, check=True, capture_output=True, text=True).stdout
    headers = {w for w in deps.replace("\\\n", " ").split() if w.startswith("/usr/")}
    tools = [shutil.which(t) for t in ("cc", make_var("CLANG")[0], make_var("LLVM_STRIP")[0],
                                       make_var("BPFTOOL")[0], make_var("PROTOC_C")[0])]
    assert all(tools)
    libs = []
    for flag in make_var("LDLIBS") + make_var("CORE_LDLIBS"):
        if flag.startswith("-l") and flag not in ("-lm", "-lpthread"):
            path = subprocess.run(["cc", f"-print-file-name=lib{flag[2:]}.so"], check=True,
                                  capture_output=True, text=True).stdout.strip()
            assert path.startswith("/"), f"{flag}: no lib{flag[2:]}.so"
            libs.append(os.path.normpath(path))
    paths = sorted(headers) + tools + libs
    own = owners(paths)
    assert set(own) == set(paths), f"no package owns {set(paths) - set(own)}"
    missing = {p: pkg for p, pkg in own.items() if pkg not in allowed}
    assert not missing, f"not from BUILD_PKGS: {missing}"
