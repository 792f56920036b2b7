"""Real parts for the sidecar tests (parts.py): `jwtgate serve` (the release binary),
Debian's nginx with deploy/nginx/jwtgate-auth.conf, and Envoy (the venv's)
with ext_authz. Everything listens on 127.0.0.1, every wait is bounded, and
every process started here is stopped by the object that started it.

The echo upstream, keys, token minting and the HTTP client are the Envoy
end-to-end tests' (tests/e2e/harness.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from harness import LOCALHOST, Envoy, EchoUpstream, Keys, Response, bootstrap, claims, request  # noqa: E402,F401

BINARY = os.environ.get("JWTGATE_BIN") or str(ROOT / "target" / "release" / "jwtgate")
WORK = Path(os.environ.get("JWTGATE_SIDECAR_DIR") or ROOT / ".build" / "sidecar")
NGINX_SNIPPET = ROOT / "deploy" / "nginx" / "jwtgate-auth.conf"


def workdir(name: str) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=WORK))


def free_port() -> int:
    """A port the kernel just handed out (for nginx, which cannot report one)."""
    with socket.socket() as s:
        s.bind((LOCALHOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection((LOCALHOST, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} does not listen on {port} after {timeout}s")


class Jwtgate:
    """`jwtgate serve` with a policy file it owns (`write_policy` changes it)."""

    def __init__(self, policy, mode: str = "nginx", canonical: str = "forward", threads: int = 2, extra: list[str] | None = None) -> None:
        self.dir = workdir(f"jwtgate-{mode}")
        self.policy_path = self.dir / "policy.json"
        self.log_path = self.dir / "jwtgate.log"
        self.write_policy(policy)
        self.cmd = [
            BINARY, "serve",
            "--policy", str(self.policy_path),
            "--listen", f"{LOCALHOST}:0",
            "--admin", f"{LOCALHOST}:0",
            "--mode", mode,
            "--canonical", canonical,
            "--threads", str(threads),
            "--watch-ms", "200",
            "--log-level", "debug",
        ] + (extra or [])
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.admin_port: int | None = None

    def write_policy(self, policy) -> None:
        text = policy if isinstance(policy, str) else json.dumps(policy)
        tmp = self.policy_path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.policy_path)  # atomic, as a deploy tool would

    def start(self, timeout: float = 15.0) -> "Jwtgate":
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jwtgate exited with {self.proc.returncode}:\n{self.log()}")
            m = re.search(r"serving checks on 127\.0\.0\.1:(\d+).*admin on 127\.0\.0\.1:(\d+)", self.log())
            if m:
                self.port, self.admin_port = int(m.group(1)), int(m.group(2))
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("jwtgate did not start")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def metrics(self) -> dict[str, float]:
        text = request(self.admin_port, "/metrics").body.decode()
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def generation(self) -> int:
        return json.loads(request(self.admin_port, "/readyz").body)["generation"]

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                return proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        return proc.returncode

    def __enter__(self) -> "Jwtgate":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def nginx_binary() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


class Nginx:
    """Debian's nginx, unprivileged, in front of `app_port`, asking `jwtgate_port`."""

    def __init__(self, jwtgate_port: int, app_port: int, snippet: Path = NGINX_SNIPPET) -> None:
        self.dir = workdir("nginx")
        (self.dir / "logs").mkdir()
        (self.dir / "tmp").mkdir()
        self.port = free_port()
        temp = " ".join(f"{k}_temp_path {self.dir}/tmp;" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (self.dir / "nginx.conf").write_text(
            f"""worker_processes 1;
error_log {self.dir}/logs/error.log info;
pid {self.dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    {temp}
    upstream jwtgate {{ server {LOCALHOST}:{jwtgate_port}; keepalive 32; }}
    upstream app {{ server {LOCALHOST}:{app_port}; keepalive 32; }}
    server {{
        listen {LOCALHOST}:{self.port};
        include {snippet};
    }}
}}
"""
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Nginx":
        log = self.dir / "logs" / "stderr.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [nginx_binary(), "-p", str(self.dir), "-c", "nginx.conf", "-g", "daemon off;"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            )
        try:
            wait_port(self.port, self.proc, "nginx", log)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)  # nginx's graceful stop
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def get(self, path: str, headers=None, method: str = "GET") -> Response:
        return request(self.port, path, headers, method)

    def __enter__(self) -> "Nginx":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def ext_authz_filter(jwtgate_port: int, upstream_headers: list[str]) -> dict:
    """Envoy's ext_authz HTTP filter asking `jwtgate serve --mode envoy`
    (deploy/envoy/ext_authz.yaml is the same filter in YAML)."""
    return {
        "name": "envoy.filters.http.ext_authz",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz",
            "transport_api_version": "V3",
            "failure_mode_allow": False,
            "http_service": {
                "server_uri": {"uri": f"http://{LOCALHOST}:{jwtgate_port}", "cluster": "jwtgate", "timeout": "2s"},
                "authorization_request": {
                    "allowed_headers": {"patterns": [{"exact": h} for h in ("authorization", "cookie", "origin", "access-control-request-method")]},
                },
                "authorization_response": {
                    "allowed_upstream_headers": {"patterns": [{"exact": h} for h in upstream_headers]},
                    "allowed_client_headers": {"patterns": [{"exact": h} for h in ("www-authenticate", "content-type")]},
                },
            },
        },
    }


def bootstrap_ext_authz(jwtgate_port: int, upstream_port: int, upstream_headers: list[str]) -> dict:
    config = bootstrap([ext_authz_filter(jwtgate_port, upstream_headers)], upstream_port)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    # Envoy canonicalizes the path before any filter (RFC 3986 dot segments,
    # merged slashes), so jwtgate (--canonical refuse) sees what the route sees.
    hcm["normalize_path"] = True
    hcm["merge_slashes"] = True
    cluster = {
        "name": "jwtgate",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": "jwtgate",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": LOCALHOST, "port_value": jwtgate_port}}}}]}],
        },
    }
    config["static_resources"]["clusters"].append(cluster)
    return config
