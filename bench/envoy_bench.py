"""Envoy benchmark: jwtgate against no filter, Envoy's jwt_authn and the proxy-wasm floor.

Run by bench/run.sh (`make bench`); writes a JSON file that bench/report.py
turns into docs/BENCHMARKS.md.

Method
  - One Envoy per configuration (cell), all started first and kept running,
    each with `--concurrency 1` and pinned to CPU 0 (`taskset -c 0`); wrk runs
    pinned to CPU 1. Every route is a `direct_response` (no upstream).
  - Cells are interleaved: each round runs every cell once, in a rotated
    order, and figures are medians over rounds. "Above no filter" figures are
    paired: cell minus the no-filter cell of the same round, then the median.
  - Envoy CPU per request: utime+stime of the Envoy process (/proc/<pid>/stat,
    all threads) before and after the cell, divided by the requests Envoy
    completed (`http.ingress.downstream_rq_completed` from /stats).
  - Every response must be 2xx (`downstream_rq_2xx` equals the completed
    count, wrk reports no socket errors); a violation is recorded on the cell
    and printed.
  - Tokens: keys from Python `cryptography`, tokens from PyJWT, exp ten years
    ahead. "hot" sends one token again and again; "cold" cycles through
    COLD_TOKENS distinct tokens (different jti), so every request carries a
    token the filter has not seen for a while (with the cache on: more
    distinct tokens than cache entries, every lookup misses).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import harness  # noqa: E402  (tests/e2e/harness.py: Envoy, Keys, request)

ALGS = ["RS256", "ES256", "EdDSA", "HS256"]
KID = {"RS256": "rsa", "ES256": "ec256", "EdDSA": "ed25519", "HS256": "hmac"}
ISSUER = "https://idp.example.com"
AUDIENCE = "orders-api"
PATH = "/orders"
COLD_TOKENS = 2000
# Fewer entries than COLD_TOKENS, so the cold variant of the cached cell misses every time.
JWTGATE_CACHE = {"enabled": True, "max_entries": 1024, "max_bytes": 1048576}
CLK_TCK = os.sysconf("SC_CLK_TCK")
ENVOY_CPU = "0"
WRK_CPU = "1"


def log(msg: str) -> None:
    print(f"[envoy-bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------


def bootstrap(http_filters: list[dict]) -> dict:
    """A listener whose only route answers 200 itself (no upstream)."""
    return harness.bootstrap(http_filters, None)


def wasm_filter(name: str, wasm: str, configuration: str) -> dict:
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": name,
                "failure_policy": "FAIL_CLOSED",
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration},
                "vm_config": {"vm_id": name, "runtime": "envoy.wasm.runtime.v8", "code": {"local": {"filename": wasm}}},
            },
        },
    }


def jwtgate_policy(alg: str, jwks: dict, cache: bool, signature_verifier: str | None = None) -> str:
    provider = {"issuer": ISSUER, "audiences": [AUDIENCE], "jwks": jwks, "algorithms": [alg]}
    if alg.startswith("HS"):
        provider["allow_hmac"] = True
    policy = {
        "providers": {"idp": provider},
        "rules": [{"prefix": "/", "requires": "idp"}],
        "cache": JWTGATE_CACHE if cache else {"enabled": False},
    }
    if signature_verifier:
        policy["signature_verifier"] = signature_verifier
    return json.dumps(policy)


def jwt_authn_filter(jwks: dict, cache: bool) -> dict:
    provider = {"issuer": ISSUER, "audiences": [AUDIENCE], "local_jwks": {"inline_string": json.dumps(jwks)}}
    if cache:
        provider["jwt_cache_config"] = {"jwt_cache_size": 1024}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"idp": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
        },
    }


def host_crypto_in_filter() -> bool:
    """Whether src/envoy/ offers Envoy's crypto to the core (the `signature_verifier` cells)."""
    text = "".join(p.read_text() for p in (ROOT / "src" / "envoy").glob("*.rs"))
    return "offer_host_crypto" in text


# --------------------------------------------------------------------------
# Envoy, pinned, quiet
# --------------------------------------------------------------------------


