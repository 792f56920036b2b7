#!/usr/bin/env python3
"""Writes the fuzz seed corpus, fuzz/seeds/<target>/, from the test fixtures:
tests/fixtures/tokens/cases.json (tokens), tests/fixtures/tokens/policy.json and
tests/fixtures/keys/*.json. Re-run after the fixtures change; the output is
committed (small files) and replayed by tests/regressions.rs.

    python3 fuzz/gen_seeds.py
"""
import json
import pathlib
import re
import shutil

ROOT = pathlib.Path(__file__).resolve().parent.parent
SEEDS = ROOT / "fuzz" / "seeds"


def name(text):
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60]


def main():
    cases = json.loads((ROOT / "tests/fixtures/tokens/cases.json").read_text())["cases"]
    policy_text = (ROOT / "tests/fixtures/tokens/policy.json").read_text()
    policy = json.loads(policy_text)
    seeds = {"token": {}, "jwks": {}, "policy": {}, "authorize": {}, "path": {}, "claim_path": {}, "pem": {}, "key_source": {},
             "sidecar_request": {}, "sidecar_cli": {}}

    for i, case in enumerate(cases):
        n = f"{i:02}_{name(case['name'])}"
        seeds["token"][n] = case["token"]
        path = case.get("path") or "/orders"
        seeds["authorize"][n] = f"GET {path}\nauthorization: Bearer {case['token']}\n"
    # Other token locations and request shapes, with one valid token.
    valid = cases[0]["token"]
    seeds["authorize"]["query_param"] = f"GET /orders?access_token={valid}&x=1\n"
    seeds["authorize"]["cookie_and_spoofed_header"] = (
        f"POST /admin/users\ncookie: a=b; session={valid}\nx-jwt-sub: spoofed\nauthorization: Bearer {valid}\n"
    )
    seeds["authorize"]["cors_preflight"] = "OPTIONS /orders\norigin: https://a.example\naccess-control-request-method: GET\n"
    seeds["authorize"]["no_token"] = "GET /orders\n"
    seeds["authorize"]["two_tokens"] = f"GET /\nauthorization: Bearer {valid}\nauthorization: Bearer x.y.z\n"

    # Request targets: the spellings tests/request.rs and tests/e2e/test_paths.py use.
    for i, target in enumerate([
        "/admin/users", "/orders/../admin/users", "/x/%2e%2e/admin/users", "/x%2F..%2Fadmin/users",
        "/./admin/users", "/%61dmin/users", "//admin/users", "http://x/admin/users?a=1", "/..;/admin",
        "/admin.", "/caf%c3%a9", "/a%C3%28", "*", "/a;v=1/b/", "/a?x=%2F&access_token=t#f",
    ]):
        seeds["path"][f"{i:02}"] = target
    seeds["authorize"]["dot_segments"] = f"GET /orders/../admin/users\nauthorization: Bearer {valid}\n"
    seeds["authorize"]["absolute_form"] = f"GET http://x/admin/users?access_token={valid}\n"

    for provider, config in policy["providers"].items():
        seeds["jwks"][f"provider_{provider}"] = json.dumps(config["jwks"])
        for i, key in enumerate(config["jwks"]["keys"]):
            seeds["jwks"][f"provider_{provider}_key{i}"] = json.dumps(key)
        one = dict(policy, providers={provider: config}, rules=[])
        seeds["policy"][f"only_{provider}"] = json.dumps(one, indent=1)
    for path in sorted((ROOT / "tests/fixtures/keys").glob("*jwks.json")):
        seeds["jwks"][path.stem] = path.read_text()
    seeds["policy"]["fixture"] = policy_text
    seeds["policy"]["jwks_as_string"] = json.dumps(
        {"providers": {"p": {"issuer": "i", "jwks": json.dumps(policy["providers"]["idp"]["jwks"])}}}
    )

    # Claim paths: every one in the fixture policy, and the refused forms.
    paths = []
    for config in policy["providers"].values():
        paths += [c["claim"] for c in config.get("claim_to_headers", [])]
        paths += [r["claim"] for r in config.get("claim_rules", [])]
        paths += config.get("required_claims", [])
    for rule in policy["rules"]:
        paths += [r["claim"] for r in rule.get("claim_rules", [])]
    paths += ["", [], "a..b", ".a", ["a", ""], ["a", 1], "https://example.com/roles", "cognito:groups", 7]
    for i, p in enumerate(paths):
        seeds["claim_path"][f"{i:02}_{name(json.dumps(p)) or 'empty'}"] = json.dumps(p)
    # PEM keys, certificates and x5c JWKs minted by cryptography (tests/fixtures/pem).
    pem = json.loads((ROOT / "tests/fixtures/pem/cases.json").read_text())
    for i, case in enumerate(pem["pem_cases"] + pem["pem_errors"]):
        seeds["pem"][f"{i:02}_{name(case['name'])}"] = case["pem_key"]["pem"]
    for case in pem["x5c_cases"]:
        seeds["jwks"][f"x5c_{name(case['name'])}"] = json.dumps({"keys": [case["jwk"]]})
        seeds["pem"][f"x5c_{name(case['name'])}"] = case["jwk"]["x5c"][0]
    # Fetch answers: "STATUS CACHE-CONTROL" then the body.
    discovery = json.dumps({"issuer": "https://idp.example.com", "jwks_uri": "https://idp.example.com/jwks"})
    idp_jwks = json.dumps(policy["providers"]["idp"]["jwks"])
    seeds["key_source"]["discovery"] = f"200 max-age=300\n{discovery}"
    seeds["key_source"]["jwks"] = f"200 public, max-age=60\n{idp_jwks}"
    seeds["key_source"]["other_issuer"] = "200 \n" + json.dumps({"issuer": "https://evil.example.com", "jwks_uri": "https://e/j"})
    seeds["key_source"]["status_500"] = "500 no-store\n"
    seeds["key_source"]["redirect"] = "302 \n"
    seeds["key_source"]["garbage"] = "200 max-age=abc\n<html>"
    seeds["key_source"]["lease_failed"] = "1700000000 w1 failed:timeout\n"
    # Policies with remote keys and PEM keys.
    idp = dict(policy["providers"]["idp"])
    remote = {"uri": "https://idp.example.com/jwks", "cluster": "idp", "refresh_seconds": 60, "max_stale_seconds": 600}
    seeds["policy"]["remote_and_embedded"] = json.dumps({"providers": {"idp": dict(idp, remote_jwks=remote)}})
    no_jwks = {k: v for k, v in idp.items() if k != "jwks"}
    seeds["policy"]["discovery"] = json.dumps({"providers": {"idp": dict(no_jwks, discovery=True)}})
    seeds["policy"]["pem_keys"] = json.dumps(
        {"providers": {"idp": dict(no_jwks, pem_keys=[c["pem_key"] for c in pem["pem_cases"][:4]], algorithms=["RS256", "PS256"])}}
    )

    # The sidecar: sub-requests as nginx, Traefik and Envoy send them, and command lines.
    sub = seeds["sidecar_request"]
    sub["nginx_valid"] = f"GET /_jwtgate\nx-original-method: GET\nx-original-uri: /orders?x=1\nauthorization: Bearer {valid}\n"
    sub["nginx_non_canonical"] = f"GET /_jwtgate\nx-original-method: GET\nx-original-uri: /orders/../admin/users\nauthorization: Bearer {valid}\n"
    sub["nginx_repeated_uri"] = "GET /_jwtgate\nx-original-method: GET\nx-original-uri: /orders\nX-Original-URI: /login\n"
    sub["nginx_missing_method"] = "GET /_jwtgate\nx-original-uri: /orders\n"
    sub["nginx_query_token"] = f"GET /_jwtgate\nx-original-method: GET\nx-original-uri: /orders?access_token={valid}&a=b\n"
    sub["traefik_valid"] = f"GET /\nx-forwarded-method: POST\nx-forwarded-uri: /admin/users\ncookie: session={valid}\nx-jwt-sub: spoofed\n"
    sub["traefik_empty_uri"] = "GET /\nx-forwarded-method: GET\nx-forwarded-uri: \n"
    sub["envoy_valid"] = f"DELETE /orders/1\nauthorization: Bearer {valid}\nx-original-uri: /login\n"
    sub["envoy_absolute"] = f"GET http://api.example.com/admin/users\nauthorization: Bearer {valid}\n"
    sub["envoy_no_token"] = "GET /orders\n"
    cli = seeds["sidecar_cli"]
    cli["serve"] = "\0".join(["serve", "--policy", "p.json", "--listen", "127.0.0.1:9000", "--admin", "127.0.0.1:9001",
                              "--mode", "traefik", "--canonical", "forward", "--threads", "4", "--watch-ms", "0", "--grace", "3", "--log-level", "debug"])
    cli["serve_bad_address"] = "serve\0--policy=p.json\0--listen\0localhost"
    cli["serve_bad_mode"] = "serve\0--policy\0p\0--listen\0[::1]:80\0--mode\0haproxy"
    cli["inspect_now_iso"] = f"inspect\0--now\02026-01-02T01:00:00.250+01:00\0--json\0{valid}"
    cli["verify"] = f"verify\0--policy\0p.json\0--path\0/admin\0--now=1700000000\0--\0{valid}"
    cli["verify_two_tokens"] = "verify\0--policy\0p.json\0a.b.c\0d.e.f"
    cli["unknown_option"] = "inspect\0--nope"
    cli["help"] = "help"

    shutil.rmtree(SEEDS, ignore_errors=True)
    for target, files in seeds.items():
        folder = SEEDS / target
        folder.mkdir(parents=True)
        for n, text in files.items():
            (folder / n).write_text(text)
        print(f"{target}: {len(files)} seeds")


if __name__ == "__main__":
    main()
