"""The one scenario both filters are configured for, and the request matrix.

`policy(keys)` is the jwtgate policy; `jwt_authn(keys)` and `RBAC` are the
closest equivalent with Envoy's built-in filters. `CASES` is the request
matrix run against both: what jwtgate must answer, and what jwt_authn answers
(measured with Envoy 1.40.0), with the reason wherever the two differ.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

from harness import ALL_ALGS, Keys, b64url, claims, tamper, unsigned_token

ISSUER = "https://idp.example.com"
HMAC_ISSUER = "https://hmac.example.com"
AUDIENCE = "orders-api"
REVOKED_JTI = "revoked-jti-1"
MAX_TOKEN_BYTES = 4096
REALM = "jwtgate"


# Request-security cases shared by every front door (tests/e2e/test_paths.py,
# tests/sidecar/matrix.py). Spellings of /admin/users that an upstream resolves to /admin/users.
WALKAROUNDS = [
    "/admin/users",
    "/orders/../admin/users",
    "/x/%2e%2e/admin/users",
    "/./admin/users",
    "/%61dmin/users",
    "//admin/users",
    "/admin//users",
    "http://api.example.com/admin/users",
]

# Spellings that cannot be read one way: refused before any upstream.
AMBIGUOUS = [
    "/x%2F..%2Fadmin/users",
    "/x%2f..%2fadmin/users",
    "/x%5C..%5Cadmin/users",
    "/x/..;/admin/users",
    "/x/%252e%252e/admin/users",
    "/admin./users",
    "/admin%00/users",
    "/admin/%C3%28",
]


def policy(keys: Keys, hide_details: bool = False) -> dict:
    return {
        "providers": {
            "idp": {
                "issuer": ISSUER,
                "audiences": [AUDIENCE],
                "jwks": keys.asymmetric_jwks(),
                "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
                "from_params": ["access_token"],
                "from_cookies": ["session"],
                "forward": False,
                "forward_payload_header": "x-jwt-payload",
                "claim_to_headers": [{"claim": "sub", "header": "x-jwt-sub"}, {"claim": "iss", "header": "x-jwt-iss"}],
                "clock_skew_seconds": 60,
                "require_exp": True,
            },
            "hmac": {
                "issuer": HMAC_ISSUER,
                "audiences": [AUDIENCE],
                # A string holding JWKS JSON (the other accepted form).
                "jwks": json.dumps(keys.hmac_jwks()),
                "allow_hmac": True,
                "algorithms": ["HS256", "HS384", "HS512"],
                "forward": False,
                "claim_to_headers": [{"claim": "sub", "header": "x-jwt-sub"}, {"claim": "iss", "header": "x-jwt-iss"}],
                "clock_skew_seconds": 60,
            },
        },
        "rules": [
            {"prefix": "/login", "bypass": True},
            {"path": "/healthz", "bypass": True},
            {"prefix": "/admin", "requires": "idp", "claim_rules": [{"claim": "roles", "contains": "admin"}]},
            {"prefix": "/public", "requires": "idp", "allow_missing": True},
            {"prefix": "/", "requires": ["idp", "hmac"]},
        ],
        "deny": {"jti": [REVOKED_JTI]},
        "limits": {"max_token_bytes": MAX_TOKEN_BYTES},
        "allow_cors_preflight": True,
        "response": {"realm": REALM, "hide_details": hide_details},
        "cache": {"enabled": True, "max_entries": 128, "max_bytes": 262144},
    }


def jwt_authn(keys: Keys) -> dict:
    """Envoy's jwt_authn configured as close to `policy` as it allows."""
    common = {
        "audiences": [AUDIENCE],
        "forward": False,
        "clock_skew_seconds": 60,
        "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"}, {"header_name": "x-jwt-iss", "claim_name": "iss"}],
    }
    return {
        "providers": {
            "idp": {
                **common,
                "issuer": ISSUER,
                "local_jwks": {"inline_string": json.dumps(keys.asymmetric_jwks())},
                "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
                "from_params": ["access_token"],
                "from_cookies": ["session"],
                "forward_payload_header": "x-jwt-payload",
                "payload_in_metadata": "jwt_payload",
            },
            "hmac": {**common, "issuer": HMAC_ISSUER, "local_jwks": {"inline_string": json.dumps(keys.hmac_jwks())}},
        },
        "rules": [
            {"match": {"prefix": "/login"}},
            {"match": {"path": "/healthz"}},
            {"match": {"prefix": "/admin"}, "requires": {"provider_name": "idp"}},
            {
                "match": {"prefix": "/public"},
                "requires": {"requires_any": {"requirements": [{"provider_name": "idp"}, {"allow_missing": {}}]}},
            },
            {
                "match": {"prefix": "/"},
                "requires": {"requires_any": {"requirements": [{"provider_name": "idp"}, {"provider_name": "hmac"}]}},
            },
        ],
        "bypass_cors_preflight": True,
    }


