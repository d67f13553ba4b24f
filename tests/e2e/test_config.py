# SPDX-License-Identifier: Apache-2.0
"""The config file, KSPAN_* variables and service naming, with real servers:
which processes a file or the environment selects, which level wins, the
service.name each process gets from its environment, naming rules, a fake
kubelet log tree and real cgroups, and the exit status and message of a bad
file."""
import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import KSPAN, PY, ROOT, Kspan, Proc, free_port

SERVER = 2
CGROOT = Path("/sys/fs/cgroup/unified")
PY_EXE = os.path.basename(os.path.realpath(PY))


def clean_env(**extra):
    """This environment without OTEL_*, KSPAN_* or Kubernetes variables."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "KSPAN_", "KUBERNETES_"))}
    env.update(extra)
    return env


def http_server(port, exe=PY, env=None, cgroup=None, cwd=None):
    def join():
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))
    return Proc([str(exe), "-m", "http.server", str(port), "--bind", "127.0.0.1"], port,
                env=env if env is not None else clean_env(), cwd=cwd,
                preexec_fn=join if cgroup else None)


def curl(port, path="/"):
    subprocess.run(["curl", "-sS", "-o", "/dev/null", "--max-time", "10",
                    f"http://127.0.0.1:{port}{path}"], check=True)


def names_by_port(spans):
    """server.port -> the set of service.names of its SERVER spans."""
    out = {}
    for s in spans:
        if s["kind"] == SERVER:
            out.setdefault(s["attrs"]["server.port"], set()).add(s["resource"]["service.name"])
    return out


def server_ports(spans):
    return sorted({s["attrs"]["server.port"] for s in spans if s["kind"] == SERVER})


def run_kspan(tmp_path, args=(), env=None, requests=()):
    """kspan until the requests were served; returns it stopped."""
    k = Kspan(tmp_path, args, env=env if env is not None else clean_env())
    with k:
        time.sleep(1.5)           # a selector scan has run
        for port in requests:
            curl(port, f"/cfg/{port}")
        time.sleep(0.5)
        assert k.stop() == 0, k.stderr
    return k


@pytest.fixture
def procs():
    started = []
    yield started
    for p in started:
        p.stop()


@pytest.fixture
def pyexe(tmp_path):
    """A copy of python3 under another name: an executable of its own."""
    def make(name):
        dst = tmp_path / name
        shutil.copy(os.path.realpath(PY), dst)
        return dst
    return make


@pytest.fixture
def cgroups():
    """Cgroups under a test parent in the v2 hierarchy, removed at the end
    (their processes moved back to the root first)."""
    if not (CGROOT / "cgroup.procs").exists():
        pytest.skip(f"no cgroup v2 hierarchy at {CGROOT}")
    parent = CGROOT / f"kspan-cfg-{os.getpid()}-{secrets.token_hex(3)}"
    made = []

    def make(rel):
        path, todo = parent / rel, []
        p = path
        while not p.exists():
            todo.append(p)
            p = p.parent
        for d in reversed(todo):
            d.mkdir()
            made.append(d)
        return path
    yield make
    for d in sorted(made, key=lambda p: len(p.parts), reverse=True):
        for pid in (d / "cgroup.procs").read_text().split():
            try:
                (CGROOT / "cgroup.procs").write_text(pid)
            except OSError:
                pass          # exited meanwhile
        d.rmdir()


def pod_cgroup(cgroups, uid, cid):
    """The cgroup a kubelet with the systemd driver and containerd makes."""
    return cgroups(f"kubepods.slice/kubepods-besteffort.slice/"
                   f"kubepods-besteffort-pod{uid.replace('-', '_')}.slice/"
                   f"cri-containerd-{cid}.scope")


def test_service_name_precedence(tmp_path, procs, pyexe, cgroups):
    """One process per row, each named by a different step of the order."""
    logs = tmp_path / "log"
    ports = {k: free_port() for k in ("env", "resattr", "rule_env", "port", "exe", "cgroup",
                                      "container", "pods", "label", "plain", "override")}
    uid_c, cid_c = "5f2c1a7e-0d4b-4c7e-9a1f-3b2d6e8f9a01", secrets.token_hex(32)
    uid_p = "6a3d2b8f-1e5c-4d8f-8b2a-4c3e7f9a0b12"
    uid_l, cid_l = "7b4e3c9a-2f6d-4e9a-9c3b-5d4f8a0b1c23", secrets.token_hex(32)
    # The kubelet's log directory: a symlink per container named
    # <pod>_<namespace>_<container>-<container id>.log, a directory per pod.
    (logs / "containers").mkdir(parents=True)
    (logs / "pods" / f"shop_checkout-7d9f8_{uid_c}" / "checkout").mkdir(parents=True)
    (logs / "pods" / f"shop_checkout-7d9f8_{uid_c}" / "istio-proxy").mkdir(parents=True)
    (logs / "containers" / f"checkout-7d9f8_shop_checkout-{cid_c}.log").symlink_to(
        logs / "pods" / f"shop_checkout-7d9f8_{uid_c}" / "checkout" / "0.log")
    (logs / "pods" / f"shop_cart-5c6d_{uid_p}" / "cart").mkdir(parents=True)
    cfg = tmp_path / "naming.yaml"
    cfg.write_text(f"""
