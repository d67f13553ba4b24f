# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: the kspan binary, real servers on loopback, and a runner
that reads kspan's OTLP/JSON output back into plain dicts."""
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KSPAN = ROOT / "build" / "kspan"
PY = "/usr/bin/python3"
SERVERS = ROOT / "tests" / "e2e" / "servers.py"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


def attr_value(v):
    for k in ("stringValue", "boolValue", "doubleValue"):
        if k in v:
            return v[k]
    if "intValue" in v:
        return int(v["intValue"])
    raise AssertionError(f"unexpected attribute value {v}")


def attrs(lst):
    return {a["key"]: attr_value(a["value"]) for a in lst}


def parse_otlp_lines(text):
    """Every span of every ExportTraceServiceRequest line, flattened, with
    its resource attributes under 'resource'."""
    spans = []
    for line in text.splitlines():
        if not line.strip():
            continue
        req = json.loads(line)
        for rs in req["resourceSpans"]:
            res = attrs(rs["resource"]["attributes"])
            for ss in rs["scopeSpans"]:
                assert ss["scope"]["name"] == "kspan"
                for sp in ss["spans"]:
                    sp = dict(sp)
                    sp["attrs"] = attrs(sp.get("attributes", []))
                    sp["resource"] = res
                    sp["start"] = int(sp["startTimeUnixNano"])
                    sp["end"] = int(sp["endTimeUnixNano"])
                    spans.append(sp)
    return spans


class Kspan:
    """kspan running with the OTLP/JSON exporter into a file."""

    def __init__(self, tmp_path, args=(), linger_ms=200, env=None):
        self.out = tmp_path / f"spans-{time.monotonic_ns()}.jsonl"
        self.errfile = tmp_path / f"kspan-{time.monotonic_ns()}.err"
        self.args = [str(KSPAN), "--exporter", "otlp-json", "--output", str(self.out),
                     "--linger-ms", str(linger_ms), *args]
        self.env = env
        self.proc = None
        self.stderr = ""

    def __enter__(self):
        self.err = open(self.errfile, "w")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self.err,
                                     env=self.env)
        end = time.time() + 20
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"kspan exited early: {self.errfile.read_text()}")
            if "kspan: info: tracing" in self.errfile.read_text():
                return self
            time.sleep(0.05)
        raise TimeoutError("kspan did not start")

    def stop(self, sig=signal.SIGINT):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60)
        self.err.close()
        self.stderr = self.errfile.read_text()
        return rc

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.stop()

    def spans(self):
        return parse_otlp_lines(self.out.read_text()) if self.out.exists() else []

    def counters(self):
        """The key=value counters kspan prints on exit."""
        out = {}
        for line in self.stderr.splitlines():
            if not line.startswith("kspan: info: ") or "=" not in line:
                continue
            group, _, rest = line[len("kspan: info: "):].partition(": ")
            for kv in rest.split():
                k, _, v = kv.partition("=")
                if v.isdigit():
                    out[f"{group}.{k}"] = int(v)
        return out


@pytest.fixture
def kspan_factory(tmp_path):
    started = []

    def make(args=(), linger_ms=200):
        k = Kspan(tmp_path, args, linger_ms)
        started.append(k)
        return k
    yield make
    for k in started:
        if k.proc and k.proc.poll() is None:
            k.stop()


class Proc:
    """A server we started; stopped by pid only."""

    def __init__(self, args, port, **kw):
        self.port = port
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, **kw)
        wait_port(port)
        self.pid = self.p.pid

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


@pytest.fixture
def http_server():
    """python3 -m http.server (HTTP/1.0, one connection per request)."""
    port = free_port()
    srv = Proc([PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"], port,
               cwd=str(ROOT / "tests" / "e2e"))
    yield srv
    srv.stop()


@pytest.fixture
def threaded_server():
    """A threaded HTTP/1.1 keep-alive server with test routes."""
    port = free_port()
    srv = Proc([PY, str(SERVERS), "threaded", str(port)], port)
    yield srv
    srv.stop()


def start_nginx(tmp_path, files, listen="", server_conf=""):
    """nginx, one worker, on a free loopback port: files (path under the
    root -> str or bytes) from a fresh root, /fail/... answered 503. listen
    is added to the listen line ("ssl http2"), server_conf to the server
    block (certificates)."""
    port = free_port()
    root = tmp_path / "nginx"
    www = root / "www"
    for name, data in files.items():
        (www / name).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            (www / name).write_bytes(data)
        else:
            (www / name).write_text(data)
    conf = root / "nginx.conf"
    conf.write_text(f"""
user root;
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {root}/body; proxy_temp_path {root}/proxy;
  fastcgi_temp_path {root}/fcgi; uwsgi_temp_path {root}/uwsgi; scgi_temp_path {root}/scgi;
  server {{
    listen 127.0.0.1:{port} {listen};
    {server_conf}
    root {www};
    location /fail/ {{ return 503; }}
  }}
}}
""")
    return Proc(["nginx", "-c", str(conf)], port)


@pytest.fixture
def nginx(tmp_path):
    srv = start_nginx(tmp_path, {"index.html": "hello from nginx\n",
                                 "big.bin": os.urandom(200_000)})
    yield srv
    srv.stop()


@pytest.fixture
def certs(tmp_path):
    """A self-signed certificate and its key, made for this test."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    return cert, key


def nginx_https(tmp_path, certs, listen, protocols):
    """start_nginx over TLS with the files the TLS tests ask for."""
    return start_nginx(tmp_path, {"index.html": "hello from nginx\n", "users/7": "user 7\n"},
                       listen=listen,
                       server_conf=f"ssl_certificate {certs[0]}; ssl_certificate_key {certs[1]}; "
                                   f"ssl_protocols {protocols};")
