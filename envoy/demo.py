"""`make demo`: jwtgate in a real Envoy, a few tokens, a table of what happened.

    .build/venv/bin/python envoy/demo.py --wasm target/wasm32-unknown-unknown/release/jwtgate_filter.wasm

Builds nothing (the Makefile builds the filter). Generates an RSA and an EC
key, writes their public JWKS into envoy/envoy.yaml's policy, starts an echo
upstream and Envoy on 127.0.0.1 (ports picked by the kernel), sends one
request per scenario, prints a table, stops everything.

The upstream echoes the request it received, so the table's last column shows
which x-jwt-* headers (claims the filter set) actually reached the application.
"""

from __future__ import annotations

import argparse
import json
import shutil
import string
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))

from harness import EchoUpstream, Envoy, EnvoyFailedToStart, Keys, install_cleanup, tamper  # noqa: E402

ISSUER = "https://idp.example.com"
AUDIENCE = "orders-api"


def render_config(wasm: str, jwks: dict, upstream_port: int) -> str:
    template = string.Template((HERE / "envoy.yaml").read_text())
    return template.substitute(
        ADMIN_PORT=0,
        LISTENER_PORT=0,
        UPSTREAM_PORT=upstream_port,
        WASM=str(Path(wasm).resolve()),
        JWKS=json.dumps(jwks),
    )


def scenarios(keys: Keys) -> list[tuple[str, str, dict, int]]:
    """(label, path, headers, expected status)."""
    now = int(time.time())

    def token(alg="RS256", **over):
        c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "tenant": "acme", "roles": ["reader"], "iat": now, "exp": now + 300}
        c.update(over)
        return keys.sign(alg, c)

    def bearer(t):
        return {"authorization": "Bearer " + t}

    return [
        ("valid RS256 token", "/orders", bearer(token()), 200),
        ("valid ES256 token, spoofed x-jwt-sub", "/orders", {**bearer(token("ES256")), "x-jwt-sub": "mallory"}, 200),
        ("expired token", "/orders", bearer(token(iat=now - 7200, exp=now - 3600)), 401),
        ("wrong audience", "/orders", bearer(token(aud="billing-api")), 401),
        ("tampered payload", "/orders", bearer(tamper(token())), 401),
        ("no token", "/orders", {}, 401),
        ("valid token, /admin without the admin role", "/admin/users", bearer(token()), 403),
        ("no token on /login (bypass), spoofed x-jwt-sub", "/login", {"x-jwt-sub": "mallory"}, 200),
    ]


def run(wasm: str, out=sys.stdout) -> list[dict]:
    """Runs the demo; returns one row per request (also used by tests/e2e)."""
    keys = Keys()
    rows = []
    with EchoUpstream() as upstream:
        workdir = HERE.parent / ".build" / "demo"
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        envoy = Envoy(render_config(wasm, keys.jwks(["rsa", "ec256"]), upstream.port), name="demo", workdir=str(workdir))
        try:
            envoy.start()
        except EnvoyFailedToStart as e:
            print(e.log[-3000:], file=sys.stderr)
            raise
        try:
            print(f"Envoy {envoy.port and '127.0.0.1:%d' % envoy.port} -> echo upstream 127.0.0.1:{upstream.port}", file=out)
            print(f"generated config and Envoy log: {envoy.dir}\n", file=out)
            for label, path, headers, expected in scenarios(keys):
                r = envoy.get(path, headers)
                upstream_view = "(not reached)"
                if r.upstream is not None:
                    claim_headers = [f"{k}: {v if len(v) < 24 else v[:20] + '...'}" for k, v in r.upstream["headers"] if k.startswith("x-jwt-")]
                    upstream_view = ", ".join(claim_headers) or "(none)"
                rows.append(
                    {
                        "request": f"GET {path}  ({label})",
                        "status": r.status,
                        "expected": expected,
                        "error": r.error_code() or "",
                        "upstream": upstream_view,
                        "www_authenticate": r.header("www-authenticate") or "",
                    }
                )
            hits = envoy.stats("jwtgate")
        finally:
            envoy.stop()
    _table(rows, out)
    counters = {k.removeprefix("wasmcustom."): v for k, v in hits.items() if v}
    print("\nnon-zero filter counters (/stats):", ", ".join(f"{k}={v}" for k, v in sorted(counters.items())), file=out)
    return rows


def _table(rows: list[dict], out) -> None:
    cols = [("request", "request"), ("status", "status"), ("error", "error code"), ("upstream", "x-jwt-* headers at the upstream")]
    widths = {k: max(len(title), *(len(str(r[k])) for r in rows)) for k, title in cols}
    line = "  ".join(title.ljust(widths[k]) for k, title in cols).rstrip()
    print(line, file=out)
    print("-" * len(line), file=out)
    for r in rows:
        mark = "" if r["status"] == r["expected"] else f"   <-- expected {r['expected']}"
        print(("  ".join(str(r[k]).ljust(widths[k]) for k, _ in cols) + mark).rstrip(), file=out)
    challenges = sorted({r["www_authenticate"] for r in rows if r["www_authenticate"]})
    if challenges:
        print("\nWWW-Authenticate headers seen:", file=out)
        for c in challenges:
            print("  " + c, file=out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wasm", required=True, help="the filter, built by `make filter`")
    args = ap.parse_args()
    if not Path(args.wasm).is_file():
        print(f"demo: {args.wasm} not found; run `make filter`", file=sys.stderr)
        return 1
    install_cleanup()
    rows = run(args.wasm)
    wrong = [r for r in rows if r["status"] != r["expected"]]
    if wrong:
        print(f"\ndemo: {len(wrong)} request(s) did not get the expected status", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
