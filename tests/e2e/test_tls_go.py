# SPDX-License-Identifier: Apache-2.0
"""Go crypto/tls through uprobes at the entry and the RET instructions of
(*tls.Conn).Read and Write: a Go HTTPS server and a Go HTTPS client, built
from Debian's Go at test time (standard library only, no network), on
loopback. One binary does both, so that the client, started after kspan,
runs a file whose probes are already attached. HTTP/2 is switched off on
both sides (empty TLSNextProto): these are HTTP/1.1 spans."""
import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import Proc, free_port
from test_tls import by_kind, check_pairs, check_span, SERVER, CLIENT

GO_HTTPS = r"""
package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
)

func serve(addr, cert, key string) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch {
		case strings.HasPrefix(r.URL.Path, "/missing/"):
			http.NotFound(w, r)
		case r.Method == "POST":
			w.WriteHeader(201)
			w.Write(body)
		default:
			fmt.Fprintf(w, "hello from go\n")
		}
	})
	s := &http.Server{Addr: addr, Handler: h,
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
	fmt.Fprintln(os.Stderr, s.ListenAndServeTLS(cert, key))
	os.Exit(1)
}

// get PORT [METHOD:]PATH...: every request on one keep-alive connection,
// in order; prints the status codes as JSON.
func get(port string, reqs []string) {
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: 1,
	}
	c := &http.Client{Transport: tr}
	codes := []int{}
	for _, r := range reqs {
		method, path := "GET", r
		if i := strings.Index(r, ":"); i > 0 {
			method, path = r[:i], r[i+1:]
		}
		var body io.Reader
		if method == "POST" {
			body = bytes.NewReader(bytes.Repeat([]byte("x"), 300))
		}
		req, err := http.NewRequest(method, "https://127.0.0.1:"+port+path, body)
		if err != nil {
			panic(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	tr.CloseIdleConnections()
	json.NewEncoder(os.Stdout).Encode(codes)
}

func main() {
	if os.Args[1] == "serve" {
		serve(os.Args[2], os.Args[3], os.Args[4])
	}
	get(os.Args[2], os.Args[3:])
}
"""


def go_build(tmp_path, name, ldflags="", pie=False):
    """Build GO_HTTPS with Debian's Go, offline, caches under tmp_path."""
    go = shutil.which("go")
    if not go:
        pytest.skip("go is not installed (make deps: golang-go)")
    src = tmp_path / f"{name}-src"
    src.mkdir()
    (src / "main.go").write_text(GO_HTTPS)
    (src / "go.mod").write_text("module gohttps\n\ngo 1.17\n")
    env = dict(os.environ, HOME=str(tmp_path), GOCACHE=str(tmp_path / "gocache"),
               GOPATH=str(tmp_path / "gopath"), GOFLAGS="", GOPROXY="off",
               GOTOOLCHAIN="local", CGO_ENABLED="0")
    out = tmp_path / name
    args = [go, "build", "-o", str(out)]
    if pie:
        args.append("-buildmode=pie")
    if ldflags:
        args.append(f"-ldflags={ldflags}")
    subprocess.run(args + ["."], cwd=src, env=env, check=True, capture_output=True,
                   timeout=300)
    return out


def go_server(binary, certs):
    port = free_port()
    return Proc([str(binary), "serve", f"127.0.0.1:{port}", str(certs[0]), str(certs[1])],
                port)


def go_get(binary, port, *reqs):
    p = subprocess.run([str(binary), "get", str(port), *reqs], capture_output=True,
                       text=True, timeout=60, check=True)
    return json.loads(p.stdout)


def wait_attached(k, binary, timeout=10):
    """kspan -v says when it attached to a file."""
    end = time.time() + timeout
    while time.time() < end:
        for line in k.errfile.read_text().splitlines():
            if "tls: attached" in line and str(binary) in line:
                return line
        time.sleep(0.1)
    raise AssertionError(f"no probes on {binary}: {k.errfile.read_text()}")


def check_go_counters(k):
    c = k.counters()
    assert c["tls.plaintext_events"] > 0
    assert c["tls.cipher_skipped"] > 0
    assert c["tls.go_not_tcp"] == 0
    assert c["tls.no_sock"] == 0
    assert c["events.not_http_conns"] == 0
    assert c["events.bad_records"] == 0
    assert c["http1.parse_errors"] == 0
    assert c["bpf.ringbuf_drops"] == 0
    return c


