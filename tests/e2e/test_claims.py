"""Claims and keys: the jwtgate filter next to Envoy's jwt_authn, same tokens.

Loaded by test_e2e.py's runner (tests/e2e/run.sh). Two Envoys behind one echo
upstream, configured alike: jwtgate (proxy-wasm) and jwt_authn. Each test sends
the same PyJWT-minted token to both and compares what the upstream received,
or what was answered. Where jwtgate differs on purpose, the test pins both
answers and says why (docs/POLICY.md: Claim headers, Audiences, Keys without a
`kid`, Registered claims; the `max_remaining_lifetime_seconds` row).
"""

from __future__ import annotations

import base64
import json
import sys
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from jwt import api_jws  # noqa: E402

from harness import (  # noqa: E402
    KID_FOR_ALG,
    ROOT,
    EchoUpstream,
    Envoy,
    EnvoyFailedToStart,
    Keys,
    bootstrap_jwt_authn,
    bootstrap_jwtgate,
    log,
    stop_started,
)

WASM = str(ROOT / "target/wasm32-unknown-unknown/release/jwtgate_filter.wasm")  # main() may replace it
ISS = "https://claims.example.com"
AUD = "api.example.com"

# claim path -> header; the same list for both (jwt_authn's claim_name is a dotted path).
HEADERS = {
    "s": "x-s", "utf8": "x-utf8", "int": "x-int", "one": "x-one", "t": "x-t", "list": "x-list",
    "pad": "x-pad", "obj": "x-obj", "realm_access.roles": "x-realm", "x.y": "x-dotted",
    "neg": "x-neg", "frac": "x-frac", "lead": "x-lead", "tab": "x-tab", "nul": "x-nul", "empty": "x-empty",
}

KEYS: Keys
UPSTREAM: EchoUpstream
GATE: Envoy
AUTHN: Envoy
_started: list = []


def _jwks() -> dict:
    """The RSA key with its kid, the P-256 key without one."""
    rsa = KEYS.public_jwk("rsa")
    ec = KEYS.public_jwk("ec256")
    del ec["kid"]
    return {"keys": [rsa, ec]}


def _policy() -> dict:
    common = {"jwks": _jwks(), "forward": True}
    return {
        "providers": {
            "idp": {**common, "issuer": ISS, "audiences": [AUD],
                    "claim_to_headers": [{"claim": c, "header": h} for c, h in HEADERS.items()]},
            "life": {**common, "issuer": "life", "max_remaining_lifetime_seconds": 100},
        },
        "rules": [{"prefix": "/life", "requires": "life"}, {"prefix": "/", "requires": "idp"}],
        "cache": {"enabled": False},
    }