# jwt_authn has no claim rules: the /admin "roles contains admin" rule is an
# RBAC filter reading the payload jwt_authn stores in dynamic metadata.
RBAC = {
    "rules": {
        "action": "DENY",
        "policies": {
            "admin-needs-role": {
                "permissions": [
                    {
                        "and_rules": {
                            "rules": [
                                {"url_path": {"path": {"prefix": "/admin"}}},
                                {
                                    "not_rule": {
                                        "metadata": {
                                            "filter": "envoy.filters.http.jwt_authn",
                                            "path": [{"key": "jwt_payload"}, {"key": "roles"}],
                                            "value": {"list_match": {"one_of": {"string_match": {"exact": "admin"}}}},
                                        }
                                    }
                                },
                            ]
                        }
                    }
                ],
                "principals": [{"any": True}],
            }
        },
    }
}


# --------------------------------------------------------------------------
# The request matrix
# --------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    path: str
    headers: Callable[[Keys], dict | list]  # built at run time (fresh iat/exp)
    status: int  # jwtgate
    code: str | None  # jwtgate's error code (None on success)
    authn_status: int | None = None  # jwt_authn, when it differs
    why: str = ""  # the reason for the difference
    method: str = "GET"
    upstream_sub: str | None = None  # x-jwt-sub the upstream must see on success
    extra: dict = field(default_factory=dict)

    @property
    def reference_status(self) -> int:
        return self.status if self.authn_status is None else self.authn_status


def bearer(token: str) -> dict:
    return {"authorization": "Bearer " + token}


def _now() -> int:
    return int(time.time())


def _valid(keys: Keys, alg: str, **kw) -> str:
    issuer = HMAC_ISSUER if alg.startswith("HS") else ISSUER
    return keys.sign(alg, claims(issuer=issuer, **kw))


def _dup_claims(keys: Keys) -> str:
    # Two "sub" members: JSON parsers disagree on which wins (RFC 7519 §4
    # says reject or take the last); a strict verifier refuses.
    now = _now()
    raw = (
        '{"iss":"%s","aud":"%s","sub":"user-123","sub":"admin","iat":%d,"exp":%d,"roles":["admin"]}'
        % (ISSUER, AUDIENCE, now, now + 600)
    ).encode()
    return keys.sign("RS256", raw)


def _big(keys: Keys) -> str:
    return keys.sign("RS256", claims(padding="x" * (MAX_TOKEN_BYTES + 200)))


