"""Host crypto: RS*/ES* signatures checked by Envoy's `verify_signature`
foreign function (BoringSSL) instead of pure Rust in wasm.

Loaded by test_e2e.py's runner (tests/e2e/run.sh). Its own Envoys:

  host, rust, auto   the scenario policy with `signature_verifier` set to each
                     value; the whole request matrix must get the same answers
                     from all three (differential: host vs the pure-Rust reference)
  fixture-host/-rust the core's attack suite (tests/fixtures/tokens: policy.json
                     and every case of cases.json, re-minted at the current time
                     with gen_tokens.make_cases) through Envoy

`wasmcustom.jwtgate.crypto.host_checks` counts the answers Envoy gave, so
the tests can see which path decided each request.
"""

from __future__ import annotations

import http.client
import sys
import time
import unittest
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "tests" / "fixtures" / "tokens"))

import scenario  # noqa: E402
from harness import (  # noqa: E402
    stop_started,
    LOCALHOST,
    ROOT,
    EchoUpstream,
    Envoy,
    EnvoyFailedToStart,
    Keys,
    bootstrap_jwt_authn,
    bootstrap_jwtgate,
    claims,
    log,
    tamper,
)

with warnings.catch_warnings():
    # gen_tokens makes a 1024-bit key on purpose (it must be refused).
    warnings.simplefilter("ignore")
    import gen_tokens  # noqa: E402

WASM = str(ROOT / "target/wasm32-unknown-unknown/release/jwtgate_filter.wasm")  # main() may replace it
MODES = ("host", "rust", "auto")

HOST_CHECKS = "wasmcustom.jwtgate.crypto.host_checks"
HOST_FALLBACKS = "wasmcustom.jwtgate.crypto.host_fallbacks"
HOST_GAUGE = "wasmcustom.jwtgate.crypto.host"

HOST_LINE = "jwtgate: signature checks by envoy (BoringSSL) for RS*/ES*, pure Rust for others"
RUST_LINE = 'jwtgate: signature checks by pure Rust for every algorithm (signature_verifier is "rust")'

# Algorithms Envoy's verify_signature serves (PKCS#1 v1.5 RSA, DER ECDSA).
HOST_ALGS = {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}

# Fixture cases whose HTTP answer must differ from the core's verdict, with the reason.
FIXTURE_DIFFERENCES = {
    "empty": (
        "missing",
        "an empty token cannot be sent: Envoy trims `Bearer ` to `Bearer`, which carries no token",
    ),
}

KEYS: Keys
UPSTREAM: EchoUpstream
ENVOYS: dict[str, Envoy] = {}  # scenario policy, by signature_verifier
FIXTURE: dict[str, Envoy] = {}  # gen_tokens policy, by signature_verifier
_started: list = []


def _policy(mode: str) -> dict:
    p = scenario.policy(KEYS)
    p["signature_verifier"] = mode
    return p


def _start(env: Envoy) -> Envoy:
    try:
        env.start()
    except EnvoyFailedToStart as e:
        log(e.log[-4000:])
        raise
    _started.append(env)
    return env


def setUpModule() -> None:  # noqa: N802 (unittest's name)
    global KEYS, UPSTREAM
    KEYS = Keys()
    UPSTREAM = EchoUpstream().__enter__()
    _started.append(UPSTREAM)
    for mode in MODES:
        ENVOYS[mode] = _start(Envoy(bootstrap_jwtgate(WASM, _policy(mode), UPSTREAM.port), name=f"jwtgate-{mode}"))
    for mode in ("host", "rust"):
        p = dict(gen_tokens.policy, signature_verifier=mode)
        FIXTURE[mode] = _start(Envoy(bootstrap_jwtgate(WASM, p, UPSTREAM.port), name=f"jwtgate-fixture-{mode}"))


def tearDownModule() -> None:  # noqa: N802
    stop_started(_started)
    ENVOYS.clear()
    FIXTURE.clear()


def _counts(env: Envoy) -> dict[str, int]:
    return env.stats("jwtgate")


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


