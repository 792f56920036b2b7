"""jwtgate serve --mode envoy --canonical refuse behind Envoy's ext_authz
(HTTP service; Envoy from the venv), in front of the echo upstream: the
filter's request matrix and request-security cases.

Envoy normalizes the path before its filters (normalize_path,
merge_slashes; deploy/envoy/ext_authz.yaml), so walk-arounds arrive at
jwtgate already canonical and meet their rule; what Envoy cannot normalize
(%2F, %5C, ;, %25, ...) jwtgate refuses. Headers are removed through
x-envoy-auth-headers-to-remove and set through allowed_upstream_headers.
"""

from __future__ import annotations

import unittest

import parts  # noqa: F401  (puts tests/e2e on the path)
import scenario
from matrix import PathCases, add_matrix, raw
from parts import EchoUpstream, Envoy, Jwtgate, Keys, bootstrap_ext_authz, claims

KEYS: Keys
STARTED: list = []
ENVOY: Envoy
GATE: Jwtgate
UPSTREAM_HEADERS = ["x-jwt-sub", "x-jwt-iss", "x-jwt-payload", "cookie"]


def setUpModule() -> None:  # noqa: N802
    try:
        _start()
    except BaseException:
        tearDownModule()  # unittest skips it when setUpModule fails
        raise


def _start() -> None:
    global KEYS, ENVOY, GATE
    KEYS = Keys()
    up = EchoUpstream().__enter__()
    STARTED.append(up)
    GATE = Jwtgate(scenario.policy(KEYS), mode="envoy", canonical="refuse").start()
    STARTED.append(GATE)
    ENVOY = Envoy(bootstrap_ext_authz(GATE.port, up.port, UPSTREAM_HEADERS), name="sidecar-ext-authz").start()
    STARTED.append(ENVOY)


def tearDownModule() -> None:  # noqa: N802
    for thing in reversed(STARTED):
        if isinstance(thing, EchoUpstream):
            thing.__exit__(None, None, None)
        else:
            thing.stop()


class EnvoyMatrix(unittest.TestCase):
    """Every case of the filter's matrix, through Envoy ext_authz."""


add_matrix(
    EnvoyMatrix,
    lambda: (ENVOY.port, KEYS),
    {
        "token in query parameter": (
            400,
            "jwtgate cannot make Envoy forward the target without the token's query parameter "
            "(forward: false), so it refuses the request rather than leak the token upstream",
        ),
    },
)


class EnvoyPaths(PathCases, unittest.TestCase):
    # Envoy answers 400 itself for an encoded NUL.
    proxy_refuses = frozenset({"/admin%00/users"})
    # normalize_path treats "..;" as a dot segment: the rule meets what is forwarded.
    proxy_rewrites = {"/x/..;/admin/users": "/admin/users"}
    strips_query_tokens = False

    def port(self) -> int:
        return ENVOY.port

    def keys(self) -> Keys:
        return KEYS


class EnvoySpecific(unittest.TestCase):
    def test_the_service_refuses_what_envoy_did_not_canonicalize(self) -> None:
        """Straight at the service (as a misconfigured Envoy without
        normalize_path would send it): a non-canonical target is refused."""
        admin = KEYS.sign("ES256", claims(roles=["admin"]))
        r = raw(GATE.port, "/orders/../admin/users", [("authorization", "Bearer " + admin)])
        self.assertEqual((r.status, r.error_code()), (400, "invalid_path"))
        self.assertIn("/admin/users", r.json()["message"])
        r = raw(GATE.port, "/admin/users", [("authorization", "Bearer " + admin)])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("x-envoy-auth-headers-to-remove"), "authorization")


if __name__ == "__main__":
    unittest.main()