port: [{', '.join(str(p) for p in ports.values())}]
service-names:
  log-dir: {logs}
  label-env: [APP_NAME]
  rules:
    - name: forced
      port: {ports['override']}
      override: true
    - name: by-port
      port: [{ports['port']}, {ports['rule_env']}, {ports['env']}]
    - name: by-exe
      exe: "*/pyexe-named"
    - name: by-cgroup
      cgroup: "*/billing.slice"
""")
    cg_billing = cgroups("billing.slice")
    cg_container = pod_cgroup(cgroups, uid_c, cid_c)
    # A pod uid in the cgroup but no container id: found by its pod directory.
    cg_pods = cgroups(f"kubepods/besteffort/pod{uid_p}/no-id-here")
    cg_label = pod_cgroup(cgroups, uid_l, cid_l)
    rows = [
        # (port, how it is started, expected service.name)
        ("env", dict(env=clean_env(OTEL_SERVICE_NAME="svc-from-env",
                                   OTEL_RESOURCE_ATTRIBUTES="service.name=not-this")),
         "svc-from-env"),
        ("resattr", dict(env=clean_env(
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment=test,service.name=res%20name")),
         "res name"),
        ("rule_env", dict(env=clean_env(OTEL_RESOURCE_ATTRIBUTES="service.name=own-name")),
         "own-name"),
        ("port", {}, "by-port"),
        ("exe", dict(exe=pyexe("pyexe-named")), "by-exe"),
        ("cgroup", dict(cgroup=cg_billing), "by-cgroup"),
        ("container", dict(cgroup=cg_container), "checkout"),
        ("pods", dict(cgroup=cg_pods), "cart"),
        ("label", dict(cgroup=cg_label, env=clean_env(APP_NAME="label-app")), "label-app"),
        ("plain", {}, PY_EXE),
        ("override", dict(env=clean_env(OTEL_SERVICE_NAME="not-this-either")), "forced"),
    ]
    for key, kw, _ in rows:
        procs.append(http_server(ports[key], **kw))
    k = run_kspan(tmp_path, ["--config", str(cfg), "-v"], requests=list(ports.values()))
    got = names_by_port(k.spans())
    want = {ports[key]: {name} for key, _, name in rows}
    assert got == want, k.stderr
    # -v says where each name came from, rules by their line in the file.
    lines = cfg.read_text().splitlines()
    forced = lines.index("    - name: forced") + 1
    pids = {key: p.pid for (key, _, _), p in zip(rows, procs)}
    for key, how in (("override", f"the override rule on line {forced}"),
                     ("env", "its OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES"),
                     ("container", "its Kubernetes container name"),
                     ("label", "its app.kubernetes.io/name label"),
                     ("plain", "its executable")):
        name = next(iter(want[ports[key]]))
        assert f"kspan: debug: pid {pids[key]}: service.name '{name}' from {how}" in k.stderr, \
            k.stderr


def test_config_selects_by_exe_and_port(tmp_path, procs, pyexe):
    p_exe, p_port, p_other = free_port(), free_port(), free_port()
    procs += [http_server(p_exe, exe=pyexe("pyexe-sel")), http_server(p_port),
              http_server(p_other)]
    cfg = tmp_path / "select.yaml"
    cfg.write_text(f'exe: ["*/pyexe-sel"]\nport: [{p_port}]\n')
    k = run_kspan(tmp_path, ["--config", str(cfg)], requests=[p_exe, p_port, p_other])
    assert server_ports(k.spans()) == sorted([p_exe, p_port])
    # KSPAN_CONFIG names the file just as well.
    k = run_kspan(tmp_path, env=clean_env(KSPAN_CONFIG=str(cfg)),
                  requests=[p_exe, p_port, p_other])
    assert server_ports(k.spans()) == sorted([p_exe, p_port])


def test_env_selects_by_exe_and_port(tmp_path, procs, pyexe):
    p_exe, p_port, p_other = free_port(), free_port(), free_port()
    procs += [http_server(p_exe, exe=pyexe("pyexe-env")), http_server(p_port),
              http_server(p_other)]
    k = run_kspan(tmp_path, env=clean_env(KSPAN_EXE="/nonexistent/x, */pyexe-env",
                                          KSPAN_PORT=str(p_port)),
                  requests=[p_exe, p_port, p_other])
    assert server_ports(k.spans()) == sorted([p_exe, p_port])


def test_levels_replace_lower_ones(tmp_path, procs):
    """port from the file, the environment and the command line: the highest
    level that sets it is the only one used."""
    p_file, p_env, p_cmd = free_port(), free_port(), free_port()
    procs += [http_server(p) for p in (p_file, p_env, p_cmd)]
    cfg = tmp_path / "levels.yaml"
    cfg.write_text(f"port: [{p_file}]\n")
    everyone = [p_file, p_env, p_cmd]
    k = run_kspan(tmp_path, ["--config", str(cfg)], requests=everyone)
    assert server_ports(k.spans()) == [p_file]
    k = run_kspan(tmp_path, ["--config", str(cfg)], env=clean_env(KSPAN_PORT=str(p_env)),
                  requests=everyone)
    assert server_ports(k.spans()) == [p_env]
    k = run_kspan(tmp_path, ["--config", str(cfg), "--port", str(p_cmd)],
                  env=clean_env(KSPAN_PORT=str(p_env)), requests=everyone)
    assert server_ports(k.spans()) == [p_cmd]


BAD = [
    # (file text, line, what the message says)
    ("port: [8080]\nexes: ['*/nginx']\n", 2, "key 'exes': unknown key"),
    ("exporter: otlp\nport:\n  - 8080\n  - 0\n", 2, "key 'port': invalid value"),
    ("inject-traceparent: yes\n", 1, "key 'inject-traceparent': expected true or false"),
    ("exe: {nginx: 1}\n", 1, "key 'exe': expected a value or a list of values, not a mapping"),
    ("exporter: zipkin\n", 1, "key 'exporter': invalid value"),
    ("capture-bytes: 10\n", 1, "key 'capture-bytes': invalid value"),
    ("port: [8080\nexe: x\n", 2, "invalid YAML"),
    ("service-names:\n  rules:\n    - name: x\n      port: 80\n      exe: [a]\n"
     "    - name: y\n      prot: 81\n", 7, "key 'service-names.rules[1].prot': unknown key"),
]


@pytest.mark.parametrize("text,line,msg", BAD, ids=[b[2].split(":")[0] for b in BAD])
def test_bad_config_exits_2(tmp_path, text, line, msg):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    r = subprocess.run([str(KSPAN), "--config", str(cfg)], capture_output=True, text=True,
                       timeout=60, env=clean_env())
    assert r.returncode == 2
    assert f"kspan: error: {cfg}:{line}: {msg}" in r.stderr, r.stderr
    assert "tracing" not in r.stderr
    # The same file through KSPAN_CONFIG.
    r = subprocess.run([str(KSPAN)], capture_output=True, text=True, timeout=60,
                       env=clean_env(KSPAN_CONFIG=str(cfg)))
    assert r.returncode == 2 and f"{cfg}:{line}: " in r.stderr


def test_bad_variables_exit_2(tmp_path):
    for var, val, msg in (("KSPAN_PORT", "http", "invalid --port 'http'"),
                          ("KSPAN_NO_TLS", "sure", "invalid KSPAN_NO_TLS='sure'"),
                          ("KSPAN_CONFIG", str(tmp_path / "missing.yaml"),
                           "failed to open config file")):
        r = subprocess.run([str(KSPAN)], capture_output=True, text=True, timeout=60,
                           env=clean_env(**{var: val}))
        assert r.returncode == 2 and msg in r.stderr, r.stderr


def yaml_block(text, heading):
    """The first ```yaml block after heading in a Markdown text."""
    rest = text[text.index(heading):]
    m = re.search(r"```yaml\n(.*?)```", rest, re.S)
    return m.group(1)


def test_shipped_examples_are_valid(tmp_path):
    """The README's example and the DaemonSet's ConfigMap load (the command
    line picks a file exporter and a short run)."""
    readme = yaml_block((ROOT / "README.md").read_text(), "### Configuration")
    docs = yaml.safe_load_all((ROOT / "deploy" / "kspan-daemonset.yaml").read_text())
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    for name, text in (("readme.yaml", readme), ("configmap.yaml", cm["data"]["kspan.yaml"])):
        cfg = tmp_path / name
        cfg.write_text(text)
        assert "service-names" in yaml.safe_load(text)
        r = subprocess.run([str(KSPAN), "--config", str(cfg), "--exporter", "otlp-json",
                            "--output", str(tmp_path / "out.jsonl"), "--duration", "1"],
                           capture_output=True, text=True, timeout=120, env=clean_env())
        assert r.returncode == 0, r.stderr
