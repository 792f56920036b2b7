#!/usr/bin/env python3
"""A JWKS / OIDC discovery server for the tests: Python standard library only,
127.0.0.1, port 0 (the kernel picks a free port).

It serves
  GET /jwks                               the current key set
  GET /.well-known/openid-configuration   {"issuer": <issuer>, "jwks_uri": <base>/jwks}
and misbehaves on request: answers 500, garbage, a huge body, a redirect,
slowly, or resets the connection ("down"). It counts every request by path.

Two ways to drive it:
  * in-process (Python tests): server = JwksServer(); server.start();
    server.set(jwks={...}, mode="ok"); server.count("/jwks"); server.stop()
  * as a process (the npm package's tests), controlled over HTTP:
      python3 tests/jwks_server.py            prints {"port": N} on one line, then serves
      POST /_control  {"jwks"?, "mode"?, "delay"?, "cache_control"?, "issuer"?, "reset_counts"?}
      GET  /_stats    {"counts": {"/jwks": n, ...}, "times": {"/jwks": [t, ...]}}
    and stops when its standard input closes.

Modes: "ok", "500", "garbage" (200, not JSON), "huge" (200, a 100 KiB body),
"redirect" (302 to /elsewhere), "down" (the connection is closed without an
answer), "slow" (like "ok" after `delay` seconds), "slow_500" (like "500"
after `delay` seconds).
"""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = {"ok", "500", "garbage", "huge", "redirect", "down", "slow", "slow_500"}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (a timeout, "down") is not worth a traceback.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class JwksServer:
    """The server and its state; every setter is thread-safe."""

    def __init__(self, jwks=None, issuer=None):
        self._lock = threading.Lock()
        self.jwks = jwks if jwks is not None else {"keys": []}
        self.mode = "ok"
        self.delay = 0.0
        self.cache_control = None
        self._issuer = issuer
        self.counts = {}
        self.times = {}
        self._http = _Server(("127.0.0.1", 0), _handler(self))
        self.port = self._http.server_address[1]
        self._thread = None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def issuer(self):
        return self._issuer or self.base

    def start(self):
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._http.server_close()

    def set(self, jwks=None, mode=None, delay=None, cache_control=None, issuer=None):
        """Changes what the next requests get (only the arguments given)."""
        with self._lock:
            if jwks is not None:
                self.jwks = jwks
            if mode is not None:
                if mode not in MODES:
                    raise ValueError(f"unknown mode {mode!r} (one of {sorted(MODES)})")
                self.mode = mode
            if delay is not None:
                self.delay = float(delay)
            if cache_control is not None:
                self.cache_control = cache_control or None
            if issuer is not None:
                self._issuer = issuer or None

    def count(self, path="/jwks"):
        with self._lock:
            return self.counts.get(path, 0)

    def reset_counts(self):
        with self._lock:
            self.counts = {}
            self.times = {}

    def stats(self):
        with self._lock:
            return {"counts": dict(self.counts), "times": {k: list(v) for k, v in self.times.items()}}

    def _record(self, path):
        with self._lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            self.times.setdefault(path, []).append(time.time())
            return self.mode, self.delay, self.cache_control, json.dumps(self.jwks)


def _handler(server):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status, body, content_type="application/json", headers=()):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/_stats":
                return self._send(200, json.dumps(server.stats()))
            mode, delay, cache_control, jwks = server._record(path)
            if mode in ("slow", "slow_500"):
                time.sleep(delay)
            if mode == "down":
                # No answer: the client sees the connection close (reset).
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.close_connection = True
                self.connection.close()
                return
            if mode in ("500", "slow_500"):
                return self._send(500, '{"error":"internal"}')
            if mode == "garbage":
                return self._send(200, "<html>this is not a key set</html>", "text/html")
            if mode == "huge":
                return self._send(200, json.dumps({"keys": [], "padding": "x" * (100 * 1024)}))
            if mode == "redirect":
                return self._send(302, "", headers=[("location", f"{server.base}/elsewhere")])
            headers = [("cache-control", cache_control)] if cache_control else []
            if path == "/jwks":
                return self._send(200, jwks, headers=headers)
            if path == "/.well-known/openid-configuration":
                doc = {"issuer": server.issuer, "jwks_uri": f"{server.base}/jwks"}
                return self._send(200, json.dumps(doc), headers=headers)
            return self._send(404, '{"error":"not found"}')

        def do_POST(self):
            if self.path != "/_control":
                return self._send(404, '{"error":"not found"}')
            length = int(self.headers.get("content-length") or 0)
            try:
                control = json.loads(self.rfile.read(length) or b"{}")
                if control.pop("reset_counts", False):
                    server.reset_counts()
                server.set(**control)
            except (ValueError, TypeError) as e:
                return self._send(400, json.dumps({"error": str(e)}))
            return self._send(200, json.dumps({"ok": True}))

    return Handler


def main():
    server = JwksServer().start()
    print(json.dumps({"port": server.port}), flush=True)
    # Serve until the parent closes our standard input.
    sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
