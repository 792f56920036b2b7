"""Request-level security through the real Envoy filter: every spelling of a
guarded path meets its rule, and the upstream receives exactly the canonical
path the rule was chosen on (the echo upstream reports what it received).

Loaded by test_e2e.py's runner. Its own Envoys:

  gate       the scenario policy (/login bypass, /admin needs the admin role,
             / needs a token), one route to the echo upstream
  routed     the same policy, with a second route: /admin goes to its own
             echo upstream, so the test sees that Envoy routes on the path
             jwtgate forwards, not on the one that arrived
  narrow     a policy without a catch-all: /admin exact, /api segment prefix

Expectations come from the policy and RFC 3986: a path is either refused
(400) or reaches the upstream in canonical form, and a token without the
admin role never reaches /admin/users.
"""

from __future__ import annotations

import copy
import json
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import scenario  # noqa: E402
from harness import (  # noqa: E402
    ROOT,
    EchoUpstream,
    Envoy,
    Keys,
    Response,
    bootstrap_jwtgate,
    claims,
    request,
    stop_started,
)
from scenario import AMBIGUOUS, WALKAROUNDS  # noqa: E402

WASM = str(ROOT / "target/wasm32-unknown-unknown/release/jwtgate_filter.wasm")  # main() may replace it

KEYS: Keys
UP: EchoUpstream
ADMIN_UP: EchoUpstream
GATE: Envoy
ROUTED: Envoy
NARROW: Envoy
_started: list = []

def setUpModule() -> None:  # noqa: N802
    global KEYS, UP, ADMIN_UP, GATE, ROUTED, NARROW
    KEYS = Keys()
    UP = EchoUpstream().__enter__()
    _started.append(UP)
    ADMIN_UP = EchoUpstream().__enter__()
    _started.append(ADMIN_UP)
    policy = scenario.policy(KEYS)
    GATE = Envoy(bootstrap_jwtgate(WASM, policy, UP.port), name="paths-gate").start()
    _started.append(GATE)
    ROUTED = Envoy(_two_routes(bootstrap_jwtgate(WASM, policy, UP.port)), name="paths-routed").start()
    _started.append(ROUTED)
    narrow = copy.deepcopy(policy)
    narrow["rules"] = [
        {"path": "/admin", "requires": "idp", "claim_rules": [{"claim": "roles", "contains": "admin"}]},
        {"path_separated_prefix": "/api", "requires": "idp"},
    ]
    NARROW = Envoy(bootstrap_jwtgate(WASM, narrow, UP.port), name="paths-narrow").start()
    _started.append(NARROW)


def tearDownModule() -> None:  # noqa: N802
    stop_started(_started)


def _two_routes(config: dict) -> dict:
    """Adds a route `/admin` -> cluster `admin` (ADMIN_UP) before the catch-all."""
    config = copy.deepcopy(config)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    routes = hcm["route_config"]["virtual_hosts"][0]["routes"]
    routes.insert(0, {"match": {"path_separated_prefix": "/admin"}, "route": {"cluster": "admin", "timeout": "5s"}})
    cluster = copy.deepcopy(config["static_resources"]["clusters"][0])
    cluster["name"] = "admin"
    cluster["load_assignment"]["cluster_name"] = "admin"
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    endpoint["address"]["socket_address"]["port_value"] = ADMIN_UP.port
    config["static_resources"]["clusters"].append(cluster)
    return config


