# SPDX-License-Identifier: Apache-2.0
"""Selectors pick exactly the right processes: by executable, listening
port, cgroup and container id, started before and after kspan, inside and
outside a cgroup."""
import os
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from conftest import PY, SERVERS, Proc, free_port

SERVER = 2
CGROOT = Path("/sys/fs/cgroup/unified")


def curl(port, path):
    subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "10",
                    f"http://127.0.0.1:{port}{path}"], check=True)


def server_ports(spans):
    return sorted({s["attrs"]["server.port"] for s in spans if s["kind"] == SERVER})


def threaded(port, **kw):
    return Proc([PY, str(SERVERS), "threaded", str(port)], port, **kw)


def test_port_selector_before_and_after(kspan_factory):
    p1, p2, p3 = free_port(), free_port(), free_port()
    a, b = threaded(p1), threaded(p2)
    c = None
    try:
        with kspan_factory(["--port", str(p1), "--port", str(p3)]) as k:
            c = threaded(p3)          # started after kspan: picked up within a second
            time.sleep(1.5)
            for port in (p1, p2, p3):
                curl(port, f"/sel/{port}")
            time.sleep(0.5)
            assert k.stop() == 0
    finally:
        for p in (a, b, c):
            if p:
                p.stop()
    assert server_ports(k.spans()) == sorted([p1, p3])


def test_exe_selector(kspan_factory, nginx, threaded_server):
    with kspan_factory(["--exe", "*/nginx"]) as k:
        curl(nginx.port, "/index.html")
        curl(threaded_server.port, "/not-me")
        time.sleep(0.5)
        assert k.stop() == 0
    spans = [s for s in k.spans() if s["kind"] == SERVER]
    assert [s["attrs"]["url.path"] for s in spans] == ["/index.html"]
    assert spans[0]["resource"]["process.executable.name"] == "nginx"


@pytest.fixture
def cgroup():
    if not (CGROOT / "cgroup.procs").exists():
        pytest.skip(f"no cgroup v2 hierarchy at {CGROOT}")
    cid = secrets.token_hex(32)
    path = CGROOT / f"kspan-test-{os.getpid()}" / f"docker-{cid}.scope"
    path.mkdir(parents=True)
    yield path, cid
    for d in (path, path.parent):
        for pid in (d / "cgroup.procs").read_text().split():
            (CGROOT / "cgroup.procs").write_text(pid)
        d.rmdir()


def in_cgroup(path, port):
    """A server started inside the cgroup (it joins before exec)."""
    def join():
        (path / "cgroup.procs").write_text(str(os.getpid()))
    return threaded(port, preexec_fn=join)


@pytest.mark.parametrize("kind", ["cgroup", "container-id"])
def test_cgroup_and_container_selectors(kspan_factory, cgroup, kind):
    path, cid = cgroup
    inside_before, outside, inside_after = free_port(), free_port(), free_port()
    procs = [in_cgroup(path, inside_before), threaded(outside)]
    value = "/" + str(path.relative_to(CGROOT)) if kind == "cgroup" else cid[:16]
    try:
        with kspan_factory([f"--{kind}", value]) as k:
            procs.append(in_cgroup(path, inside_after))
            time.sleep(1.5)
            for port in (inside_before, outside, inside_after):
                curl(port, f"/cg/{port}")
            time.sleep(0.5)
            assert k.stop() == 0
    finally:
        for p in procs:
            p.stop()
    assert server_ports(k.spans()) == sorted([inside_before, inside_after])


def test_bad_selectors_are_clear():
    from conftest import KSPAN
    for args, msg in ((["--port", "0"], "invalid --port '0'"),
                      (["--cgroup", "kubepods"], "invalid --cgroup 'kubepods'"),
                      (["--container-id", "xyz"], "invalid --container-id 'xyz'")):
        r = subprocess.run([str(KSPAN), *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and msg in r.stderr
