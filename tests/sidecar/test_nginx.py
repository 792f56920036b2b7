"""jwtgate serve --mode nginx --canonical forward behind Debian's nginx
(deploy/nginx/jwtgate-auth.conf, included as shipped), in front of the echo
upstream: the filter's request matrix and request-security cases, and what
is nginx-specific (the internal auth location, the 500 of a broken service).
"""

from __future__ import annotations

import unittest

import parts  # noqa: F401  (puts tests/e2e on the path)
import scenario
from matrix import PathCases, add_matrix, raw
from parts import EchoUpstream, Jwtgate, Keys, Nginx, claims

KEYS: Keys
STARTED: list = []
NGINX: Nginx
GATE: Jwtgate


def setUpModule() -> None:  # noqa: N802
    try:
        _start()
    except BaseException:
        tearDownModule()  # unittest skips it when setUpModule fails
        raise


def _start() -> None:
    global KEYS, NGINX, GATE
    KEYS = Keys()
    up = EchoUpstream().__enter__()
    STARTED.append(up)
    GATE = Jwtgate(scenario.policy(KEYS), mode="nginx", canonical="forward").start()
    STARTED.append(GATE)
    NGINX = Nginx(GATE.port, up.port).start()
    STARTED.append(NGINX)


def tearDownModule() -> None:  # noqa: N802
    for thing in reversed(STARTED):
        if isinstance(thing, EchoUpstream):
            thing.__exit__(None, None, None)
        else:
            thing.stop()


class NginxMatrix(unittest.TestCase):
    """Every case of the filter's matrix, through nginx auth_request."""


add_matrix(
    NginxMatrix,
    lambda: (NGINX.port, KEYS),
    {"two Authorization headers": (400, "nginx refuses a repeated Authorization header itself")},
)


class NginxPaths(PathCases, unittest.TestCase):
    # nginx answers 400 itself for an encoded NUL.
    proxy_refuses = frozenset({"/admin%00/users"})

    def port(self) -> int:
        return NGINX.port

    def keys(self) -> Keys:
        return KEYS


class NginxSpecific(unittest.TestCase):
    def test_clients_cannot_reach_the_auth_location(self) -> None:
        r = raw(NGINX.port, "/_jwtgate", [("x-original-uri", "/login"), ("x-original-method", "GET")])
        self.assertEqual(r.status, 404, "/_jwtgate is internal")
        self.assertIsNone(r.upstream)

    def test_a_client_x_original_uri_is_replaced(self) -> None:
        r = raw(NGINX.port, "/orders", [("x-original-uri", "/login"), ("x-original-method", "GET")])
        self.assertEqual((r.status, r.error_code()), (401, "missing"))

    def test_a_token_near_the_default_size_limit_passes(self) -> None:
        """The auth answer carries the payload header (and, for a bypassed
        path, the Authorization header back): a token just under the default
        limits.max_token_bytes (8 KiB) must fit nginx's buffer for it."""
        policy = scenario.policy(KEYS)
        del policy["limits"]
        tok = KEYS.sign("RS256", claims(pad="x" * 5600))
        self.assertGreater(len(tok), 7800)
        self.assertLess(len(tok), 8192)
        with EchoUpstream() as up, Jwtgate(policy) as gate, Nginx(gate.port, up.port) as nginx:
            r = raw(nginx.port, "/orders", [("authorization", "Bearer " + tok)])
            self.assertEqual(r.status, 200, r.body[:300])
            self.assertEqual(r.upstream_headers("x-jwt-payload"), [tok.split(".")[1]])
            r = raw(nginx.port, "/login", [("authorization", "Bearer " + tok)])
            self.assertEqual(r.status, 200, r.body[:300])
            self.assertEqual(r.upstream_headers("authorization"), ["Bearer " + tok], "a bypassed path keeps its headers")

    def test_counters_follow_the_requests(self) -> None:
        before = GATE.metrics()
        tok = KEYS.sign("RS256", claims())
        for _ in range(3):
            self.assertEqual(raw(NGINX.port, "/orders", [("authorization", "Bearer " + tok)]).status, 200)
        raw(NGINX.port, "/orders")
        after = GATE.metrics()
        delta = lambda k: after.get(k, 0) - before.get(k, 0)  # noqa: E731
        self.assertEqual(delta("jwtgate_allowed_total"), 3)
        self.assertEqual(delta('jwtgate_denied_total{code="missing"}'), 1)
        # One thread may verify the token once and the other thread once too.
        self.assertGreaterEqual(delta("jwtgate_cache_hits_total"), 1)
        self.assertLessEqual(delta("jwtgate_cache_misses_total"), 2)


if __name__ == "__main__":
    unittest.main()