def raw(env: Envoy, target: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """GET with the request target written exactly as given (http.client sends it as is)."""
    return request(env.port, target, headers)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", "Bearer " + token)]


def user_token() -> str:
    return KEYS.sign("RS256", claims(roles=["reader"]))


def admin_token() -> str:
    return KEYS.sign("ES256", claims(roles=["admin"]))


class CanonicalPaths(unittest.TestCase):
    def test_no_spelling_of_a_guarded_path_skips_its_rule(self) -> None:
        for target in WALKAROUNDS:
            with self.subTest(target=target):
                r = raw(GATE, target, bearer(user_token()))
                self.assertEqual(r.status, 403, r.body)
                self.assertIsNone(r.upstream)
                self.assertEqual(raw(GATE, target).status, 401)

    def test_the_upstream_receives_the_canonical_path(self) -> None:
        for target in WALKAROUNDS:
            with self.subTest(target=target):
                r = raw(GATE, target + "?page=2", bearer(admin_token()))
                self.assertEqual(r.status, 200, r.body)
                self.assertEqual(r.upstream["path"], "/admin/users?page=2")

    def test_envoy_routes_on_the_path_jwtgate_forwards(self) -> None:
        r = raw(ROUTED, "/orders/../admin/users", bearer(admin_token()))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.upstream["path"], "/admin/users")
        self.assertEqual(r.header("x-echo-port"), str(ADMIN_UP.port), "routed to the /admin cluster")
        r = raw(ROUTED, "/orders", bearer(admin_token()))
        self.assertEqual(r.header("x-echo-port"), str(UP.port))

    def test_ambiguous_paths_are_refused_before_the_upstream(self) -> None:
        for target in AMBIGUOUS:
            with self.subTest(target=target):
                r = raw(GATE, target, bearer(admin_token()))
                self.assertEqual(r.status, 400, r.body)
                self.assertIsNone(r.upstream)
                self.assertEqual(r.error_code(), "invalid_path")
                self.assertIsNone(r.header("www-authenticate"))

    def test_a_bypass_rule_only_covers_its_canonical_paths(self) -> None:
        r = raw(GATE, "/login/../admin/users")
        self.assertEqual(r.status, 401)
        r = raw(GATE, "/%6cogin?next=1")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.upstream["path"], "/login?next=1")

    def test_without_a_catch_all_every_spelling_meets_the_rule(self) -> None:
        for target in ["/admin", "/admin/", "//admin", "/%61dmin", "/x/../admin"]:
            with self.subTest(target=target):
                self.assertEqual(raw(NARROW, target, bearer(user_token())).status, 403)
        for target in ["/api", "/api/x", "//api/x", "/%61pi/x", "/x/../api/x"]:
            with self.subTest(target=target):
                r = raw(NARROW, target)
                self.assertEqual((r.status, r.error_code()), (401, "missing"))
        self.assertEqual(raw(NARROW, "/admin.").status, 400)
        # Segment-aware prefix: /apix is another resource, and Envoy's
        # routes are case-sensitive, so /Admin is one too (no rule, forwarded as is).
        for target in ["/apix", "/Admin"]:
            r = raw(NARROW, target)
            self.assertEqual(r.status, 200)
            self.assertEqual(r.upstream["path"], target)


class OneWayToReadARequest(unittest.TestCase):
    def test_repeated_authorization_headers_are_malformed(self) -> None:
        tok = user_token()
        r = raw(GATE, "/orders", bearer(tok) + bearer(tok))
        self.assertEqual((r.status, r.error_code()), (401, "malformed"))

    def test_two_different_tokens_are_refused(self) -> None:
        r = raw(GATE, "/orders?access_token=" + admin_token(), bearer(user_token()))
        self.assertEqual((r.status, r.error_code()), (401, "malformed"))
        r = raw(GATE, "/orders", [("cookie", "session=" + admin_token())] + bearer(user_token()))
        self.assertEqual((r.status, r.error_code()), (401, "malformed"))

    def test_every_copy_of_the_token_is_removed(self) -> None:
        tok = user_token()
        target = f"/orders?a=1&access_token={tok}&access%5Ftoken={tok}&access_token={tok}&b=2"
        r = raw(GATE, target, bearer(tok) + [("cookie", f"x=1; session={tok}")])
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.upstream["path"], "/orders?a=1&b=2")
        self.assertEqual(r.upstream_headers("authorization"), [])
        self.assertNotIn(tok, json.dumps(r.upstream))

    def test_the_payload_header_is_the_signed_segment(self) -> None:
        tok = admin_token()
        r = raw(GATE, "/orders", bearer(tok))
        self.assertEqual(r.upstream_headers("x-jwt-payload"), [tok.split(".")[1]])
