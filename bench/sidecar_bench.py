"""Sidecar benchmark: `jwtgate serve` alone (wrk straight at it, --mode
envoy) and behind nginx auth_request, RS256/ES256/EdDSA/HS256, cache on and
off, with Envoy (no filter, and jwt_authn: native, BoringSSL) measured in
the same run as the reference. Writes a Markdown section (stdout) and the
raw figures (--out JSON).

Method (as bench/envoy_bench.py):
  - The server under test runs on CPU 0 (`taskset -c 0`): jwtgate with one
    worker thread; nginx with one worker; Envoy with `--concurrency 1`.
    wrk runs on CPU 1, one thread, 16 connections.
  - CPU per request: utime+stime of the measured processes (jwtgate; for
    the nginx cells jwtgate + the nginx worker) before and after the cell,
    divided by the requests wrk completed.
  - Cells are interleaved in rounds; figures are medians over rounds.
  - "hot" repeats one token; "cold" cycles through 2000 distinct tokens
    (more than the 1024 cache entries: every lookup misses).
  - Every response must be 2xx (wrk reports no non-2xx and no socket errors).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import envoy_bench as eb  # noqa: E402
import harness  # noqa: E402

CPU = "0"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(msg: str) -> None:
    print(f"[sidecar-bench] {msg}", file=sys.stderr, flush=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((harness.LOCALHOST, 0))
        return s.getsockname()[1]


class Server:
    """A process pinned to CPU 0 and the pids whose CPU counts."""

    def __init__(self, cmd: list[str], port: int, log_path: Path) -> None:
        self.log_path = log_path
        with open(log_path, "wb") as out:
            self.proc = subprocess.Popen(["taskset", "-c", CPU] + cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        self.port = port
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"{cmd[0]} exited: {log_path.read_text()[-2000:]}")
            try:
                harness.request(port, "/healthz", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise SystemExit(f"{cmd[0]} does not listen on {port}")

    def pids(self) -> list[int]:
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        return [self.proc.pid] + [int(c) for c in children]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def jwtgate(binary: str, policy: str, work: Path, name: str) -> Server:
    policy_path = work / f"{name}.json"
    policy_path.write_text(policy)
    port = free_port()
    cmd = [binary, "serve", "--policy", str(policy_path), "--listen", f"{harness.LOCALHOST}:{port}", "--mode", "envoy", "--threads", "1", "--log-level", "warn", "--watch-ms", "0"]
    return Server(cmd, port, work / f"{name}.log")


def nginx(work: Path, name: str, auth_port: int | None) -> Server:
    d = work / name
    (d / "logs").mkdir(parents=True)
    port, app = free_port(), free_port()
    temp = " ".join(f"{k}_temp_path {d}/tmp;" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (d / "tmp").mkdir()
    auth = ""
    if auth_port is not None:
        auth = f"""upstream jwtgate {{ server {harness.LOCALHOST}:{auth_port}; keepalive 32; }}"""
    server = f"include {ROOT}/deploy/nginx/jwtgate-auth.conf;" if auth_port is not None else "location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection \"\"; }"
    (d / "nginx.conf").write_text(
        f"""worker_processes 1;