def _answer(r) -> tuple:
    """What a client and the upstream see, for comparing filters."""
    return (r.status, r.error_code(), tuple(r.upstream_headers("x-jwt-sub")))


# --------------------------------------------------------------------------
# Which path is active, and that it is really used
# --------------------------------------------------------------------------


class HostCryptoPath(unittest.TestCase):
    def test_host_and_auto_use_envoy_crypto(self) -> None:
        for mode in ("host", "auto"):
            env = ENVOYS[mode]
            self.assertEqual(env.stats("jwtgate.crypto").get(HOST_GAUGE), 1, mode)
            self.assertIn(HOST_LINE, env.log(), mode)
            self.assertNotIn("self-test", env.log(), mode)

    def test_rust_setting_keeps_pure_rust(self) -> None:
        env = ENVOYS["rust"]
        self.assertEqual(env.stats("jwtgate.crypto").get(HOST_GAUGE), 0)
        self.assertIn(RUST_LINE, env.log())
        before = _counts(env)
        for alg in ("RS256", "ES256"):
            self.assertEqual(env.get("/orders", scenario.bearer(KEYS.sign(alg, claims()))).status, 200)
        delta = _delta(before, _counts(env))
        self.assertEqual(delta["wasmcustom.jwtgate.allowed"], 2)
        # The self-test never ran, and no request asked Envoy.
        self.assertEqual(_counts(env)[HOST_CHECKS], 0)

    def test_envoy_answers_exactly_the_rs_and_es_algorithms(self) -> None:
        env = ENVOYS["host"]
        for alg in scenario.ALL_ALGS:
            issuer = scenario.HMAC_ISSUER if alg.startswith("HS") else scenario.ISSUER
            before = _counts(env)
            r = env.get("/orders", scenario.bearer(KEYS.sign(alg, claims(issuer=issuer))))
            self.assertEqual(r.status, 200, (alg, r.body[:200]))
            delta = _delta(before, _counts(env))
            self.assertEqual(delta[HOST_CHECKS], 1 if alg in HOST_ALGS else 0, alg)
            self.assertEqual(delta[HOST_FALLBACKS], 0, alg)

    def test_bad_signatures_are_refused_by_envoy(self) -> None:
        env = ENVOYS["host"]
        other = Keys()  # same kid, another key: a valid signature by the wrong key
        tokens = {
            "tampered RS256": tamper(KEYS.sign("RS256", claims())),
            "tampered ES256": tamper(KEYS.sign("ES256", claims())),
            "tampered ES512": tamper(KEYS.sign("ES512", claims())),
            "RS384 by another key": other.sign("RS384", claims()),
            "ES384 by another key": other.sign("ES384", claims()),
            "last signature bit flipped (RS512)": _flip_last_bit(KEYS.sign("RS512", claims())),
        }
        for name, tok in tokens.items():
            with self.subTest(name):
                before = _counts(env)
                r = env.get("/orders", scenario.bearer(tok))
                self.assertEqual((r.status, r.error_code()), (401, "bad_signature"))
                self.assertIsNone(r.upstream)
                delta = _delta(before, _counts(env))
                # Envoy said no (no fallback, so pure Rust never decided).
                self.assertEqual((delta[HOST_CHECKS], delta[HOST_FALLBACKS]), (1, 0))
                # The same token under pure Rust: the same answer.
                self.assertEqual(_answer(ENVOYS["rust"].get("/orders", scenario.bearer(tok))), _answer(r))

    def test_ecdsa_signature_with_zero_r_and_s_never_reaches_envoy(self) -> None:
        # r = s = 0 is refused by the core's format check (alg::check_format)
        # before any host is asked: neither an Envoy check nor a fallback.
        h, p, _ = KEYS.sign("ES256", claims()).split(".")
        tok = f"{h}.{p}.{'A' * 86}"
        before = _counts(ENVOYS["host"])
        r = ENVOYS["host"].get("/orders", scenario.bearer(tok))
        self.assertEqual((r.status, r.error_code()), (401, "bad_signature"))
        delta = _delta(before, _counts(ENVOYS["host"]))
        self.assertEqual((delta[HOST_CHECKS], delta[HOST_FALLBACKS]), (0, 0))

    def test_host_crypto_metrics_are_defined(self) -> None:
        names = set(ENVOYS["rust"].stats("jwtgate.crypto"))
        self.assertEqual({HOST_GAUGE, HOST_CHECKS, HOST_FALLBACKS} - names, set())


