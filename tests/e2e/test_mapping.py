"""envoy/README.md's jwt_authn mapping, row by row, against the real jwt_authn.

Loaded by test_e2e.py's runner. Each test here pins one statement of the
mapping ("jwt_authn does X, jwtgate does Y") with Envoy 1.40's own jwt_authn
next to the jwtgate filter; the README names the test id in the row, and
`MappingRows` checks that every id named there exists (so rows and tests
cannot drift apart silently).

Envoys of this module:
  defaults-authn   jwt_authn with provider "zero" (clock_skew_seconds: 0,
                   jwt_cache_config: {}), "plain" (nothing set) and "small"
                   (jwt_cache_config.jwt_max_token_size: 100)
  defaults-gate    jwtgate with the same two providers, jwtgate's defaults
                   otherwise (no `cache` key, no `require_exp`)
  match-authn      jwt_authn with one rule per RouteMatch field
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scenario  # noqa: E402
from harness import (  # noqa: E402
    ROOT,
    EchoUpstream,
    Envoy,
    EnvoyFailedToStart,
    Keys,
    bootstrap,
    bootstrap_jwt_authn,
    bootstrap_jwtgate,
    claims,
    envoy_binary,
    stop_started,
    wasm_filter,
)

WASM = str(ROOT / "target/wasm32-unknown-unknown/release/jwtgate_filter.wasm")  # main() may replace it
ZERO = "https://zero.example.com"
PLAIN = "https://plain.example.com"
SMALL = "https://small.example.com"
README = ROOT / "envoy" / "README.md"

KEYS: Keys
UPSTREAM: EchoUpstream
AUTHN: Envoy
GATE: Envoy
_started: list = []


def _jwks() -> str:
    return json.dumps(KEYS.asymmetric_jwks())


def _authn_config() -> dict:
    return {
        "providers": {
            "zero": {
                "issuer": ZERO,
                "local_jwks": {"inline_string": _jwks()},
                "clock_skew_seconds": 0,
                "jwt_cache_config": {},
            },
            "plain": {"issuer": PLAIN, "local_jwks": {"inline_string": _jwks()}},
            "small": {"issuer": SMALL, "local_jwks": {"inline_string": _jwks()}, "jwt_cache_config": {"jwt_max_token_size": 100}},
        },
        "rules": [
            {"match": {"prefix": "/zero"}, "requires": {"provider_name": "zero"}},
            {"match": {"prefix": "/plain"}, "requires": {"provider_name": "plain"}},
            {"match": {"prefix": "/small"}, "requires": {"provider_name": "small"}},
        ],
    }


def _gate_policy() -> dict:
    return {
        "providers": {
            "zero": {"issuer": ZERO, "jwks": KEYS.asymmetric_jwks(), "clock_skew_seconds": 0},
            "plain": {"issuer": PLAIN, "jwks": KEYS.asymmetric_jwks()},
            "noexp": {"issuer": PLAIN, "jwks": KEYS.asymmetric_jwks(), "require_exp": False},
        },
        "rules": [
            {"prefix": "/zero", "requires": "zero"},
            {"prefix": "/plain", "requires": "plain"},
            {"prefix": "/noexp", "requires": "noexp"},
        ],
    }


def setUpModule() -> None:  # noqa: N802
    global KEYS, UPSTREAM, AUTHN, GATE
    KEYS = Keys()
    UPSTREAM = EchoUpstream().__enter__()
    _started.append(UPSTREAM)
    AUTHN = Envoy(bootstrap_jwt_authn(_authn_config(), UPSTREAM.port), name="defaults-authn").start()
    _started.append(AUTHN)
    GATE = Envoy(bootstrap_jwtgate(WASM, _gate_policy(), UPSTREAM.port), name="defaults-gate").start()
    _started.append(GATE)


def tearDownModule() -> None:  # noqa: N802
    stop_started(_started)


def _token(issuer: str, **kw) -> dict:
    return {"authorization": "Bearer " + KEYS.sign("ES256", claims(issuer=issuer, aud=None, **kw))}


def _status(env: Envoy, path: str, issuer: str, **kw) -> int:
    return env.get(path, _token(issuer, **kw)).status


class ClockSkew(unittest.TestCase):
    """`clock_skew_seconds`: jwt_authn treats 0 as 60 and applies the skew to
    exp and nbf only; jwtgate honours 0 and also applies it to iat."""

    def test_jwt_authn_treats_zero_as_60(self) -> None:
        now = int(time.time())
        self.assertEqual(_status(AUTHN, "/zero", ZERO, iat=now - 600, exp=now - 30), 200)
        self.assertEqual(_status(AUTHN, "/zero", ZERO, iat=now - 600, exp=now - 120), 401)

    def test_jwtgate_honours_zero(self) -> None:
        now = int(time.time())
        r = GATE.get("/zero", _token(ZERO, iat=now - 600, exp=now - 30))
        self.assertEqual((r.status, r.error_code()), (401, "expired"))
        self.assertEqual(_status(GATE, "/zero", ZERO, iat=now - 600, exp=now + 30), 200)

    def test_jwt_authn_ignores_iat_jwtgate_checks_it_with_the_skew(self) -> None:
        now = int(time.time())
        # An hour in the future: jwt_authn does not look at iat at all.
        self.assertEqual(_status(AUTHN, "/plain", PLAIN, iat=now + 3600, exp=now + 7200), 200)
        r = GATE.get("/plain", _token(PLAIN, iat=now + 3600, exp=now + 7200))
        self.assertEqual((r.status, r.error_code()), (401, "issued_in_future"))
        # Within the (default 60 s) skew, jwtgate accepts it; with skew 0 it does not.
        self.assertEqual(_status(GATE, "/plain", PLAIN, iat=now + 30, exp=now + 600), 200)
        r = GATE.get("/zero", _token(ZERO, iat=now + 30, exp=now + 600))
        self.assertEqual((r.status, r.error_code()), (401, "issued_in_future"))


class RequireExpiration(unittest.TestCase):
    """`require_expiration` (jwt_authn default false) vs `require_exp` (jwtgate default true)."""

    def test_token_without_exp(self) -> None:
        self.assertEqual(_status(AUTHN, "/plain", PLAIN, exp=None), 200)
        r = GATE.get("/plain", _token(PLAIN, exp=None))
        self.assertEqual((r.status, r.error_code()), (401, "missing_claim"))
        self.assertEqual(_status(GATE, "/noexp", PLAIN, exp=None), 200)


class JwtCache(unittest.TestCase):
    """`jwt_cache_config`: jwt_authn's cache is per provider, off unless
    configured, 100 entries by default; jwtgate's is one per VM for all
    providers and on by default."""

    @staticmethod
    def authn_cache() -> tuple[int, int]:
        s = AUTHN.stats("jwt_authn")
        return s.get("http.ingress.jwt_authn.jwt_cache_hit", 0), s.get("http.ingress.jwt_authn.jwt_cache_miss", 0)

    def test_jwt_authn_cache_is_off_unless_configured(self) -> None:
        tok = _token(PLAIN)
        hits, _ = self.authn_cache()
        for _ in range(3):
            self.assertEqual(AUTHN.get("/plain", tok).status, 200)
        self.assertEqual(self.authn_cache()[0], hits, "provider without jwt_cache_config hit a cache")
        tok = _token(ZERO)
        hits, _ = self.authn_cache()
        for _ in range(3):
            self.assertEqual(AUTHN.get("/zero", tok).status, 200)
        self.assertEqual(self.authn_cache()[0], hits + 2)

    def test_jwt_authn_cache_holds_100_tokens_by_default(self) -> None:
        tokens = [_token(ZERO) for _ in range(101)]
        for tok in tokens:
            self.assertEqual(AUTHN.get("/zero", tok).status, 200)
        hits, misses = self.authn_cache()
        self.assertEqual(AUTHN.get("/zero", tokens[0]).status, 200)  # the 101st pushed it out
        self.assertEqual(self.authn_cache(), (hits, misses + 1))
        self.assertEqual(AUTHN.get("/zero", tokens[-1]).status, 200)
        self.assertEqual(self.authn_cache(), (hits + 1, misses + 1))

    def test_jwt_authn_max_token_size_only_limits_what_is_cached(self) -> None:
        tok = _token(SMALL)
        self.assertGreater(len(tok["authorization"]), 100)
        hits, misses = self.authn_cache()
        for _ in range(3):
            self.assertEqual(AUTHN.get("/small", tok).status, 200, "a token over jwt_max_token_size was refused")
        self.assertEqual(self.authn_cache(), (hits, misses + 3))

    def test_jwtgate_cache_is_on_by_default_for_every_provider(self) -> None:
        def gate_cache() -> tuple[int, int]:
            s = GATE.stats("jwtgate.cache")
            return s.get("wasmcustom.jwtgate.cache.hits", 0), s.get("wasmcustom.jwtgate.cache.misses", 0)

        for path, issuer in (("/plain", PLAIN), ("/zero", ZERO)):
            tok = _token(issuer)
            hits, misses = gate_cache()
            for _ in range(3):
                self.assertEqual(GATE.get(path, tok).status, 200)
            self.assertEqual(gate_cache(), (hits + 2, misses + 1), path)


# One rule per RouteMatch field; each requires a token under its own prefix.
_IGNORED_BY_JWT_AUTHN = {
    "runtime_fraction": {"default_value": {"numerator": 0}, "runtime_key": "jwtgate.never"},
    "grpc": {},
    "tls_context": {"presented": True},
    "dynamic_metadata": [{"filter": "nope", "path": [{"key": "k"}], "value": {"present_match": True}}],
    "filter_state": [{"key": "nope", "string_match": {"exact": "v"}}],
}
_MATCH_RULES = [{"match": {"prefix": "/" + f, f: v}, "requires": {"provider_name": "plain"}} for f, v in _IGNORED_BY_JWT_AUTHN.items()] + [
    {"match": {"prefix": "/headers", "headers": [{"name": "x-need", "present_match": True}]}, "requires": {"provider_name": "plain"}},
    {"match": {"prefix": "/query", "query_parameters": [{"name": "need", "present_match": True}]}, "requires": {"provider_name": "plain"}},
    {"match": {"safe_regex": {"regex": "/re/[0-9]+"}}, "requires": {"provider_name": "plain"}},
    {"match": {"path_separated_prefix": "/seg"}, "requires": {"provider_name": "plain"}},
    {"match": {"prefix": "/CaSe", "case_sensitive": False}, "requires": {"provider_name": "plain"}},
    {
        "match": {
            "path_match_policy": {
                "name": "envoy.path.match.uri_template.uri_template_matcher",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig",
                    "path_template": "/tpl/{id}",
                },
            }
        },
        "requires": {"provider_name": "plain"},
    },
]


class JwtAuthnRouteMatch(unittest.TestCase):
    """Which RouteMatch fields jwt_authn 1.40 honours in its rules (a rule that
    matches requires a token: 401 without one; no match: 200)."""

    @classmethod
    def setUpClass(cls) -> None:
        config = _authn_config()
        config["rules"] = _MATCH_RULES
        cls.env = Envoy(bootstrap_jwt_authn(config, UPSTREAM.port), name="match-authn").start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.env.stop()

    def status(self, path: str, headers: dict | None = None) -> int:
        return self.env.get(path, headers or {}).status

    def test_jwt_authn_ignores_runtime_fraction_grpc_tls_context_dynamic_metadata_filter_state(self) -> None:
        # Each of these conditions is false for a plain GET (0% runtime, not
        # gRPC, no TLS, no such metadata or filter state), yet the rule applies.
        for field in _IGNORED_BY_JWT_AUTHN:
            self.assertEqual(self.status("/" + field), 401, field)
        self.assertEqual(self.status("/elsewhere"), 200)

    def test_jwt_authn_honours_headers_query_parameters_regex_segments_case_templates(self) -> None:
        expect = {
            "/headers": 200, "/query": 200, "/query?need=1": 401,
            "/re/12": 401, "/re/x": 200,
            "/seg": 401, "/seg/a": 401, "/segx": 200,
            "/case/x": 401, "/CASE": 401,
            "/tpl/5": 401, "/tpl/5/6": 200,
        }  # fmt: skip
        got = {p: self.status(p) for p in expect}
        self.assertEqual(got, expect)
        self.assertEqual(self.status("/headers", {"x-need": "1"}), 401)


class JwtgateRefusesUnsupportedRuleFields(unittest.TestCase):
    """jwtgate has no such rule fields: a policy with one is refused at load
    (naming the field), never silently widened or narrowed."""

    FIELDS = {
        "headers": [{"name": "x", "present_match": True}],
        "query_parameters": [{"name": "q"}],
        "safe_regex": {"regex": "/a.*"},
        "connect_matcher": {},
        "runtime_fraction": {"default_value": {"numerator": 50}},
        "grpc": {},
        "path_match_policy": {"name": "x"},
        "extract_only_without_validation": {},
    }

    def test_each_is_refused(self) -> None:
        for field, value in self.FIELDS.items():
            p = _gate_policy()
            p["rules"][0][field] = value
            env = Envoy(bootstrap_jwtgate(WASM, p, UPSTREAM.port), name="refused-field")
            # A refused policy ends Envoy at once; the long timeout only covers a loaded machine.
            with self.subTest(field=field), self.assertRaises(EnvoyFailedToStart) as ctx:
                env.start(timeout=60)
            env.stop()
            self.assertIn(f"jwtgate: invalid configuration: rules[0].{field}: unknown field `{field}`", ctx.exception.log)


class JwtAuthnFields(unittest.TestCase):
    """Fields the mapping names exist in Envoy 1.40's jwt_authn (its config
    validation refuses unknown fields: checked with a bogus one)."""

    def validate(self, config: dict) -> subprocess.CompletedProcess:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(bootstrap_jwt_authn(config, 9), f)
        try:
            return subprocess.run(
                [envoy_binary(), "--mode", "validate", "-c", f.name, "-l", "critical", "--disable-hot-restart"],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        finally:
            Path(f.name).unlink()

    def test_fields_exist_in_envoy_1_40(self) -> None:
        def with_(mutate) -> dict:
            c = _authn_config()
            mutate(c)
            return c

        self.assertNotEqual(self.validate(with_(lambda c: c.update(bogus_field=1))).returncode, 0)
        cases = {
            "stat_prefix": lambda c: c.update(stat_prefix="mine"),
            "strip_failure_response": lambda c: c.update(strip_failure_response=True),
            "jwt_cache_config.jwt_max_token_size": lambda c: c["providers"]["zero"].update(jwt_cache_config={"jwt_max_token_size": 100}),
            "extract_only_without_validation": lambda c: c["rules"].insert(
                0, {"match": {"prefix": "/x"}, "requires": {"extract_only_without_validation": {}}}
            ),
            "connect_matcher": lambda c: c["rules"].insert(0, {"match": {"connect_matcher": {}}, "requires": {"provider_name": "zero"}}),
        }
        for name, mutate in cases.items():
            r = self.validate(with_(mutate))
            self.assertEqual(r.returncode, 0, f"{name}: {r.stdout[-300:]}{r.stderr[-300:]}")


class LocalJwksWatchedDirectory(unittest.TestCase):
    """`local_jwks.watched_directory`: jwt_authn 1.40 accepts it but reads the
    file once; a changed file is not picked up (measured)."""

    def test_jwt_authn_does_not_reload_the_file(self) -> None:
        old, new = KEYS, Keys()
        d = Path(tempfile.mkdtemp(prefix="watched-", dir=os.environ.get("JWTGATE_E2E_DIR") or tempfile.gettempdir()))
        (d / "jwks").mkdir()

        def put(keys: Keys) -> None:
            (d / "next.json").write_text(json.dumps(keys.asymmetric_jwks()))
            os.replace(d / "next.json", d / "jwks" / "jwks.json")

        put(old)
        config = _authn_config()
        config["providers"]["plain"]["local_jwks"] = {"filename": str(d / "jwks" / "jwks.json"), "watched_directory": {"path": str(d / "jwks")}}
        with Envoy(bootstrap_jwt_authn(config, UPSTREAM.port), name="watched-authn") as env:
            self.assertEqual(env.get("/plain", _token(PLAIN)).status, 200)
            put(new)
            time.sleep(2)
            self.assertEqual(env.get("/plain", _token(PLAIN)).status, 200, "old keys stopped working")
            fresh = {"authorization": "Bearer " + new.sign("ES256", claims(issuer=PLAIN, aud=None))}
            self.assertEqual(env.get("/plain", fresh).status, 401, "the new file was read")


class WasmPerRouteDisabled(unittest.TestCase):
    """jwt_authn's `PerRouteConfig.disabled`: the wasm filter has no per-route
    message, but Envoy's generic `envoy.config.route.v3.FilterConfig`
    (`disabled: true` in a route's typed_per_filter_config) switches it off
    for one route (Envoy 1.40, measured). Istio has no per-route switch for a
    WasmPlugin: use the policy's rules (`bypass`) there."""

    def test_filter_config_disabled_turns_jwtgate_off_for_one_route(self) -> None:
        config = bootstrap([wasm_filter(WASM, _gate_policy())], UPSTREAM.port)
        vhost = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]["route_config"]["virtual_hosts"][0]
        vhost["routes"].insert(
            0,
            {
                "match": {"prefix": "/plain/open"},
                "route": {"cluster": "echo", "timeout": "5s"},
                "typed_per_filter_config": {
                    "envoy.filters.http.wasm": {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}
                },
            },
        )
        with Envoy(config, name="per-route") as env:
            r = env.get("/plain/open", {"x-jwt-sub": "spoofed"})
            self.assertEqual(r.status, 200)
            # Off means off: jwtgate does not even clear claim headers there.
            self.assertEqual(r.upstream_headers("x-jwt-sub"), ["spoofed"])
            self.assertEqual(env.get("/plain/closed").status, 401)


class MappingRows(unittest.TestCase):
    """Every test id envoy/README.md names in its mapping exists, and every
    test of this module is named there (rows and tests cannot drift apart)."""

    ID = re.compile(r"`(test_[a-z0-9_]+\.[A-Za-z0-9]+\.test_[a-z0-9_]+)`")

    def test_named_tests_exist(self) -> None:
        import importlib

        named = set(self.ID.findall(README.read_text()))
        self.assertTrue(named, "the README names no test")
        for name in sorted(named):
            module, cls, method = name.split(".")
            with self.subTest(name=name):
                self.assertTrue(hasattr(getattr(importlib.import_module(module), cls, None), method), f"{name} is named in envoy/README.md but does not exist")

    def test_this_modules_tests_are_named(self) -> None:
        named = set(self.ID.findall(README.read_text()))
        module = sys.modules[__name__]
        mine = {
            f"test_mapping.{c.__name__}.{m}"
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, unittest.TestCase) and c is not MappingRows
            for m in dir(c)
            if m.startswith("test_")
        }
        self.assertEqual(mine - named, set(), "tests that pin no README row")
