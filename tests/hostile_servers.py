"""Real HTTP servers that misbehave, for the fault-injection tests of issue 20 (tests/test_hostile.py).

Each listens on 127.0.0.1 in a thread of the test process and speaks real HTTP over a real socket; none replaces
any of the cookbook's code. ``KeyChecked`` is SGLang's API-key check (``--api-key``: every path but ``/health``
and ``/metrics`` wants ``Authorization: Bearer KEY``) in front of a real OpenAI server (the embedded llama.cpp
one), answering SGLang's own ``/get_server_info`` (all server arguments, the key included) itself.
"""

from __future__ import annotations

import http.client
import http.server
import json
import threading
import time
import urllib.parse
from contextlib import contextmanager


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def serve(handler_cls, **attrs):
    """Run ``handler_cls`` (a BaseHTTPRequestHandler) on a free port; yields ``(base_url, server)``.
    ``attrs`` become attributes of the server (handlers read them as ``self.server.NAME``)."""
    httpd = _Server(("127.0.0.1", 0), handler_cls)
    for k, v in attrs.items():
        setattr(httpd, k, v)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


class Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # the test's output stays the cookbook's
        pass

    def send_body(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class KeyChecked(Quiet):
    """SGLang's ``--api-key`` check in front of ``self.server.upstream`` (a real OpenAI-compatible server).

    Server attributes: ``key``; ``upstream`` (base URL); ``seen`` (list of (method, path, authorized) for every
    request); ``server_info`` (the JSON ``/get_server_info`` answers; SGLang's holds ``api_key``); ``metrics``
    (the text of ``/metrics``)."""

    OPEN = ("/health", "/metrics")  # sglang/srt/utils/common.py add_api_key_middleware

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.server.key}"

    def _handle(self, method: str) -> None:
        path = urllib.parse.urlsplit(self.path).path
        ok = self._authorized()
        self.server.seen.append((method, path, ok))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if not path.startswith(self.OPEN) and not ok:
            return self.send_body(401, b'{"error": "Unauthorized"}')
        if path == "/health":
            return self.send_body(200, b"")
        if path == "/metrics":
            return self.send_body(200, self.server.metrics.encode(), "text/plain; version=0.0.4")
        if path in ("/get_server_info", "/server_info"):
            return self.send_body(200, json.dumps(self.server.server_info).encode())
        self._forward(method, body)

    def _forward(self, method: str, body: bytes) -> None:
        up = urllib.parse.urlsplit(self.server.upstream)
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=300)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization", "connection")}
        conn.request(method, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(k, v)
        self.send_header("Connection", "close")  # the body ends when the connection does (streams pass through)
        self.end_headers()
        self.close_connection = True
        while True:
            piece = resp.read1(65536)
            if not piece:
                break
            self.wfile.write(piece)
            self.wfile.flush()
        conn.close()

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")


class Drip(Quiet):
    """Headers at once, then the body one byte a second for ``self.server.seconds``: each read gets data in
    time, so a per-read timeout never fires."""

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1000000")
        self.end_headers()
        try:
            for _ in range(self.server.seconds):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(1.0)
        except OSError:
            pass

    do_POST = do_GET


class Huge(Quiet):
    """A body of ``self.server.size`` bytes, sent as fast as the client reads, with no Content-Length."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"[" * 65536
        sent = 0
        try:
            while sent < self.server.size:
                self.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            pass


class Fixed(Quiet):
    """``self.server.routes``: path -> (status, body bytes, content type); 404 elsewhere."""

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        status, body, ctype = self.server.routes.get(path, (404, b"{}", "application/json"))
        self.send_body(status, body, ctype)