class BenchEnvoy(harness.Envoy):
    """harness.Envoy, but pinned to ENVOY_CPU, logging at warn only (the
    harness turns on wasm debug logs, which would log every request), and
    with a configurable worker count."""

    def __init__(self, bootstrap: dict, name: str, workdir: str, concurrency: int = 1) -> None:
        super().__init__(bootstrap, name=name, log_level="warn", workdir=workdir)
        self.concurrency = concurrency

    def launch(self) -> None:
        self.config_path.write_text(json.dumps(self.bootstrap, indent=2))
        cmd = [
            "taskset", "-c", ENVOY_CPU,
            harness.envoy_binary(),
            "-c", str(self.config_path),
            "--disable-hot-restart",
            "--concurrency", str(self.concurrency),
            "-l", "warn",
            "--log-path", str(self.log_path),
            "--admin-address-path", str(self.admin_path),
        ]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        harness.RUNNING.add(self)

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise harness.EnvoyFailedToStart(f"{self.name}: envoy exited with status {rc}", self.log(), rc)
            if self.admin_port is None and self.admin_path.exists():
                text = self.admin_path.read_text().strip()
                if text:
                    self.admin_port = int(text.rsplit(":", 1)[1])
            if self.admin_port is not None:
                try:
                    if harness.request(self.admin_port, "/ready", timeout=2).status == 200:
                        self.port = self._listener_port()
                        return
                except OSError:
                    pass
            time.sleep(0.1)
        raise harness.EnvoyFailedToStart(f"{self.name}: not ready after {timeout}s", self.log(), None)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the ")": state is field 3, utime field 14, stime field 15 (1-based in proc(5)).
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_kib(self) -> int:
        m = re.search(r"^VmRSS:\s+(\d+) kB", Path(f"/proc/{self.proc.pid}/status").read_text(), re.M)
        return int(m.group(1))

    def counters(self) -> tuple[int, int]:
        s = self.stats(r"^http\.ingress\.downstream_rq_(completed|2xx)$")
        return s.get("http.ingress.downstream_rq_completed", 0), s.get("http.ingress.downstream_rq_2xx", 0)


# --------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------


def lua_hot(token: str | None) -> str:
    if token is None:
        return "-- no token\n"
    return f'wrk.headers["Authorization"] = "Bearer {token}"\n'


def lua_cold(tokens_file: Path) -> str:
    # Requests are formatted once in init(); request() only picks the next one,
    # so wrk's own cost stays small.
    return f"""
local reqs = {{}}
local i = 0
function init(args)
  for line in io.lines("{tokens_file}") do
    reqs[#reqs + 1] = wrk.format("GET", "{PATH}", {{ ["Authorization"] = "Bearer " .. line }})
  end
end
function request()
  i = i + 1
  if i > #reqs then i = 1 end
  return reqs[i]
end
"""


WRK_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
WRK_TOTAL = re.compile(r"(\d+) requests in")
WRK_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


