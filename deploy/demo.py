"""`make sidecar-demo`: jwtgate serve behind a real nginx (deploy/nginx/
jwtgate-auth.conf) in front of an echo upstream, on 127.0.0.1; sends a few
requests and prints what came back, then stops everything."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "sidecar"))

import parts  # noqa: E402
import scenario  # noqa: E402  (tests/e2e: the policy the filter's tests use)
from harness import tamper  # noqa: E402


def main() -> None:
    keys = parts.Keys()
    with parts.EchoUpstream() as up, parts.Jwtgate(scenario.policy(keys)) as gate, parts.Nginx(gate.port, up.port) as nginx:
        print(f"jwtgate serve on 127.0.0.1:{gate.port} (admin {gate.admin_port}), nginx on 127.0.0.1:{nginx.port}\n")
        good = keys.sign("RS256", parts.claims())
        reader = keys.sign("ES256", parts.claims(roles=["reader"]))
        for what, path, headers in [
            ("valid RS256 token", "/orders", {"authorization": "Bearer " + good}),
            ("no token", "/orders", {}),
            ("tampered token", "/orders", {"authorization": "Bearer " + tamper(good)}),
            ("reader on /admin", "/admin/users", {"authorization": "Bearer " + reader}),
            ("reader on /orders/../admin/users", "/orders/../admin/users", {"authorization": "Bearer " + reader}),
            ("encoded slash", "/x%2F..%2Fadmin", {}),
            ("bypass /login, spoofed x-jwt-sub", "/login", {"x-jwt-sub": "admin"}),
        ]:
            r = nginx.get(path, headers)
            up_view = r.upstream
            seen = f"upstream got {up_view['path']} x-jwt-sub={[v for k, v in up_view['headers'] if k == 'x-jwt-sub']}" if up_view else r.body.decode()[:110]
            print(f"{what:36} {r.status}  {seen}")
            if r.header("www-authenticate"):
                print(f"{'':36}      WWW-Authenticate: {r.header('www-authenticate')[:90]}")
        print("\n" + "\n".join(l for l in parts.request(gate.admin_port, "/metrics").body.decode().splitlines() if l and not l.startswith("#") and not l.endswith(" 0")))


if __name__ == "__main__":
    main()
