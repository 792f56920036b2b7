#!/usr/bin/env python3
"""Differential test: jwtgate against PyJWT on thousands of minted and mutated tokens.

PyJWT (with `cryptography`) mints every token and gives an independent verdict:
`jwt.decode` with the key chosen by the token's kid, the key's algorithm, the same
issuer, audience and leeway, and `exp` required. jwtgate gives its verdict through
`examples/verdicts.rs`. Every disagreement must be a documented deliberate
difference (DELIBERATE below, with its reason); anything else fails the run.

Usage: differential.py VERDICTS_BINARY [--tokens N] [--seed S]
"""
import argparse
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

# PyJWT reads the system clock, so both sides use it; time-based mutations keep
# 10 s of margin so a slow run cannot flip a verdict.
NOW = int(time.time())
ISS = "https://idp.example.com"
AUD = "orders-api"
LEEWAY = 60


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Why jwtgate and PyJWT may disagree on purpose. Keys are mutation kinds; the
# value says which side accepts and why.
DELIBERATE = {
    "duplicate_claim": "PyJWT accepts duplicate JSON member names (last one wins); "
                       "jwtgate refuses them (RFC 8725 §3.2: one meaning per token)",
    "exp_after_9999": "PyJWT accepts any integer exp; jwtgate refuses NumericDates after "
                      "9999-12-31T23:59:59Z as invalid_claim (docs/POLICY.md, Registered claims)",
    "nbf_negative": "PyJWT accepts a negative nbf; jwtgate refuses NumericDates before 1970 "
                    "as invalid_claim (so does jwt_authn)",
}