def _flip_last_bit(token: str) -> str:
    import base64

    h, p, s = token.split(".")
    sig = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    sig[-1] ^= 1
    return f"{h}.{p}.{base64.urlsafe_b64encode(bytes(sig)).rstrip(b'=').decode()}"


# --------------------------------------------------------------------------
# Differential: the request matrix under host, rust and auto
# --------------------------------------------------------------------------


class HostVsRustMatrix(unittest.TestCase):
    """Every scenario case, one token sent to all three Envoys: identical
    status, error code and upstream view, and the one the matrix expects."""


def _differential_test(case: scenario.Case):
    def test(self: unittest.TestCase) -> None:
        headers = case.headers(KEYS)
        path = case.path.replace("{tok}", KEYS.sign("RS256", claims())) if "{tok}" in case.path else case.path
        answers = {mode: _answer(ENVOYS[mode].get(path, headers, case.method)) for mode in MODES}
        self.assertEqual(answers["host"], answers["rust"], answers)
        self.assertEqual(answers["auto"], answers["rust"], answers)
        self.assertEqual(answers["rust"][:2], (case.status, case.code))

    return test


for _case in scenario.cases():
    import re as _re

    setattr(HostVsRustMatrix, "test_" + _re.sub(r"[^a-z0-9]+", "_", _case.name.lower()).strip("_"), _differential_test(_case))


# --------------------------------------------------------------------------
# The core's attack suite (PyJWT-minted fixtures) through Envoy
# --------------------------------------------------------------------------


def _expected_status(expect: str) -> int:
    if expect == "ok":
        return 200
    return 403 if expect == "claim_rule_failed" else 401


class FixtureAttackSuite(unittest.TestCase):
    """tests/fixtures/tokens/cases.json's cases, re-minted at the current time.

    Some cases sit one second inside or outside the 60 s clock skew (e.g.
    `exp = now - 59` is still valid, `nbf = now + 61` is not yet). They are
    minted right after a second starts and all answers must arrive within that
    same second; otherwise the run is repeated (at most 5 times).
    """

    def run_cases(self, mode: str) -> dict[str, tuple[int, str]]:
        env = FIXTURE[mode]
        for _attempt in range(5):
            while time.time() % 1 > 0.05:
                time.sleep(0.005)
            now = int(time.time())
            cases = gen_tokens.make_cases(now)
            got = {}
            for c in cases:
                r = env.get(c.get("path", "/"), {"authorization": "Bearer " + c["token"]})
                got[c["name"]] = (r.status, "ok" if r.status == 200 else r.error_code())
            if int(time.time()) == now:
                self.assertEqual(len(got), len(cases), "case names must be unique")
                return {c["name"]: (c["expect"], got[c["name"]]) for c in cases}
        self.fail("could not send the fixture cases within one second")

    def check(self, mode: str) -> dict:
        before = _counts(FIXTURE[mode])
        results = self.run_cases(mode)
        self.assertGreaterEqual(len(results), 60)
        for name, (expect, (status, code)) in results.items():
            with self.subTest(name):
                if name in FIXTURE_DIFFERENCES:
                    expect = FIXTURE_DIFFERENCES[name][0]
                self.assertEqual((status, code), (_expected_status(expect), expect))
        self.assertEqual(set(FIXTURE_DIFFERENCES) - set(results), set(), "a listed difference names no case")
        delta = _delta(before, _counts(FIXTURE[mode]))
        return {"results": results, "delta": delta}

    def test_under_host_crypto(self) -> None:
        out = self.check("host")
        # RS*/ES* cases were decided by Envoy: at least every valid one of them.
        valid_host = [n for n, (e, _) in out["results"].items() if e == "ok" and n.split()[-1] in HOST_ALGS]
        self.assertEqual(len(valid_host), 6)
        self.assertGreaterEqual(out["delta"][HOST_CHECKS], 20)
        # Envoy answered every check it was asked (r = s = 0 never reaches it).
        self.assertEqual(out["delta"][HOST_FALLBACKS], 0)

    def test_under_pure_rust(self) -> None:
        out = self.check("rust")
        self.assertEqual(out["delta"][HOST_CHECKS], 0)


