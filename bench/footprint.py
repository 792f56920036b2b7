"""Envoy memory per filter build: the footprint figures of docs/BENCHMARKS.md ("Footprint").

    .build/venv/bin/python3 bench/footprint.py --noop-wasm NOOP.wasm [--rounds 3] [--release-memory]
        [--rest SECONDS] LABEL=FILE.wasm ...

Method
  - One Envoy at a time (bench/envoy_bench.py's BenchEnvoy: 1 worker, pinned, logs at warn), in
    rounds: each round starts an Envoy without a filter, then one per build, in the order given.
  - jwtgate builds get the benchmark's RS256 policy with the cache on; the build labelled `noop`
    is bench/noop-filter reading one header and adding one (the proxy-wasm floor).
  - After 50 requests (each must be answered 200) and a second of rest: VmRSS of the Envoy
    process, minus the filterless Envoy of the same round, and Envoy's allocator (tcmalloc, admin
    /memory): live allocations, and what it holds freed (page heap and thread caches: V8 compiles
    the whole module with TurboFan at load, Liftoff off, and the peak of that stays there).
  - Prints, per build: the RSS added in each round, its mean and the ratio to the no-op filter's
    mean, and the allocator's figures above the filterless Envoy's (means over rounds, MiB): live,
    held free (the page heap's free pages, the CPU and thread caches) and returned (unmapped).
  - --release-memory gives every Envoy of the run (the filterless one too) the bootstrap's
    memory_allocator_manager, which returns the page heap's free pages to the system.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import envoy_bench as eb  # noqa: E402
import harness  # noqa: E402

MIB = 1024 * 1024
RELEASE_MEMORY = {"bytes_to_release": 64 * MIB, "memory_release_interval": "1s"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--noop-wasm", required=True, help="bench/noop-filter build (the `noop` row)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--workdir", default=str(ROOT / ".build" / "bench"))
    ap.add_argument("--out", default="", help="also write the raw figures as JSON here")
    ap.add_argument("--rest", type=float, default=1.0, help="seconds between the last request and the reading")
    ap.add_argument("--release-memory", action="store_true",
                    help="every Envoy (the filterless one too) returns freed memory to the system: "
                    "bootstrap memory_allocator_manager (envoy/README.md, \"Memory\")")
    ap.add_argument("builds", nargs="+", help="LABEL=path/to/jwtgate.wasm")
    args = ap.parse_args()
    harness.install_cleanup()

    builds = [("noop", args.noop_wasm)] + [tuple(b.split("=", 1)) for b in args.builds]
    keys = harness.Keys()
    jwks = keys.jwks(["rsa"])
    now = int(time.time())
    token = keys.sign("RS256", {"iss": eb.ISSUER, "aud": eb.AUDIENCE, "sub": "u", "iat": now, "exp": now + 3600})
    os.makedirs(args.workdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="footprint-", dir=args.workdir)

    def measure(label: str, filters: list[dict], n: int) -> dict:
        config = eb.bootstrap(filters)
        if args.release_memory:
            config["memory_allocator_manager"] = RELEASE_MEMORY
        e = eb.BenchEnvoy(config, name=label, workdir=os.path.join(work, f"{label}-{n}"))
        os.makedirs(e.dir, exist_ok=True)
        e.launch()
        try:
            e.wait_ready()
            for _ in range(args.requests):
                r = e.get(eb.PATH, {"authorization": f"Bearer {token}"})
                if r.status != 200:
                    raise SystemExit(f"{label}: expected 200, got {r.status} {r.body[:300]!r}")
            time.sleep(args.rest)
            stats = json.loads(harness.request(e.admin_port, "/memory").body)
            return {
                "rss": e.rss_kib() * 1024,
                "allocated": int(stats["allocated"]),
                "held_free": int(stats["pageheap_free"]) + int(stats["total_thread_cache"]),
                "pageheap_free": int(stats["pageheap_free"]),
                "thread_cache": int(stats["total_thread_cache"]),
                "unmapped": int(stats["pageheap_unmapped"]),
            }
        finally:
            e.stop()

    rows: dict[str, list[dict]] = {label: [] for label, _ in builds}
    for rnd in range(args.rounds):
        base = measure("none", [], rnd)
        for label, path in builds:
            if label == "noop":
                f = [eb.wasm_filter("noop", path, "header")]
            else:
                f = [eb.wasm_filter("jwtgate", path, eb.jwtgate_policy("RS256", jwks, cache=True))]
            m = measure(label, f, rnd)
            rows[label].append({k: m[k] - base[k] for k in m})
        print(f"[footprint] round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)

    def mean(label: str, key: str) -> float:
        return sum(r[key] for r in rows[label]) / len(rows[label]) / MIB

    noop = mean("noop", "rss")
    print(f"{'build':12s} {'bytes':>9s}  RSS added (MiB, each round)  mean  vs no-op  allocator above no filter: live, held free")
    for label, path in builds:
        each = ", ".join(f"+{r['rss'] / MIB:.1f}" for r in rows[label])
        print(f"{label:12s} {os.path.getsize(path):9,d}  {each:28s} +{mean(label, 'rss'):.1f}  {mean(label, 'rss') / noop:.2f}x"
              f"  +{mean(label, 'allocated'):.1f}, +{mean(label, 'held_free'):.1f}"
              f" (page heap {mean(label, 'pageheap_free'):+.1f}, caches {mean(label, 'thread_cache'):+.1f}, unmapped {mean(label, 'unmapped'):+.1f})")
    if args.out:
        Path(args.out).write_text(json.dumps({"builds": dict(builds), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