def run_wrk(port: int, script: Path, seconds: float, connections: int) -> dict:
    cmd = [
        "taskset", "-c", WRK_CPU, "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
        "-s", str(script), f"http://{harness.LOCALHOST}:{port}{PATH}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    text = out.stdout + out.stderr
    m = WRK_RPS.search(text)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({out.returncode}): {text}")
    errors = WRK_ERRORS.search(text)
    non2xx = WRK_NON2XX.search(text)
    return {
        "rps": float(m.group(1)),
        "requests": int(WRK_TOTAL.search(text).group(1)),
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
        "wrk_non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------


def median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wasm", required=True, help="jwtgate_filter.wasm")
    ap.add_argument("--full-wasm", default="", help="jwtgate_filter_full.wasm, for the signature_verifier cells "
                    "(the small filter refuses \"rust\"); default: --wasm")
    ap.add_argument("--noop-wasm", required=True, help="bench/noop-filter build")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workdir", default=str(ROOT / ".build" / "bench"))
    ap.add_argument("--only", default="", help="regex on cell names (for trying things out)")
    ap.add_argument("--compare-wasm", default="", help="a second jwtgate build (e.g. before a change): adds `compare nocache ALG` cells "
                    "with the same policies, measured in the same rounds")
    args = ap.parse_args()
    harness.install_cleanup()

    os.makedirs(args.workdir, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="envoy-", dir=args.workdir))
    keys = harness.Keys()
    now = int(time.time())
    exp = now + 10 * 365 * 86400

    def mint(alg: str, n: int) -> list[str]:
        return [
            keys.sign(alg, {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-123", "iat": now, "exp": exp, "jti": f"bench-{i:06d}", "scope": "orders:read"})
            for i in range(n)
        ]

    # Scripts: hot token per alg, cold token file per alg, no token.
    scripts: dict[str, Path] = {}
    (work / "none.lua").write_text(lua_hot(None))
    scripts["none"] = work / "none.lua"
    tokens: dict[str, list[str]] = {}
    for alg in ALGS:
        t0 = time.monotonic()
        tokens[alg] = mint(alg, COLD_TOKENS + 1)
        hot = work / f"hot-{alg}.lua"
        hot.write_text(lua_hot(tokens[alg][-1]))
        scripts[f"hot-{alg}"] = hot
        tf = work / f"tokens-{alg}.txt"
        tf.write_text("\n".join(tokens[alg][:COLD_TOKENS]) + "\n")
        cold = work / f"cold-{alg}.lua"
        cold.write_text(lua_cold(tf))
        scripts[f"cold-{alg}"] = cold
        log(f"minted {COLD_TOKENS + 1} {alg} tokens in {time.monotonic() - t0:.1f}s")

    # Inputs for bench/core-profile (the native profile of the same work).
    profile_dir = Path(args.workdir) / "profile-input"
    profile_dir.mkdir(exist_ok=True)
    for alg in ALGS:
        jwks = keys.jwks([KID[alg]])
        (profile_dir / f"policy-{alg}.json").write_text(jwtgate_policy(alg, jwks, cache=False))
        (profile_dir / f"tokens-{alg}.txt").write_text("\n".join(tokens[alg][:COLD_TOKENS]) + "\n")

    host = host_crypto_in_filter()
    log(f"signature_verifier cells (host crypto in src/envoy): {'yes' if host else 'no'}")

    # Envoy configurations.
    configs: dict[str, dict] = {
        "none": bootstrap([]),
        "wasm-noop": bootstrap([wasm_filter("noop", args.noop_wasm, "noop")]),
        "wasm-header": bootstrap([wasm_filter("noop", args.noop_wasm, "header")]),
        "wasm-glue": bootstrap([wasm_filter("noop", args.noop_wasm, "glue")]),
    }
    for alg in ALGS:
        jwks = keys.jwks([KID[alg]])
        configs[f"jwt_authn {alg}"] = bootstrap([jwt_authn_filter(jwks, cache=False)])
        configs[f"jwt_authn+cache {alg}"] = bootstrap([jwt_authn_filter(jwks, cache=True)])
        configs[f"jwtgate nocache {alg}"] = bootstrap([wasm_filter("jwtgate", args.wasm, jwtgate_policy(alg, jwks, cache=False))])
        configs[f"jwtgate {alg}"] = bootstrap([wasm_filter("jwtgate", args.wasm, jwtgate_policy(alg, jwks, cache=True))])
        if host and alg in ("RS256", "ES256"):
            for choice in ("rust", "host"):
                configs[f"jwtgate nocache {choice} {alg}"] = bootstrap(
                    [wasm_filter("jwtgate", args.full_wasm or args.wasm, jwtgate_policy(alg, jwks, cache=False, signature_verifier=choice))]
                )

    if args.compare_wasm:
        for alg in ALGS:
            jwks = keys.jwks([KID[alg]])
            configs[f"compare nocache {alg}"] = bootstrap([wasm_filter("jwtgate", args.compare_wasm, jwtgate_policy(alg, jwks, cache=False))])
            if alg in ("RS256", "ES256"):
                configs[f"compare nocache rust {alg}"] = bootstrap(
                    [wasm_filter("jwtgate", args.compare_wasm, jwtgate_policy(alg, jwks, cache=False, signature_verifier="rust"))]
                )

    # Cells: (name, config, script).
    cells: list[tuple[str, str, str]] = [("none", "none", "none"), ("wasm-noop", "wasm-noop", "hot-RS256"), ("wasm-header", "wasm-header", "hot-RS256"), ("wasm-glue", "wasm-glue", "hot-RS256")]
    for alg in ALGS:
        cells += [
            (f"jwt_authn {alg}", f"jwt_authn {alg}", f"hot-{alg}"),
            (f"jwt_authn {alg} cold", f"jwt_authn {alg}", f"cold-{alg}"),
            (f"jwt_authn+cache {alg}", f"jwt_authn+cache {alg}", f"hot-{alg}"),
            (f"jwtgate nocache {alg}", f"jwtgate nocache {alg}", f"hot-{alg}"),
            (f"jwtgate nocache {alg} cold", f"jwtgate nocache {alg}", f"cold-{alg}"),
            (f"jwtgate {alg}", f"jwtgate {alg}", f"hot-{alg}"),
            (f"jwtgate {alg} cold", f"jwtgate {alg}", f"cold-{alg}"),
        ]
        if host and alg in ("RS256", "ES256"):
            for choice in ("rust", "host"):
                cells += [
                    (f"jwtgate nocache {choice} {alg}", f"jwtgate nocache {choice} {alg}", f"hot-{alg}"),
                    (f"jwtgate nocache {choice} {alg} cold", f"jwtgate nocache {choice} {alg}", f"cold-{alg}"),
                ]
    if args.compare_wasm:
        for alg in ALGS:
            cells += [
                (f"compare nocache {alg}", f"compare nocache {alg}", f"hot-{alg}"),
                (f"compare nocache {alg} cold", f"compare nocache {alg}", f"cold-{alg}"),
            ]
            if alg in ("RS256", "ES256"):
                cells.append((f"compare nocache rust {alg}", f"compare nocache rust {alg}", f"hot-{alg}"))
    if args.only:
        rx = re.compile(args.only)
        cells = [c for c in cells if c[0] == "none" or rx.search(c[0])]
        used = {c[1] for c in cells}
        configs = {k: v for k, v in configs.items() if k in used}

    # Start every Envoy (two at a time: startup compiles the wasm module).
    envoys: dict[str, BenchEnvoy] = {}
    t0 = time.monotonic()
    names = list(configs)
    for i in range(0, len(names), 2):
        batch = names[i : i + 2]
        for name in batch:
            e = BenchEnvoy(configs[name], name=re.sub(r"[^A-Za-z0-9]+", "-", name), workdir=str(work / re.sub(r"[^A-Za-z0-9]+", "-", name)))
            os.makedirs(e.dir, exist_ok=True)
            e.launch()
            envoys[name] = e
        for name in batch:
            envoys[name].wait_ready()
    log(f"started {len(envoys)} Envoys in {time.monotonic() - t0:.1f}s")

    # Memory per worker: jwtgate (as shipped, RS256 policy) with 1 and 2 workers, against no filter.
    memory: dict[str, int] = {}
    extra: list[BenchEnvoy] = []
    if "jwtgate RS256" in configs:
        for name, cfg, conc in (("none c2", configs["none"], 2), ("jwtgate RS256 c2", configs["jwtgate RS256"], 2)):
            e = BenchEnvoy(cfg, name=name.replace(" ", "-"), workdir=str(work / name.replace(" ", "-")), concurrency=conc)
            os.makedirs(e.dir, exist_ok=True)
            e.launch()
            e.wait_ready()
            extra.append(e)
            memory[f"{name} idle"] = e.rss_kib()
            # Workers create their VM copy when they start; a short load makes
            # sure both workers have served requests (and filled their caches).
            run_wrk(e.port, scripts["hot-RS256"] if "jwtgate" in name else scripts["none"], 1, args.connections)
            memory[f"{name} loaded"] = e.rss_kib()
    for name, e in envoys.items():
        memory[f"{name} idle"] = e.rss_kib()
    # Where the memory is, from Envoy's allocator (tcmalloc, admin /memory):
    # live allocations against what it holds freed (V8 compiles the whole
    # module with TurboFan at load, and its peak stays as free pages and
    # thread caches).
    allocator: dict[str, dict] = {}
    for name in ("none", "wasm-noop", "jwtgate RS256"):
        if name in envoys:
            stats = json.loads(harness.request(envoys[name].admin_port, "/memory").body)
            allocator[name] = {k: int(v) for k, v in stats.items() if str(v).isdigit()}

    # Sanity: every cell answers 200 before we measure it.
    for cell, cfg, script in cells:
        tok = None
        if script != "none":
            tok = tokens[script.split("-", 1)[1]][-1]
        r = envoys[cfg].get(PATH, {"authorization": f"Bearer {tok}"} if tok else {})
        if r.status != 200:
            raise SystemExit(f"cell {cell}: expected 200 before measuring, got {r.status} {r.body[:300]!r}")

    results: dict[str, list[dict]] = {c[0]: [] for c in cells}
    violations: list[str] = []

    def measure(cell: str, cfg: str, script: str, seconds: float) -> dict:
        e = envoys[cfg]
        c0, ok0 = e.counters()
        cpu0 = e.cpu_seconds()
        w = run_wrk(e.port, scripts[script], seconds, args.connections)
        cpu1 = e.cpu_seconds()
        c1, ok1 = e.counters()
        done = c1 - c0
        bad = done - (ok1 - ok0)
        r = {
            "rps": w["rps"],
            "completed": done,
            "non2xx": bad,
            "socket_errors": w["socket_errors"],
            "cpu_us_per_req": (cpu1 - cpu0) * 1e6 / done if done else float("nan"),
        }
        if bad or w["socket_errors"] or w["wrk_non2xx"]:
            violations.append(f"{cell}: {bad} non-2xx, {w['socket_errors']} socket errors, wrk non-2xx/3xx {w['wrk_non2xx']}")
            log(f"VIOLATION {violations[-1]}")
        return r

    if args.warmup > 0:
        t0 = time.monotonic()
        for cell, cfg, script in cells:
            measure(cell, cfg, script, args.warmup)
        log(f"warm-up pass done in {time.monotonic() - t0:.0f}s")

    for rnd in range(args.rounds):
        t0 = time.monotonic()
        k = (rnd * 7) % len(cells)
        order = cells[k:] + cells[:k]
        if rnd % 2:
            order.reverse()
        for cell, cfg, script in order:
            results[cell].append(measure(cell, cfg, script, args.seconds))
        log(f"round {rnd + 1}/{args.rounds} done in {time.monotonic() - t0:.0f}s")

    for name, e in envoys.items():
        memory[f"{name} after"] = e.rss_kib()
    for e in list(envoys.values()) + extra:
        e.stop()

    # Summaries: medians, and paired (same round) differences against no filter.
    base = results["none"]
    summary = {}
    for cell, rows in results.items():
        summary[cell] = {
            "rps": median([r["rps"] for r in rows]),
            "cpu_us": median([r["cpu_us_per_req"] for r in rows]),
            "ratio_rps": median([r["rps"] / b["rps"] for r, b in zip(rows, base)]),
            "cpu_above_none": median([r["cpu_us_per_req"] - b["cpu_us_per_req"] for r, b in zip(rows, base)]),
            "cpu_above_none_all": [round(r["cpu_us_per_req"] - b["cpu_us_per_req"], 1) for r, b in zip(rows, base)],
            "completed": sum(r["completed"] for r in rows),
            "non2xx": sum(r["non2xx"] for r in rows),
            "socket_errors": sum(r["socket_errors"] for r in rows),
        }
        log(f"{cell:36s} {summary[cell]['rps']:9.0f} rps  x{summary[cell]['ratio_rps']:.2f}  "
            f"{summary[cell]['cpu_us']:7.1f} us/req  +{summary[cell]['cpu_above_none']:6.1f}  {summary[cell]['cpu_above_none_all']}")

    out = {
        "rounds": args.rounds,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "connections": args.connections,
        "cold_tokens": COLD_TOKENS,
        "host_crypto_cells": host,
        "wasm_bytes": os.path.getsize(args.wasm),
        "compare_wasm_bytes": os.path.getsize(args.compare_wasm) if args.compare_wasm else None,
        "token_bytes": {alg: len(tokens[alg][-1]) for alg in ALGS},
        "cells": [c[0] for c in cells],
        "raw": results,
        "summary": summary,
        "memory_kib": memory,
        "allocator_bytes": allocator,
        "violations": violations,
        "profile_input": str(profile_dir),
    }
    Path(args.out).write_text(json.dumps(out, indent=1))
    log(f"wrote {args.out}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