def cases() -> list[Case]:
    out: list[Case] = []
    for alg in ALL_ALGS:
        out.append(
            Case(
                f"valid {alg}",
                "/orders",
                lambda k, alg=alg: bearer(_valid(k, alg)),
                200,
                None,
                upstream_sub="user-123",
            )
        )
    out += [
        Case("missing token", "/orders", lambda k: {}, 401, "missing"),
        Case("malformed (2 segments)", "/orders", lambda k: bearer("abc.def"), 401, "malformed"),
        Case("malformed (bad base64url)", "/orders", lambda k: bearer("e30.e30.a+b"), 401, "malformed"),
        Case(
            "jwe (5 segments)",
            "/orders",
            lambda k: bearer(b64url(b'{"alg":"RSA-OAEP","enc":"A256GCM"}') + ".AAAA.AAAA.AAAA.AAAA"),
            401,
            "jwe_unsupported",
        ),
        Case(
            "too large",
            "/orders",
            lambda k: bearer(_big(k)),
            401,
            "too_large",
            authn_status=200,
            why="jwt_authn has no token size limit; we cap max_token_bytes before any parsing",
        ),
        Case(
            "alg none",
            "/orders",
            lambda k: bearer(unsigned_token({"alg": "none", "kid": "rsa"}, claims())),
            401,
            "unsupported_alg",
        ),
        Case(
            "unknown crit",
            "/orders",
            lambda k: bearer(k.sign("RS256", claims(), extra_header={"crit": ["x-unknown"], "x-unknown": 1})),
            401,
            "unsupported_crit",
            authn_status=200,
            why="jwt_authn ignores `crit`; RFC 7515 §4.1.11 says a verifier must reject unknown critical extensions",
        ),
        Case("unknown kid", "/orders", lambda k: bearer(k.sign("RS256", claims(), kid="nope")), 401, "unknown_kid"),
        Case(
            "key mismatch (kid names the EC key, alg RS256)",
            "/orders",
            lambda k: bearer(k.sign("RS256", claims(), kid="ec256")),
            401,
            "key_mismatch",
        ),
        Case("tampered payload", "/orders", lambda k: bearer(tamper(_valid(k, "RS256"))), 401, "bad_signature"),
        Case("tampered ES256", "/orders", lambda k: bearer(tamper(_valid(k, "ES256"))), 401, "bad_signature"),
        Case("tampered HS256", "/orders", lambda k: bearer(tamper(_valid(k, "HS256"))), 401, "bad_signature"),
        Case(
            "expired",
            "/orders",
            lambda k: bearer(k.sign("RS256", claims(iat=_now() - 3600, exp=_now() - 600))),
            401,
            "expired",
        ),
        Case(
            "not yet valid",
            "/orders",
            lambda k: bearer(k.sign("RS256", claims(nbf=_now() + 600))),
            401,
            "not_yet_valid",
        ),
        Case(
            "iat an hour in the future",
            "/orders",
            lambda k: bearer(k.sign("RS256", claims(iat=_now() + 3600, exp=_now() + 7200))),
            401,
            "issued_in_future",
            authn_status=200,
            why="jwt_authn does not check iat (only exp and nbf, with the skew); a token claiming to be issued later than now plus the skew is not credible (RFC 7519 §4.1.6)",
        ),
        Case(
            "no exp",
            "/orders",
            lambda k: bearer(k.sign("RS256", claims(exp=None))),
            401,
            "missing_claim",
            authn_status=200,
            why="jwt_authn's require_expiration defaults to false; jwtgate's require_exp defaults to true: a token without exp lives forever (SECURITY.md)",
        ),
        Case(
            "wrong issuer",
            "/orders",
            lambda k: bearer(k.sign("RS256", claims(issuer="https://evil.example.com"))),
            401,
            "wrong_issuer",
        ),
        Case(
            "wrong audience",
            "/orders",
            lambda k: bearer(k.sign("RS256", claims(audience="billing-api"))),
            401,
            "wrong_audience",
            authn_status=403,
            why="jwt_authn answers 403 for a wrong audience; the token is not valid for this API, which RFC 6750 §3.1 calls invalid_token (401)",
        ),
        Case(
            "HMAC key for an RS256 token's provider (alg confusion)",
            "/orders",
            lambda k: bearer(k.sign("HS256", claims(), kid="rsa", key_kid="hmac")),
            401,
            "key_mismatch",
        ),
        Case(
            "claim rule fails on /admin",
            "/admin/users",
            lambda k: bearer(k.sign("RS256", claims(roles=["reader"]))),
            403,
            "claim_rule_failed",
        ),
        Case("claim rule passes on /admin", "/admin/users", lambda k: bearer(_valid(k, "RS256")), 200, None, upstream_sub="user-123"),
        Case(
            "revoked jti",
            "/orders",
            lambda k: bearer(k.sign("RS256", claims(jti=REVOKED_JTI))),
            401,
            "revoked",
            authn_status=200,
            why="jwt_authn has no deny list",
        ),
        Case(
            "duplicate claim",
            "/orders",
            lambda k: bearer(_dup_claims(k)),
            401,
            "malformed",  # jwt_authn refuses it too ("Jwt payload is an invalid JSON"), measured on 1.40
        ),
        Case(
            "exp is a string",
            "/orders",
            lambda k: bearer(k.sign("RS256", claims(exp=str(_now() + 600)))),
            401,
            "invalid_claim",
        ),
        Case(
            "lowercase bearer scheme",
            "/orders",
            lambda k: {"authorization": "bearer " + _valid(k, "RS256")},
            200,
            None,
            upstream_sub="user-123",
            authn_status=401,
            why="jwt_authn matches value_prefix 'Bearer ' case-sensitively (401 'Jwt is missing'); RFC 7235 §2.1 makes the auth scheme case-insensitive",
        ),
        Case(
            "two Authorization headers",
            "/orders",
            lambda k: [("authorization", "Bearer " + _valid(k, "RS256")), ("authorization", "Bearer junk")],
            401,
            "malformed",  # Envoy joins them with ","; neither filter picks one
        ),
        Case("bypass prefix without token", "/login/form", lambda k: {}, 200, None),
        Case("bypass exact path without token", "/healthz", lambda k: {}, 200, None),
        Case("exact bypass does not match a longer path", "/healthz/deep", lambda k: {}, 401, "missing"),
        Case(
            "dot-segments under a bypass prefix",
            "/login/../orders",
            lambda k: {},
            401,
            "missing",  # the canonical path is /orders, which needs a token
            authn_status=200,
            why="jwt_authn bypasses /login/../orders by prefix and forwards it as is (Envoy does not normalize paths by default); an upstream that resolves it serves /orders without a token",
        ),
        Case(
            "encoded dot-segments under a bypass prefix",
            "/login/%2e%2e/orders",
            lambda k: {},
            401,
            "missing",
            authn_status=200,
            why="as above, with %2e%2e",
        ),
        Case("allow_missing without token", "/public/catalog", lambda k: {}, 200, None),
        Case(
            "allow_missing with a bad token",
            "/public/catalog",
            lambda k: bearer(tamper(_valid(k, "RS256"))),
            401,
            "bad_signature",
        ),
        Case("allow_missing with a valid token", "/public/catalog", lambda k: bearer(_valid(k, "ES256")), 200, None, upstream_sub="user-123"),
        Case("token in query parameter", "/orders?x=1&access_token={tok}", lambda k: {}, 200, None, upstream_sub="user-123", extra={"param": True}),
        Case("token in cookie", "/orders", lambda k: {"cookie": "a=b; session=" + _valid(k, "RS256")}, 200, None, upstream_sub="user-123"),
        Case(
            "CORS preflight without token",
            "/orders",
            lambda k: {"origin": "https://app.example.com", "access-control-request-method": "POST"},
            200,
            None,
            method="OPTIONS",
        ),
        Case("OPTIONS that is not a preflight needs a token", "/orders", lambda k: {}, 401, "missing", method="OPTIONS"),
        Case(
            "dot segments walk into /admin without the role",
            "/orders/../admin/users",
            lambda k: bearer(k.sign("RS256", claims(roles=["reader"]))),
            403,
            "claim_rule_failed",
            authn_status=200,
            why="Envoy matches jwt_authn and RBAC rules on the raw path (normalize_path is off by default) and forwards it; "
            "jwtgate chooses the rule on the canonical path /admin/users and forwards that",
        ),
        Case(
            "encoded slash in the path",
            "/x%2F..%2Forders",
            lambda k: bearer(_valid(k, "RS256")),
            400,
            "invalid_path",
            authn_status=200,
            why="jwt_authn forwards %2F as is (path_with_escaped_slashes_action defaults to KEEP_UNCHANGED); "
            "jwtgate refuses what upstreams may decode differently",
        ),
    ]
    return out