def make_keys():
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    secret = os.urandom(64)
    return {
        "RS256": rsa_key, "RS384": rsa_key, "RS512": rsa_key,
        "PS256": rsa_key, "PS384": rsa_key, "PS512": rsa_key,
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "ES512": ec.generate_private_key(ec.SECP521R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate(),
        "HS256": secret, "HS384": secret, "HS512": secret,
    }


def public_jwk(alg, key):
    if alg.startswith("HS"):
        d = {"kty": "oct", "k": b64(key)}
    elif alg.startswith(("RS", "PS")):
        d = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    elif alg.startswith("ES"):
        d = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    else:
        d = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
    d.update({"kid": alg.lower(), "alg": alg})
    return d


def claims(rng):
    c = {"iss": ISS, "aud": AUD, "sub": f"user{rng.randrange(1000)}",
         "iat": NOW - rng.randrange(0, 3000), "exp": NOW + rng.randrange(30, 3000)}
    if rng.random() < 0.3:
        c["scope"] = "orders:read"
    if rng.random() < 0.3:
        c["aud"] = ["x", AUD]
    return c


def sign_raw(alg, key, header_json: bytes, payload_json: bytes) -> str:
    signing_input = f"{b64(header_json)}.{b64(payload_json)}"
    algo = jwt.get_algorithm_by_name(alg)
    sig = algo.sign(signing_input.encode(), algo.prepare_key(key))
    return f"{signing_input}.{b64(sig)}"


def mutate(rng, alg, key, kind):
    """Returns a token for one mutation kind."""
    header = {"alg": alg, "kid": alg.lower(), "typ": "JWT"}
    c = claims(rng)
    if kind == "valid":
        return jwt.encode(c, key, algorithm=alg, headers={"kid": alg.lower()})
    if kind == "expired":
        c["exp"] = NOW - LEEWAY - rng.randrange(10, 5000)
    elif kind == "expired_within_leeway":
        c["exp"] = NOW - rng.randrange(1, LEEWAY - 10)
    elif kind == "not_yet_valid":
        c["nbf"] = NOW + LEEWAY + rng.randrange(10, 5000)
    elif kind == "wrong_iss":
        c["iss"] = "https://evil.example.com"
    elif kind == "wrong_aud":
        c["aud"] = "other-api"
    elif kind == "no_exp":
        del c["exp"]
    elif kind == "sub_number":
        c["sub"] = rng.randrange(1000)
    elif kind == "jti_number":
        c["jti"] = rng.randrange(1000)
    elif kind == "aud_element_number":
        c["aud"] = [AUD, rng.randrange(1000)]
    elif kind == "exp_after_9999":
        c["exp"] = 253402300800 + rng.randrange(10**6)
    elif kind == "nbf_negative":
        c["nbf"] = -rng.randrange(1, 10**6)
    elif kind == "extra_claims":
        c["x"] = {"nested": [1, 2, {"deep": True}]}
    elif kind == "duplicate_claim":
        body = json.dumps(c)[:-1] + ', "sub": "admin"}'
        return sign_raw(alg, key, json.dumps(header).encode(), body.encode())
    elif kind == "exp_string":
        c["exp"] = "tomorrow"
        return sign_raw(alg, key, json.dumps(header).encode(), json.dumps(c).encode())
    elif kind == "crit_unknown":
        header.update({"crit": ["zz"], "zz": 1})
        return sign_raw(alg, key, json.dumps(header).encode(), json.dumps(c).encode())
    token = jwt.encode(c, key, algorithm=alg, headers={"kid": alg.lower()})
    h, p, s = token.split(".")
    if kind == "sig_bitflip":
        raw = bytearray(unb64(s))
        raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        return f"{h}.{p}.{b64(bytes(raw))}"
    if kind == "payload_char":
        i = rng.randrange(len(p))
        ch = rng.choice([c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" if c != p[i]])
        return f"{h}.{p[:i]}{ch}{p[i + 1:]}.{s}"
    if kind == "truncate":
        return token[: rng.randrange(1, len(token) - 1)]
    if kind == "swap_sig":
        other = jwt.encode(claims(rng), key, algorithm=alg, headers={"kid": alg.lower()})
        return f"{h}.{p}.{other.split('.')[2]}"
    if kind == "alg_none":
        return f"{b64(json.dumps({'alg': 'none', 'kid': alg.lower()}).encode())}.{p}."
    if kind == "wrong_kid_alg":
        # The header names another algorithm than the key's.
        other = "HS256" if not alg.startswith("HS") else "RS256"
        hdr = json.loads(unb64(h))
        hdr["alg"] = other
        return f"{b64(json.dumps(hdr).encode())}.{p}.{s}"
    if kind in ("expired", "expired_within_leeway", "not_yet_valid", "wrong_iss", "wrong_aud",
                "no_exp", "extra_claims", "sub_number", "jti_number", "aud_element_number",
                "exp_after_9999", "nbf_negative"):
        return token
    raise ValueError(kind)


KINDS = ["valid", "expired", "expired_within_leeway", "not_yet_valid", "wrong_iss", "wrong_aud",
         "no_exp", "extra_claims", "duplicate_claim", "exp_string", "crit_unknown", "sig_bitflip",
         "payload_char", "truncate", "swap_sig", "alg_none", "wrong_kid_alg",
         "sub_number", "jti_number", "aud_element_number", "exp_after_9999", "nbf_negative"]


def pyjwt_verdict(token, jwks_by_kid):
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        jwk = jwks_by_kid[kid]
        jwt.decode(token, jwk.key, algorithms=[jwk.algorithm_name], audience=AUD, issuer=ISS,
                   leeway=LEEWAY, options={"require": ["exp", "iss"]})
        return True
    except Exception:  # noqa: BLE001 - any refusal is a refusal
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("verdicts")
    ap.add_argument("--tokens", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    keys = make_keys()
    jwks = [public_jwk(alg, key) for alg, key in keys.items()]
    jwks_by_kid = {j["kid"]: jwt.PyJWK(j) for j in jwks}
    policy = {"providers": {"idp": {"issuer": ISS, "audiences": [AUD], "allow_hmac": True,
                                    "jwks": {"keys": jwks}, "clock_skew_seconds": LEEWAY}}}
    cases = []
    algs = list(keys)
    for i in range(args.tokens):
        alg = algs[i % len(algs)]
        kind = KINDS[(i // len(algs)) % len(KINDS)]
        token = mutate(rng, alg, keys[alg], kind)
        cases.append((alg, kind, token, pyjwt_verdict(token, jwks_by_kid)))

    with tempfile.TemporaryDirectory() as tmp:
        policy_path = os.path.join(tmp, "policy.json")
        with open(policy_path, "w") as f:
            json.dump(policy, f)
        lines = "".join(json.dumps({"token": t, "now": NOW}) + "\n" for _, _, t, _ in cases)
        out = subprocess.run([args.verdicts, policy_path], input=lines, capture_output=True,
                             text=True, check=True).stdout.splitlines()
    assert len(out) == len(cases), "one verdict per token"

    agree = deliberate = 0
    unexpected = []
    by_kind = {}
    for (alg, kind, token, theirs), line in zip(cases, out):
        ours = json.loads(line)
        stats = by_kind.setdefault(kind, [0, 0, 0])
        stats[0 if ours["ok"] else 1] += 1
        if ours["ok"] == theirs:
            agree += 1
        elif kind in DELIBERATE:
            deliberate += 1
            stats[2] += 1
        else:
            unexpected.append(f"{alg} {kind}: PyJWT {'accepts' if theirs else 'refuses'}, "
                              f"jwtgate {ours}: {token}")
    print(f"seed {seed}; {len(cases)} tokens over {len(algs)} algorithms and {len(KINDS)} mutations")
    print(f"{'mutation':24} {'accepted':>8} {'refused':>8} {'deliberate':>10}")
    for kind in KINDS:
        a, r, d = by_kind.get(kind, [0, 0, 0])
        print(f"{kind:24} {a:8} {r:8} {d:10}")
    for kind, why in DELIBERATE.items():
        print(f"deliberate difference ({kind}): {why}")
    for u in unexpected[:20]:
        print("UNEXPECTED:", u)
    print(f"differential: {agree + deliberate} passed, {len(unexpected)} failed")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