def _jwt_authn() -> dict:
    common = {"local_jwks": {"inline_string": json.dumps(_jwks())}, "forward": True}
    return {
        "providers": {
            "idp": {**common, "issuer": ISS, "audiences": [AUD],
                    "claim_to_headers": [{"claim_name": c, "header_name": h} for c, h in HEADERS.items()]},
            "life": {**common, "issuer": "life", "max_lifetime": "100s"},
        },
        "rules": [{"match": {"prefix": "/life"}, "requires": {"provider_name": "life"}},
                  {"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
    }


def _start(env: Envoy) -> Envoy:
    try:
        env.start()
    except EnvoyFailedToStart as e:
        log(e.log[-4000:])
        raise
    _started.append(env)
    return env


def setUpModule() -> None:  # noqa: N802 (unittest's name)
    global KEYS, UPSTREAM, GATE, AUTHN
    KEYS = Keys()
    UPSTREAM = EchoUpstream().__enter__()
    _started.append(UPSTREAM)
    GATE = _start(Envoy(bootstrap_jwtgate(WASM, _policy(), UPSTREAM.port), name="claims-jwtgate"))
    AUTHN = _start(Envoy(bootstrap_jwt_authn(_jwt_authn(), UPSTREAM.port), name="claims-jwt_authn"))


def tearDownModule() -> None:  # noqa: N802
    stop_started(_started)


NO_KID = object()


def _token(alg: str = "RS256", kid=None, **claims) -> str:
    """Signed by the key for `alg`; `kid` defaults to that key's name, NO_KID leaves it out."""
    now = int(time.time())
    c = {"iss": ISS, "aud": AUD, "exp": now + 600}
    c.update(claims)
    c = {k: v for k, v in c.items() if v is not None}
    payload = json.dumps(c, separators=(",", ":"), ensure_ascii=False).encode()
    signing = KID_FOR_ALG[alg]
    headers = {} if kid is NO_KID else {"kid": signing if kid is None else kid}
    return api_jws.encode(payload, KEYS.private[signing], algorithm=alg, headers=headers)


def _both(token: str, path: str = "/"):
    headers = {"authorization": f"Bearer {token}"}
    return GATE.get(path, headers), AUTHN.get(path, headers)


def _upstream_bytes(r, name: str) -> bytes | None:
    """The header's bytes as the upstream received them (the echo decodes Latin-1)."""
    values = r.upstream_headers(name)
    return values[0].encode("latin-1") if values else None


class ClaimHeaders(unittest.TestCase):
    def test_same_bytes_as_jwt_authn(self) -> None:
        gate, authn = _both(_token(
            s="alice", utf8="José € 😀", int=7, one=1.0, t=True,
            list=["a", "b,c", "é", 1, 1.5, True, None, {"k": "v"}], pad=["a"],
            obj={"b": 1, "a": [True, None], "c": "x"},
            realm_access={"roles": ["r1"]}, **{"realm_access.roles": ["spoof"], "x.y": "top", "x": {"y": "nested"}},
        ))
        self.assertEqual((gate.status, authn.status), (200, 200), gate.body)
        for name in ["x-s", "x-utf8", "x-int", "x-one", "x-t", "x-list", "x-pad", "x-realm", "x-dotted"]:
            with self.subTest(name):
                self.assertIsNotNone(_upstream_bytes(authn, name))
                self.assertEqual(_upstream_bytes(gate, name), _upstream_bytes(authn, name))
        # Objects: the same JSON value. jwt_authn writes the members in no stable
        # order (seen a,b,c and c,b,a for one object); jwtgate sorts them.
        decoded = [json.loads(base64.b64decode(_upstream_bytes(r, "x-obj"))) for r in (gate, authn)]
        self.assertEqual(decoded[0], decoded[1])
        self.assertEqual(_upstream_bytes(gate, "x-obj"), base64.b64encode(b'{"a":[true,null],"b":1,"c":"x"}'))
        # What the shared encoding means (written from docs/POLICY.md, not read from either side):
        self.assertEqual(_upstream_bytes(gate, "x-utf8"), "José € 😀".encode())
        self.assertEqual(json.loads(base64.b64decode(_upstream_bytes(gate, "x-list"))),
                         ["a", "b,c", "é", 1, 1.5, True, None, {"k": "v"}])
        self.assertEqual(_upstream_bytes(gate, "x-pad"), b"WyJhIl0=")  # padded standard base64
        self.assertEqual(_upstream_bytes(gate, "x-realm"), base64.b64encode(b'["r1"]'))
        self.assertEqual(_upstream_bytes(gate, "x-dotted"), b"nested")  # a string path is nested members

    def test_listed_differences(self) -> None:
        gate, authn = _both(_token(neg=-1, frac=1.5, lead=" admin", tab="a\tb", nul=None, empty=""))
        self.assertEqual((gate.status, authn.status), (200, 200))
        # Numbers that are not non-negative integers: jwt_authn prints six decimals.
        self.assertEqual((_upstream_bytes(gate, "x-neg"), _upstream_bytes(authn, "x-neg")), (b"-1", b"-1.000000"))
        self.assertEqual((_upstream_bytes(gate, "x-frac"), _upstream_bytes(authn, "x-frac")), (b"1.5", b"1.500000"))
        # A leading space would be stripped by the upstream's parser: jwtgate sends no header.
        self.assertIsNone(_upstream_bytes(gate, "x-lead"))
        self.assertEqual(_upstream_bytes(authn, "x-lead"), b"admin")
        # A tab is a control character: no header from jwtgate; jwt_authn forwards it.
        self.assertIsNone(_upstream_bytes(gate, "x-tab"))
        self.assertEqual(_upstream_bytes(authn, "x-tab"), b"a\tb")
        for name in ["x-nul", "x-empty"]:  # no header from either
            self.assertEqual((_upstream_bytes(gate, name), _upstream_bytes(authn, name)), (None, None))

    def test_line_breaks_never_reach_the_upstream(self) -> None:
        gate, authn = _both(_token(s="a\r\nx-admin: 1"))
        # jwtgate: the request goes on without the header; jwt_authn: Envoy refuses it.
        self.assertEqual(gate.status, 200)
        self.assertIsNone(_upstream_bytes(gate, "x-s"))
        self.assertEqual(gate.upstream_headers("x-admin"), [])
        self.assertEqual(authn.status, 503)
        self.assertIn(b"invalid header value", authn.body)


class KeySelection(unittest.TestCase):
    def test_a_kid_no_key_has_falls_back_to_keys_without_kid(self) -> None:
        gate, authn = _both(_token("ES256", kid="rotated"))
        self.assertEqual((gate.status, authn.status), (200, 200), gate.body)
        gate, authn = _both(_token("ES256", kid=NO_KID))
        self.assertEqual((gate.status, authn.status), (200, 200), gate.body)
        # Another key with an unknown kid: refused by both.
        gate, authn = _both(_token("ES384", kid="rotated"))
        self.assertEqual((gate.status, authn.status), (401, 401))

    def test_a_kid_some_key_has_picks_only_those_keys(self) -> None:
        # Signed by the kid-less P-256 key, but naming the RSA key's kid:
        # jwt_authn also tries the keys without kid; jwtgate tries only "rsa".
        gate, authn = _both(_token("ES256", kid="rsa"))
        self.assertEqual((gate.status, gate.error_code(), authn.status), (401, "key_mismatch", 200))


class Audiences(unittest.TestCase):
    def test_exact_where_jwt_authn_strips_scheme_and_slash(self) -> None:
        for aud in [f"https://{AUD}", f"http://{AUD}/", f"{AUD}/"]:
            with self.subTest(aud):
                gate, authn = _both(_token(aud=aud))
                self.assertEqual((gate.status, gate.error_code(), authn.status), (401, "wrong_audience", 200))
        gate, authn = _both(_token(aud=[AUD]))
        self.assertEqual((gate.status, authn.status), (200, 200))


class RemainingLifetime(unittest.TestCase):
    def test_max_remaining_lifetime_seconds_is_max_lifetime(self) -> None:
        now = int(time.time())
        for name, extra, status in [
            ("exp - now = 90 < 100, long since iat", {"exp": now + 90, "iat": now - 1000}, 200),
            ("exp - now = 150", {"exp": now + 150, "iat": now}, 401),
            ("no iat", {"exp": now + 90}, 200),
            ("no exp", {"exp": None}, 401),
        ]:
            with self.subTest(name):
                gate, authn = _both(_token(iss="life", aud=None, **extra), "/life")
                self.assertEqual((gate.status, authn.status), (status, status), gate.body)


class RegisteredClaims(unittest.TestCase):
    def test_wrong_types_and_ranges(self) -> None:
        for name, extra in [
            ("sub number", {"sub": 5}), ("jti number", {"jti": 5}), ("aud element number", {"aud": [AUD, 1]}),
            ("exp negative", {"exp": -5}), ("nbf negative", {"nbf": -1}),
        ]:
            with self.subTest(name):
                gate, authn = _both(_token(**extra))
                self.assertEqual((gate.status, gate.error_code(), authn.status), (401, "invalid_claim", 401))

    def test_dates_after_9999(self) -> None:
        # jwt_authn accepts any exp below 2^64 seconds; jwtgate stops at 9999-12-31T23:59:59Z.
        gate, authn = _both(_token(exp=10**12))
        self.assertEqual((gate.status, gate.error_code(), authn.status), (401, "invalid_claim", 200))
