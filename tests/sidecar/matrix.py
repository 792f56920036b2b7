"""The request matrix of the Envoy filter's end-to-end tests
(tests/e2e/scenario.py: every case with the filter's status, error code and
upstream view) and its request-security cases (tests/e2e/test_paths.py),
as test classes for any front door: `add_matrix(cls, front)` where
`front.get(path, headers, method)` returns a harness Response.

The expectations are the filter's, unchanged: the sidecar must give the
same answers behind nginx and behind Envoy ext_authz.
"""

from __future__ import annotations

import re
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

import scenario  # noqa: E402
from parts import Keys, Response, claims, request  # noqa: E402
from scenario import AMBIGUOUS, WALKAROUNDS  # noqa: E402

def raw(port: int, target: str, headers: list[tuple[str, str]] | None = None, method: str = "GET") -> Response:
    """A request with the target written exactly as given (http.client sends it as is)."""
    return request(port, target, headers, method)


def challenge_params(value: str) -> dict:
    """RFC 6750 §3: `Bearer` then comma-separated auth-params with quoted values."""
    m = re.fullmatch(r'Bearer( [a-z_]+="[^"\\]*"(, [a-z_]+="[^"\\]*")*)?', value)
    assert m, f"not an RFC 6750 challenge: {value!r}"
    return dict(re.findall(r'([a-z_]+)="([^"\\]*)"', value))


def check_answer(t: unittest.TestCase, r: Response, case: scenario.Case) -> None:
    """The filter's assertions (tests/e2e/test_e2e.py _gate_test)."""
    t.assertEqual(r.status, case.status, f"body: {r.body[:300]!r}")
    if case.status == 200:
        t.assertIsNotNone(r.upstream, "the request did not reach the upstream")
        t.assertEqual(r.upstream_headers("authorization"), [], "forward: false")
        t.assertEqual(r.upstream_headers("x-jwt-sub"), [case.upstream_sub] if case.upstream_sub else [])
        return
    t.assertIsNone(r.upstream, "a denied request reached the upstream")
    body = r.json()
    t.assertIsInstance(body, dict, f"error body is not JSON: {r.body[:200]!r}")
    t.assertEqual(body.get("error"), case.code, body)
    t.assertIsInstance(body.get("message"), str)
    t.assertEqual(r.header("content-type"), "application/json")
    if case.status == 400:
        t.assertIsNone(r.header("www-authenticate"))
        return
    params = challenge_params(r.header("www-authenticate") or "")
    t.assertEqual(params.get("realm"), scenario.REALM)
    if case.code == "missing":
        t.assertNotIn("error", params)
    elif case.status == 403:
        t.assertEqual(params.get("error"), "insufficient_scope")
    else:
        t.assertEqual(params.get("error"), "invalid_token")


def add_matrix(cls: type, front, differences: dict[str, tuple[int, str]] | None = None) -> None:
    """One test per scenario case on `cls`; `front()` returns (port, keys).

    `differences`: cases the proxy itself answers before asking jwtgate,
    as {case name: (the proxy's status, why)}; such a request must still
    never reach the upstream, and a listed case must exist."""
    differences = differences or {}
    names = {c.name for c in scenario.cases()}
    assert set(differences) <= names, f"listed differences name no case: {set(differences) - names}"

    def make(case: scenario.Case):
        def test(self: unittest.TestCase) -> None:
            port, keys = front()
            path = case.path.replace("{tok}", keys.sign("RS256", claims())) if "{tok}" in case.path else case.path
            headers = case.headers(keys)
            items = list(headers.items()) if isinstance(headers, dict) else list(headers)
            r = raw(port, path, items, case.method)
            if case.name in differences:
                status, why = differences[case.name]
                self.assertEqual(r.status, status, f"listed difference ({why}) no longer holds")
                self.assertIsNone(r.upstream)
                return
            check_answer(self, r, case)

        return test

    for case in scenario.cases():
        setattr(cls, "test_" + re.sub(r"[^a-z0-9]+", "_", case.name.lower()).strip("_"), make(case))