REQS = [("GET", "/g/1", 200), ("POST", "/items", 201), ("GET", "/missing/2", 404),
        ("GET", "/g/3?x=1", 200)]


def run_keepalive(k, binary, port):
    codes = go_get(binary, port, *[f"{m}:{p}" for m, p, _ in REQS])
    assert codes == [c for _, _, c in REQS]
    time.sleep(0.5)
    assert k.stop() == 0
    spans = k.spans()
    servers = by_kind(spans, SERVER)
    clients = by_kind(spans, CLIENT)
    assert len(servers) == len(REQS) and len(clients) == len(REQS), spans
    for s, c, (m, p, code) in zip(servers, clients, REQS):
        check_span(s, SERVER, m, p.partition("?")[0], code, port)
        check_span(c, CLIENT, m, p.partition("?")[0], code, port)
        assert c["resource"]["process.executable.name"] == binary.name
        assert s["resource"]["process.executable.name"] == binary.name
    # One keep-alive connection for all of them.
    assert len({s["attrs"]["client.port"] for s in servers}) == 1
    assert servers[1]["attrs"]["http.request.body.size"] == 300
    assert clients[1]["attrs"]["http.response.body.size"] == 300
    assert servers[3]["attrs"]["url.query"] == "x=REDACTED"
    check_pairs(servers, clients)
    # The handshake, on the request that opened the connection only.
    for spans_ in (servers, clients):
        assert spans_[0]["attrs"]["kspan.tls.handshake_us"] > 0
        assert all("kspan.tls.handshake_us" not in s["attrs"] for s in spans_[1:])
    return servers, clients


def test_go_server_and_client(kspan_factory, certs, tmp_path):
    binary = go_build(tmp_path, "gohttps")
    srv = go_server(binary, certs)
    try:
        with kspan_factory(["--pid", str(srv.pid), "--pid", str(os.getpid()), "-v"]) as k:
            line = wait_attached(k, binary)
            assert "go crypto/tls, go1." in line and "offsets from DWARF" in line
            t0 = time.time_ns()
            servers, clients = run_keepalive(k, binary, srv.port)
            t1 = time.time_ns()
    finally:
        srv.stop()
    for s in (servers[0], clients[0]):
        # Measured inside the client's run, so bounded by it.
        assert s["attrs"]["kspan.tls.handshake_us"] * 1000 < t1 - t0
    c = check_go_counters(k)
    # Two handshakes: the client's and the server's.
    assert c["tls.handshakes"] == 2
    assert c["spans.exported"] == 2 * len(REQS)


def test_go_started_after_kspan_pie_without_dwarf(kspan_factory, certs, tmp_path):
    """A Go server built as a PIE (loaded at a random address: the probes
    find the load bias) with -ldflags=-w (no DWARF), started after kspan:
    found through exec, its offsets taken from the layout of its Go
    version."""
    binary = go_build(tmp_path, "gohttps-pie", ldflags="-w", pie=True)
    with kspan_factory(["--pid", str(os.getpid()), "-v"]) as k:
        srv = go_server(binary, certs)
        try:
            line = wait_attached(k, binary)
            assert "offsets of its Go version" in line
            run_keepalive(k, binary, srv.port)
        finally:
            srv.stop()
    check_go_counters(k)


def test_go_stripped_is_reported(kspan_factory, certs, tmp_path):
    """-ldflags=-s leaves no .symtab: kspan says why the binary's TLS is not
    traced; the ciphertext still never reaches the HTTP parsers."""
    binary = go_build(tmp_path, "gohttps-stripped", ldflags="-s -w")
    srv = go_server(binary, certs)
    try:
        with kspan_factory(["--pid", str(srv.pid), "--pid", str(os.getpid())]) as k:
            assert go_get(binary, srv.port, "/s/1") == [200]
            time.sleep(0.5)
            assert k.stop() == 0
    finally:
        srv.stop()
    assert "Go crypto/tls is not traced: the binary is stripped" in k.stderr
    assert k.spans() == []
    c = k.counters()
    assert c["tls.cipher_skipped"] > 0
    assert c["events.not_http_conns"] == 0 and c["http1.parse_errors"] == 0