# --------------------------------------------------------------------------
# Speed: cold RS256 requests, host vs pure Rust (and jwt_authn for reference)
# --------------------------------------------------------------------------

N = 300
CHUNK = 50


def _time_requests(env: Envoy, tokens: list[str], expect: int) -> float:
    """Seconds for `tokens` sent one by one on one kept-alive connection."""
    conn = http.client.HTTPConnection(LOCALHOST, env.port, timeout=10)
    try:
        t0 = time.perf_counter()
        for tok in tokens:
            conn.request("GET", "/orders", headers={"host": "api.example.com", "authorization": "Bearer " + tok})
            r = conn.getresponse()
            r.read()
            if r.status != expect:
                raise AssertionError(f"{env.name}: {r.status}, expected {expect}")
        return time.perf_counter() - t0
    finally:
        conn.close()


class Speed(unittest.TestCase):
    """N fresh RS256 tokens (cache misses) to each Envoy, interleaved in chunks
    so that background load hits both alike. Two runs: tokens with a tampered
    payload (401 bad_signature: the signature check decides and nothing is
    proxied, so this is the filter's own cost; jwt_authn also checks the
    signature here, unlike for a wrong audience, which it refuses first), and
    valid tokens (200, through the upstream)."""

    authn: Envoy | None = None

    @classmethod
    def setUpClass(cls) -> None:
        try:
            cls.authn = Envoy(bootstrap_jwt_authn(scenario.jwt_authn(KEYS), UPSTREAM.port, scenario.RBAC), name="jwt_authn-speed")
            cls.authn.start()
        except EnvoyFailedToStart:
            cls.authn = None  # the reference is for the printout only

    @classmethod
    def tearDownClass(cls) -> None:
        if cls.authn:
            cls.authn.stop()

    def measure(self, tampered: bool, expect: int) -> dict[str, float]:
        tokens = [KEYS.sign("RS256", claims()) for _ in range(N)]
        if tampered:
            tokens = [tamper(t) for t in tokens]
        envs = {"host": ENVOYS["host"], "rust": ENVOYS["rust"]}
        if self.authn:
            envs["jwt_authn"] = self.authn
        before = {m: _counts(e) for m, e in envs.items() if m != "jwt_authn"}
        total = dict.fromkeys(envs, 0.0)
        for i in range(0, N, CHUNK):
            order = list(envs) if (i // CHUNK) % 2 == 0 else list(reversed(envs))
            for m in order:
                total[m] += _time_requests(envs[m], tokens[i : i + CHUNK], expect)
        for m, b in before.items():
            d = _delta(b, _counts(envs[m]))
            self.assertEqual(d["wasmcustom.jwtgate.cache.hits"], 0, f"{m}: not cold")
            self.assertEqual(d[HOST_CHECKS], N if m == "host" else 0, m)
        per = {m: t / N * 1000 for m, t in total.items()}
        log(
            f"  {N} cold RS256 ({'tampered, 401' if tampered else 'valid, 200'}), ms per request: "
            + ", ".join(f"{m} {v:.2f}" for m, v in per.items())
            + f"; pure Rust / host = {per['rust'] / per['host']:.1f}x"
        )
        return per

    def test_host_is_faster_than_pure_rust(self) -> None:
        # No upstream: the difference is the signature check itself.
        filter_only = self.measure(tampered=True, expect=401)
        self.assertLess(filter_only["host"], filter_only["rust"])
        valid = self.measure(tampered=False, expect=200)
        self.assertLess(valid["host"], valid["rust"])