error_log {d}/logs/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    {temp}
    {auth}
    upstream app {{ server {harness.LOCALHOST}:{app}; keepalive 32; }}
    server {{ listen {harness.LOCALHOST}:{app}; location / {{ return 200 "ok\\n"; }} }}
    server {{ listen {harness.LOCALHOST}:{port}; location = /healthz {{ return 200; }} {server} }}
}}
"""
    )
    return Server(["nginx", "-p", str(d), "-c", "nginx.conf", "-g", "daemon off;"], port, d / "stdout.log")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "jwtgate"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workdir", default=str(ROOT / ".build" / "bench"))
    ap.add_argument("--baseline", help="another jwtgate binary (e.g. an older build) measured beside, RS256/ES256 cache off")
    ap.add_argument("--baseline-name", default="baseline", help="its name in the cells")
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sidecar-", dir=args.workdir))
    keys = harness.Keys()
    now = int(time.time())
    exp = now + 10 * 365 * 86400
    scripts: dict[str, Path] = {"none": work / "none.lua"}
    scripts["none"].write_text(eb.lua_hot(None))
    tokens: dict[str, list[str]] = {}
    for alg in eb.ALGS:
        tokens[alg] = [
            keys.sign(alg, {"iss": eb.ISSUER, "aud": eb.AUDIENCE, "sub": "user-123", "iat": now, "exp": exp, "jti": f"b-{i:06d}"})
            for i in range(eb.COLD_TOKENS + 1)
        ]
        (work / f"hot-{alg}.lua").write_text(eb.lua_hot(tokens[alg][-1]))
        scripts[f"hot-{alg}"] = work / f"hot-{alg}.lua"
        tf = work / f"tokens-{alg}.txt"
        tf.write_text("\n".join(tokens[alg][: eb.COLD_TOKENS]) + "\n")
        (work / f"cold-{alg}.lua").write_text(eb.lua_cold(tf))
        scripts[f"cold-{alg}"] = work / f"cold-{alg}.lua"
    log("tokens minted")

    servers: dict[str, Server] = {}
    envoys: dict[str, eb.BenchEnvoy] = {}
    cells: list[tuple[str, str, str]] = []  # (cell, server, script)
    try:
        envoys["envoy none"] = eb.BenchEnvoy(eb.bootstrap([]), name="envoy-none", workdir=str(work / "envoy-none"))
        servers["nginx"] = nginx(work, "nginx-plain", None)
        cells += [("envoy, no filter", "envoy none", "none"), ("nginx, no auth", "nginx", "none")]
        for alg in eb.ALGS:
            jwks = keys.jwks([eb.KID[alg]])
            envoys[f"jwt_authn {alg}"] = eb.BenchEnvoy(eb.bootstrap([eb.jwt_authn_filter(jwks, cache=False)]), name=f"authn-{alg}", workdir=str(work / f"authn-{alg}"))
            for cache in (False, True):
                tag = "cache" if cache else "nocache"
                servers[f"jwtgate {tag} {alg}"] = jwtgate(args.binary, eb.jwtgate_policy(alg, jwks, cache=cache), work, f"jwtgate-{tag}-{alg}")
            servers[f"nginx+jwtgate {alg}"] = nginx(work, f"nginx-{alg}", servers[f"jwtgate nocache {alg}"].port)
            if alg in ("RS256", "ES256"):
                servers[f"jwtgate rust {alg}"] = jwtgate(args.binary, eb.jwtgate_policy(alg, jwks, cache=False, signature_verifier="rust"), work, f"jwtgate-rust-{alg}")
                if args.baseline:
                    servers[f"jwtgate baseline {alg}"] = jwtgate(args.baseline, eb.jwtgate_policy(alg, jwks, cache=False), work, f"jwtgate-baseline-{alg}")
            cells += [
                (f"jwt_authn {alg} cold", f"jwt_authn {alg}", f"cold-{alg}"),
                (f"sidecar nocache {alg} cold", f"jwtgate nocache {alg}", f"cold-{alg}"),
                (f"sidecar cache {alg} hot", f"jwtgate cache {alg}", f"hot-{alg}"),
                (f"sidecar cache {alg} cold", f"jwtgate cache {alg}", f"cold-{alg}"),
                (f"nginx + sidecar nocache {alg} cold", f"nginx+jwtgate {alg}", f"cold-{alg}"),
            ]
            if alg in ("RS256", "ES256"):
                cells.append((f"sidecar nocache pure Rust {alg} cold", f"jwtgate rust {alg}", f"cold-{alg}"))
                if args.baseline:
                    cells.append((f"sidecar nocache {args.baseline_name} {alg} cold", f"jwtgate baseline {alg}", f"cold-{alg}"))
        for e in envoys.values():
            os.makedirs(e.dir, exist_ok=True)
            e.launch()
        for e in envoys.values():
            e.wait_ready()
        log(f"started {len(servers)} servers and {len(envoys)} Envoys")

        def measure(cell: str, name: str, script: str, seconds: float) -> dict:
            if name in envoys:
                e = envoys[name]
                port, pids = e.port, [e.proc.pid]
            else:
                s = servers[name]
                port, pids = s.port, s.pids()
                if name.startswith("nginx+"):
                    pids += servers["jwtgate nocache " + name.split()[-1]].pids()
            cpu0 = sum(cpu_seconds(p) for p in pids)
            w = eb.run_wrk(port, scripts[script], seconds, args.connections)
            cpu1 = sum(cpu_seconds(p) for p in pids)
            ok = not (w["socket_errors"] or w["wrk_non2xx"])
            if not ok:
                log(f"VIOLATION {cell}: {w}")
            return {"rps": w["rps"], "requests": w["requests"], "cpu_us_per_req": (cpu1 - cpu0) * 1e6 / max(w["requests"], 1), "ok": ok}

        for cell, name, script in cells:  # warm-up and sanity
            r = measure(cell, name, script, 1)
            if not r["ok"]:
                raise SystemExit(f"{cell}: non-2xx answers before measuring")
        results: dict[str, list[dict]] = {c[0]: [] for c in cells}
        for rnd in range(args.rounds):
            order = cells[rnd % len(cells):] + cells[: rnd % len(cells)]
            for cell, name, script in order:
                results[cell].append(measure(cell, name, script, args.seconds))
            log(f"round {rnd + 1}/{args.rounds} done")
    finally:
        for s in servers.values():
            s.stop()
        for e in envoys.values():
            e.stop()

    summary = {c: {"rps": eb.median([r["rps"] for r in rs]), "cpu_us_per_req": eb.median([r["cpu_us_per_req"] for r in rs]), "ok": all(r["ok"] for r in rs)} for c, rs in results.items()}
    Path(args.out).write_text(json.dumps({"results": results, "summary": summary}, indent=2))
    print(markdown(summary, args))
    return 0 if all(v["ok"] for v in summary.values()) else 1


def markdown(s: dict, args) -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.processor())
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "",
        "## Native sidecar (`jwtgate serve`)",
        "",
        f"Measured {when} on {os.cpu_count()} × {cpu}, load average {Path('/proc/loadavg').read_text().split()[0]} at the end "
        f"(the machine is shared: absolute figures move between runs, ratios within one run are the figures to read). "
        f"`bench/sidecar_bench.py`: the server under test on CPU 0 (jwtgate with `--threads 1`, nginx with one worker, "
        f"Envoy with `--concurrency 1`), wrk on CPU 1 with {args.connections} connections; {args.rounds} rounds of {args.seconds:g} s, medians. "
        "CPU per request is the server processes' utime+stime over the requests (for nginx + sidecar: nginx's worker and jwtgate together). "
        "jwtgate runs with AWS-LC (aws-lc-rs) for RS*/PS*/ES* (\"pure Rust\" rows: `signature_verifier: \"rust\"`"
        + (f"; \"{args.baseline_name}\" rows: `{Path(args.baseline).name}`, another build measured beside" if args.baseline else "")
        + "). "
        "\"cold\": every request carries a token not seen for 2000 requests (cache misses); \"hot\": one token again and again.",
        "",
        "| cell | requests/s (one core) | CPU µs / request |",
        "|---|---:|---:|",
    ]
    for cell, v in s.items():
        out.append(f"| {cell} | {v['rps']:,.0f} | {v['cpu_us_per_req']:.1f} |")
    env0 = s["envoy, no filter"]["cpu_us_per_req"]
    out += ["", "Ratios (cache off, cold tokens): the sidecar's CPU per request against what `jwt_authn` adds to Envoy above no filter (the issue's goal: at most 1.0).", "", "| alg | jwt_authn above no filter (µs) | sidecar alone (µs) | ratio | nginx + sidecar (µs) |", "|---|---:|---:|---:|---:|"]
    for alg in eb.ALGS:
        authn = s[f"jwt_authn {alg} cold"]["cpu_us_per_req"] - env0
        side = s[f"sidecar nocache {alg} cold"]["cpu_us_per_req"]
        both = s[f"nginx + sidecar nocache {alg} cold"]["cpu_us_per_req"]
        out.append(f"| {alg} | {authn:.1f} | {side:.1f} | {side / authn:.2f} | {both:.1f} |")
        base = s.get(f"sidecar nocache {args.baseline_name} {alg} cold") if args.baseline else None
        if base:
            out.append(f"| {alg} ({args.baseline_name}) | {authn:.1f} | {base['cpu_us_per_req']:.1f} | {base['cpu_us_per_req'] / authn:.2f} | |")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
