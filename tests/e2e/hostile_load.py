"""The filter under hostile load: wrk replays valid tokens mixed with garbage.

Starts one Envoy with jwtgate (the scenario policy, host crypto on,
failure_policy FAIL_RELOAD as in envoy/envoy.yaml, so a crash would show up as
a VM reload and 503s), warms it up, then runs wrk with hostile_load.lua over
a pool of prebuilt raw requests:

  valid*      RS256/ES256/PS256/EdDSA/HS256 tokens (more distinct ones than
              the cache holds, so it keeps evicting), in the Authorization
              header, a cookie or the query; one kind with a ~57 KB extra header
  garbage     random bytes, non-UTF-8 bytes, truncated tokens, alg none,
              wrong signatures, expired tokens, a ~57 KB token (Envoy's header
              limit is 60 KB), nested-JSON bombs, JWE, percent-encoded bytes
              in the query, junk cookies, two Authorization headers, 90 junk
              headers

Checks: every response is 200, 401 or 403; exactly the valid requests got
200 (up to the requests still in flight when wrk stops); no VM was created,
lost or reloaded during the run; valid tokens still pass afterwards; Envoy's
RSS grew less than RSS_LIMIT_MB between the end of the warmup and the end.

Run by test_e2e.py (class HostileLoad), or alone:
    .build/venv/bin/python tests/e2e/hostile_load.py --wasm target/.../jwtgate_filter.wasm
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scenario  # noqa: E402
from harness import ROOT, EchoUpstream, Envoy, Keys, b64url, bootstrap_jwtgate, claims, install_cleanup, request, tamper  # noqa: E402

WARMUP_SECONDS = 3
LOAD_SECONDS = 15
THREADS = 2
CONNECTIONS = 16
RSS_LIMIT_MB = 30
HEADER_LIMIT = 60 * 1024  # Envoy's default max_request_headers_kb
ALLOWED_STATUSES = {200, 401, 403}
VM_STATS = ("wasm.envoy.wasm.runtime.v8.created", "wasm.envoy.wasm.runtime.v8.active", "wasm.wasm_vm_count")
RELOAD_STATS = ("wasm.jwtgate.vm_reload", "wasm.jwtgate.vm_reload_success", "wasm.jwtgate.vm_reload_failure")


def raw_request(path: str, headers: list[tuple[str, bytes | str]]) -> bytes:
    out = [f"GET {path} HTTP/1.1".encode(), b"host: api.example.com"]
    for name, value in headers:
        out.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()))
    return b"\r\n".join(out) + b"\r\n\r\n"


def bearer(value: bytes | str) -> list[tuple[str, bytes | str]]:
    v = value if isinstance(value, bytes) else value.encode()
    return [("authorization", b"Bearer " + v)]


# Bytes Envoy's HTTP/1 codec accepts in a header value (visible ASCII, space,
# tab, obs-text); anything else is a 400 from Envoy before any filter runs.
VALUE_BYTES = bytes([9, 32]) + bytes(range(0x21, 0x7F)) + bytes(range(0x80, 0x100))


def pool(keys: Keys, rng: random.Random) -> list[tuple[str, bytes]]:
    """(kind, raw request) pairs; kinds starting with "valid" must get 200."""
    now = int(time.time())
    long = {"iat": now - 10, "exp": now + 3600}
    out: list[tuple[str, bytes]] = []

    def valid(alg: str) -> str:
        issuer = scenario.HMAC_ISSUER if alg.startswith("HS") else scenario.ISSUER
        return keys.sign(alg, claims(issuer=issuer, **long))

    # Valid: 300 distinct tokens (the policy's cache holds 128).
    algs = ["RS256"] * 150 + ["ES256"] * 60 + ["PS256"] * 30 + ["EdDSA"] * 30 + ["HS256"] * 30
    for i, alg in enumerate(algs):
        tok = valid(alg)
        if alg.startswith("HS") or i % 10 < 7:
            out.append(("valid", raw_request("/orders", bearer(tok))))
        elif i % 10 < 9:
            out.append(("validcookie", raw_request("/orders", [("cookie", f"a=b; session={tok}; c=d")])))
        else:
            out.append(("validquery", raw_request(f"/orders?x=1&access_token={tok}", [])))
    filler = "f" * (HEADER_LIMIT - 4000)
    for _ in range(10):
        out.append(("validhuge", raw_request("/orders", bearer(valid("RS256")) + [("x-filler", filler)])))

    good = valid("RS256")
    other = Keys()

    def add(kind: str, n: int, make) -> None:
        for _ in range(n):
            out.append((kind, make()))

    add("random", 60, lambda: raw_request("/orders", bearer(bytes(rng.choice(VALUE_BYTES) for _ in range(rng.randint(1, 5000))).strip())))
    add("randomb64", 30, lambda: raw_request("/orders", bearer(".".join(b64url(os.urandom(rng.randint(0, 400))) for _ in range(3)))))

    def non_utf8() -> bytes:
        tok = bytearray(good.encode())
        for _ in range(rng.randint(1, 5)):
            tok.insert(rng.randrange(len(tok)), rng.randint(0x80, 0xFF))
        return raw_request("/orders", bearer(bytes(tok)))

    add("nonutf8", 30, non_utf8)
    add("truncated", 40, lambda: raw_request("/orders", bearer(good[: rng.randrange(len(good))].rstrip())))

    def alg_none() -> bytes:
        header = {"alg": rng.choice(["none", "None", "NONE", "nOnE", ""]), "kid": "rsa"}
        body = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims(**long)).encode())
        return raw_request("/orders", bearer(body + rng.choice([".", ".AAAA", ". "]).strip()))

    add("algnone", 30, alg_none)
    add("tampered", 15, lambda: raw_request("/orders", bearer(tamper(valid(rng.choice(["RS256", "ES256", "PS256", "EdDSA", "HS256"]))))))
    add("otherkey", 15, lambda: raw_request("/orders", bearer(other.sign(rng.choice(["RS256", "ES256", "ES384"]), claims(**long)))))

    def flipped() -> bytes:
        h, p, s = valid(rng.choice(["RS256", "ES256"])).split(".")
        sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
        sig[rng.randrange(len(sig))] ^= 1 << rng.randrange(8)
        return raw_request("/orders", bearer(f"{h}.{p}.{b64url(bytes(sig))}"))

    add("flipped", 15, flipped)
    add("expired", 10, lambda: raw_request("/orders", bearer(keys.sign("RS256", claims(iat=now - 7200, exp=now - 3600)))))
    add("hugeauth", 10, lambda: raw_request("/orders", bearer(b64url(os.urandom((HEADER_LIMIT - 4000) * 3 // 4)))))

    def json_bomb() -> bytes:
        depth = rng.choice([50, 500, 2000])
        header = '{"alg":"RS256","kid":' + "[" * depth + "]" * depth + "}"
        return raw_request("/orders", bearer(b64url(header.encode()) + ".e30." + b64url(b"x" * 256)))

    add("jsonbomb", 10, json_bomb)
    add("jwe", 5, lambda: raw_request("/orders", bearer(b64url(b'{"alg":"RSA-OAEP","enc":"A256GCM"}') + ".AAAA.AAAA.AAAA.AAAA")))
    add("query", 20, lambda: raw_request("/orders?access_token=" + "".join(f"%{b:02x}" for b in os.urandom(rng.randint(1, 300))), []))
    add("cookie", 15, lambda: raw_request("/orders", [("cookie", "; ".join(f"{b64url(os.urandom(3))}={b64url(os.urandom(rng.randint(0, 80)))}" for _ in range(rng.randint(1, 40))) + "; session=" + good[:40])]))
    add("twoauth", 10, lambda: raw_request("/orders", bearer(good) + bearer(good)))
    add("dots", 10, lambda: raw_request("/orders", bearer("." * rng.randint(1, 3000))))
    add("manyheaders", 5, lambda: raw_request("/orders", bearer(b64url(os.urandom(40))) + [(f"x-junk-{i}", b64url(os.urandom(30))) for i in range(90)]))
    for kind, req in out:
        assert len(req) < HEADER_LIMIT, (kind, len(req))
    return out


def write_pool(entries: list[tuple[str, bytes]], path: Path) -> None:
    index = " ".join(f"{kind}:{len(req)}" for kind, req in entries)
    path.write_bytes(index.encode() + b"\n" + b"".join(req for _, req in entries))


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def wrk(port: int, pool_path: Path, seconds: int) -> dict:
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed (scripts/setup.sh apt installs it)")
    cmd = [
        binary, "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--timeout", "5s",
        "-s", str(HERE / "hostile_load.lua"), f"http://127.0.0.1:{port}/", "--", str(pool_path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr[-2000:]}")
    text = proc.stdout
    statuses = {int(s): int(n) for s, n in re.findall(r"^JWTGATE_STATUS (\d+) (\d+)$", text, re.M)}
    sent = {k: int(n) for k, n in re.findall(r"^JWTGATE_SENT (\w+) (\d+)$", text, re.M)}
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups()))) if m else {}
    p99 = re.search(r"^JWTGATE_LATENCY_P99_MS ([\d.]+)$", text, re.M)
    return {"statuses": statuses, "sent": sent, "socket_errors": errors, "p99_ms": float(p99.group(1)) if p99 else None, "output": text}


def run(wasm: str, warmup: int = WARMUP_SECONDS, seconds: int = LOAD_SECONDS) -> dict:
    """Runs the load and returns the measurements (see check())."""
    keys = Keys()
    rng = random.Random(1)
    base = Path(os.environ.get("JWTGATE_E2E_DIR") or ROOT / ".build" / "e2e")
    base.mkdir(parents=True, exist_ok=True)
    pool_path = base / "hostile_load.pool"
    entries = pool(keys, rng)
    write_pool(entries, pool_path)
    with EchoUpstream() as upstream:
        env = Envoy(bootstrap_jwtgate(wasm, scenario.policy(keys), upstream.port, failure_policy="FAIL_RELOAD"), name="jwtgate-hostile")
        with env:
            pid = env.proc.pid
            warm = wrk(env.port, pool_path, warmup)
            stats_start = env.stats()
            rss_start = rss_kb(pid)
            t0 = time.monotonic()
            load = wrk(env.port, pool_path, seconds)
            elapsed = time.monotonic() - t0
            rss_end = rss_kb(pid)
            stats_end = env.stats()
            # Valid tokens still pass (fresh ones: not from the cache).
            after = {}
            for alg in ("RS256", "ES256", "PS256", "EdDSA", "HS256"):
                issuer = scenario.HMAC_ISSUER if alg.startswith("HS") else scenario.ISSUER
                after[alg] = request(env.port, "/orders", {"authorization": "Bearer " + keys.sign(alg, claims(issuer=issuer))}).status
            time.sleep(0.3)  # the log is flushed every 100 ms
            panics = [line for line in env.log().splitlines() if "panicked" in line or "wasm trap" in line.lower()]
    return {
        "pool": len(entries),
        "warmup": warm,
        "load": load,
        "elapsed": elapsed,
        "rss_start_kb": rss_start,
        "rss_end_kb": rss_end,
        "vm_start": {k: stats_start.get(k) for k in VM_STATS + RELOAD_STATS},
        "vm_end": {k: stats_end.get(k) for k in VM_STATS + RELOAD_STATS},
        "crypto_host": stats_end.get("wasmcustom.jwtgate.crypto.host"),
        "allowed": stats_end.get("wasmcustom.jwtgate.allowed", 0) - stats_start.get("wasmcustom.jwtgate.allowed", 0),
        "denied": {
            k.rsplit(".", 1)[1]: stats_end[k] - stats_start.get(k, 0)
            for k in stats_end
            if k.startswith("wasmcustom.jwtgate.denied.") and stats_end[k] - stats_start.get(k, 0)
        },
        "after": after,
        "panics": panics,
    }


def report(r: dict) -> str:
    load = r["load"]
    total = sum(load["statuses"].values())
    valid_sent = sum(n for k, n in load["sent"].items() if k.startswith("valid"))
    lines = [
        f"hostile load: {r['elapsed']:.1f} s after a {WARMUP_SECONDS} s warmup, wrk {THREADS} threads x {CONNECTIONS} connections, "
        f"pool of {r['pool']} requests",
        f"  responses: {total} ({total / r['elapsed']:.0f}/s, p99 {load['p99_ms']} ms); by status: "
        + ", ".join(f"{s}: {n}" for s, n in sorted(load["statuses"].items())),
        f"  sent: {sum(load['sent'].values())}, valid {valid_sent}; by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(load["sent"].items())),
        f"  filter: allowed {r['allowed']}, denied " + ", ".join(f"{k} {n}" for k, n in sorted(r["denied"].items(), key=lambda kv: -kv[1])),
        f"  socket errors: {load['socket_errors']}",
        f"  envoy RSS: {r['rss_start_kb'] / 1024:.1f} MB after warmup, {r['rss_end_kb'] / 1024:.1f} MB at the end "
        f"({(r['rss_end_kb'] - r['rss_start_kb']) / 1024:+.1f} MB; limit +{RSS_LIMIT_MB} MB)",
        "  wasm VMs: " + ", ".join(f"{k} {r['vm_start'][k]} -> {r['vm_end'][k]}" for k in VM_STATS + RELOAD_STATS),
        f"  host crypto: {r['crypto_host']}; valid tokens afterwards: {r['after']}",
    ]
    return "\n".join(lines)


def check(r: dict) -> list[str]:
    """Every failed expectation, as text (empty: all good)."""
    problems = []
    load = r["load"]
    statuses = load["statuses"]
    total = sum(statuses.values())
    if total < 1000:
        problems.append(f"only {total} responses: the load did not run")
    others = {s: n for s, n in statuses.items() if s not in ALLOWED_STATUSES}
    if others:
        problems.append(f"responses other than 200/401/403: {others}")
    for phase in ("warmup", "load"):
        if any(r[phase]["socket_errors"].values()):
            problems.append(f"{phase}: socket errors {r[phase]['socket_errors']}")
    kinds = set(load["sent"])
    for k in ("valid", "validhuge", "random", "nonutf8", "truncated", "algnone", "hugeauth", "flipped"):
        if k not in kinds:
            problems.append(f"no {k} request was sent")
    valid_sent = sum(n for k, n in load["sent"].items() if k.startswith("valid"))
    ok = statuses.get(200, 0)
    # wrk counts requests it handed out; up to one per connection is still
    # in flight when it stops.
    if not valid_sent - CONNECTIONS <= ok <= valid_sent:
        problems.append(f"{ok} responses were 200 but {valid_sent} valid requests were sent (garbage allowed, or valid denied)")
    # The filter's own count: it decided the in-flight ones too.
    if not ok <= r["allowed"] <= min(valid_sent, ok + CONNECTIONS):
        problems.append(f"the filter allowed {r['allowed']} requests: wrk saw {ok} 200s, {valid_sent} valid requests were sent")
    if r["vm_start"] != r["vm_end"]:
        problems.append(f"wasm VMs changed during the load: {r['vm_start']} -> {r['vm_end']}")
    if any(r["vm_end"].get(k) for k in RELOAD_STATS):
        problems.append(f"VM reloads: {r['vm_end']}")
    if any(v != 200 for v in r["after"].values()):
        problems.append(f"valid tokens after the load: {r['after']}")
    growth_mb = (r["rss_end_kb"] - r["rss_start_kb"]) / 1024
    if growth_mb >= RSS_LIMIT_MB:
        problems.append(f"RSS grew by {growth_mb:.1f} MB (limit {RSS_LIMIT_MB})")
    if r["panics"]:
        problems.append(f"panics in the log: {r['panics'][:3]}")
    if r["crypto_host"] != 1:
        problems.append("host crypto was not active")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wasm", default=str(ROOT / "target/wasm32-unknown-unknown/release/jwtgate_filter.wasm"))
    ap.add_argument("--seconds", type=int, default=LOAD_SECONDS)
    args = ap.parse_args()
    install_cleanup()
    r = run(str(Path(args.wasm).resolve()), seconds=args.seconds)
    print(report(r))
    problems = check(r)
    for p in problems:
        print("FAIL: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