class PathCases:
    """Request security (tests/e2e/test_paths.py): mixed into a TestCase with
    `port()` and `keys()`; `canonical_upstream` is the path the upstream sees."""

    canonical_upstream = "/admin/users?page=2"
    # Targets the proxy refuses itself (400, its own page) before asking jwtgate.
    proxy_refuses: frozenset[str] = frozenset()
    # Targets the proxy canonicalizes itself before asking jwtgate: the rule
    # is then chosen on what it forwards, {target: what the upstream gets}.
    proxy_rewrites: dict[str, str] = {}
    # Whether the proxy can forward a target without the token's query
    # parameter (nginx with x-jwtgate-target); if not, jwtgate refuses it.
    strips_query_tokens = True

    def port(self) -> int:
        raise NotImplementedError

    def keys(self) -> Keys:
        raise NotImplementedError

    def test_no_spelling_of_a_guarded_path_skips_its_rule(self) -> None:
        reader = self.keys().sign("RS256", claims(roles=["reader"]))
        for target in WALKAROUNDS:
            with self.subTest(target):
                r = raw(self.port(), target, [("authorization", "Bearer " + reader)])
                self.assertEqual(r.status, 403, r.body)
                self.assertIsNone(r.upstream)
                self.assertEqual(raw(self.port(), target).status, 401)

    def test_the_upstream_receives_the_canonical_path(self) -> None:
        admin = self.keys().sign("ES256", claims(roles=["admin"]))
        for target in WALKAROUNDS:
            with self.subTest(target):
                r = raw(self.port(), target + "?page=2", [("authorization", "Bearer " + admin)])
                self.assertEqual(r.status, 200, r.body)
                self.assertEqual(r.upstream["path"], self.canonical_upstream)

    def test_ambiguous_paths_are_refused_before_the_upstream(self) -> None:
        admin = self.keys().sign("ES256", claims(roles=["admin"]))
        for target in AMBIGUOUS:
            with self.subTest(target):
                r = raw(self.port(), target, [("authorization", "Bearer " + admin)])
                if target in self.proxy_rewrites:
                    self.assertEqual(r.status, 200, r.body)
                    self.assertEqual(r.upstream["path"], self.proxy_rewrites[target])
                    reader = self.keys().sign("RS256", claims(roles=["reader"]))
                    r = raw(self.port(), target, [("authorization", "Bearer " + reader)])
                    self.assertEqual(r.status, 403 if self.proxy_rewrites[target].startswith("/admin") else 200)
                    continue
                self.assertEqual(r.status, 400, r.body)
                self.assertIsNone(r.upstream)
                if target in self.proxy_refuses:
                    continue
                self.assertEqual(r.error_code(), "invalid_path")
                self.assertIsNone(r.header("www-authenticate"))

    def test_spoofed_claim_headers_never_reach_the_upstream(self) -> None:
        spoof = [("x-jwt-sub", "evil"), ("x-jwt-iss", "evil"), ("x-jwt-payload", "evil")]
        r = raw(self.port(), "/login", spoof)
        self.assertEqual(r.status, 200, r.body)
        for h, _ in spoof:
            self.assertEqual(r.upstream_headers(h), [], h)
        tok = self.keys().sign("RS256", claims())
        r = raw(self.port(), "/orders", spoof + [("authorization", "Bearer " + tok)])
        self.assertEqual(r.upstream_headers("x-jwt-sub"), ["user-123"])
        self.assertEqual(r.upstream_headers("x-jwt-iss"), [scenario.ISSUER])
        self.assertEqual(r.upstream_headers("x-jwt-payload"), [tok.split(".")[1]])

    def test_every_copy_of_the_token_is_removed(self) -> None:
        tok = self.keys().sign("RS256", claims())
        r = raw(self.port(), f"/orders?a=1&access_token={tok}&b=2", [("authorization", "Bearer " + tok), ("cookie", f"x=1; session={tok}")])
        if not self.strips_query_tokens:
            # Refused rather than forwarded with the token in the query.
            self.assertEqual((r.status, r.error_code()), (400, "invalid_path"))
            self.assertIsNone(r.upstream)
            r = raw(self.port(), "/orders?a=1&b=2", [("authorization", "Bearer " + tok), ("cookie", f"x=1; session={tok}")])
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.upstream_headers("authorization"), [])
            self.assertEqual(r.upstream_headers("cookie"), ["x=1"])
            return
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.upstream["path"], "/orders?a=1&b=2")
        self.assertEqual(r.upstream_headers("authorization"), [])
        self.assertEqual(r.upstream_headers("cookie"), ["x=1"])
        import json

        self.assertNotIn(tok, json.dumps(r.upstream))

    def test_other_cookies_and_headers_pass_untouched(self) -> None:
        r = raw(self.port(), "/login?x=1", [("cookie", "a=b; c=d"), ("x-custom", "1")])
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.upstream["path"], "/login?x=1")
        self.assertEqual(r.upstream_headers("cookie"), ["a=b; c=d"])
        self.assertEqual(r.upstream_headers("x-custom"), ["1"])
