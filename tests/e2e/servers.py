# SPDX-License-Identifier: Apache-2.0
"""Test servers and clients, standard library only (Debian's python3)."""
import http.client
import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", chunked=False):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 7):
                part = body[i:i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        if parts[0] == "status" and len(parts) > 1:
            self._send(int(parts[1]), b"status\n")
        elif parts[0] == "chunked":
            self._send(200, b"a chunked body spread over several chunks\n", chunked=True)
        else:
            self._send(200, ("ok " + path + "\n").encode())

    do_HEAD = do_GET

    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        self._send(201, body)


def threaded(port):
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def keepalive_client(port, paths):
    """Sequential requests on one keep-alive connection (http.client)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for p in paths:
        method = "POST" if p.startswith("POST ") else "GET"
        path = p.split(" ", 1)[-1]
        body = b"x" * 300 if method == "POST" else None
        conn.request(method, path, body=body)
        r = conn.getresponse()
        r.read()
        out.append(r.status)
    conn.close()
    return out


def pipelined_client(port, paths):
    """All requests in one write, then read every response."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    req = b"".join(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (p.encode(), port)
                   for p in paths)
    s.sendall(req)
    f = s.makefile("rb")
    statuses = []
    for _ in paths:
        line = f.readline()
        statuses.append(int(line.split()[1]))
        length = 0
        while True:
            h = f.readline()
            if h in (b"\r\n", b""):
                break
            if h.lower().startswith(b"content-length:"):
                length = int(h.split(b":")[1])
        f.read(length)
    s.close()
    return statuses


def answer_after_close(port):
    """One connection at a time: read a request, wait until the client has
    closed its end, then answer and close. The response reaches a socket
    that is gone, whose reset closes ours inside the write. Prints a line
    per connection, once its socket is closed."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    print("ready", flush=True)
    while True:
        c, peer = ls.accept()
        req = b""
        while b"\r\n\r\n" not in req:
            got = c.recv(4096)
            if not got:
                break
            req += got
        while c.recv(4096):     # until the client's FIN
            pass
        try:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
        except OSError:
            pass
        try:
            c.recv(1)
        except OSError:
            pass
        c.close()
        print("closed", peer[1], flush=True)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "threaded":
        threaded(int(sys.argv[2]))
    elif cmd == "keepalive":
        print(json.dumps(keepalive_client(int(sys.argv[2]), sys.argv[3:])))
    elif cmd == "answer_after_close":
        answer_after_close(int(sys.argv[2]))
    elif cmd == "pipelined":
        print(json.dumps(pipelined_client(int(sys.argv[2]), sys.argv[3:])))
