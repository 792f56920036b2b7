"""jwtgate serve on its own: the trust contract of each --mode, the shared
attack suite with the core's codes, policy reload (SIGHUP and file change)
under load with wrk, graceful shutdown, the admin listener.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest
import warnings
from pathlib import Path

import parts  # noqa: F401  (puts tests/e2e on the path)
import scenario
from matrix import raw
from parts import ROOT, EchoUpstream, Jwtgate, Keys, Nginx, claims, request

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "tokens"))
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # gen_tokens makes a 1024-bit key on purpose
    import gen_tokens  # noqa: E402

KEYS = Keys()


def nginx_headers(method: str, target: str, extra: list | None = None) -> list[tuple[str, str]]:
    return [("x-original-method", method), ("x-original-uri", target)] + (extra or [])


class TrustContract(unittest.TestCase):
    """Each mode reads the original request from one place only."""

    @classmethod
    def setUpClass(cls) -> None:
        policy = scenario.policy(KEYS)
        cls.gates = {m: Jwtgate(policy, mode=m, canonical="refuse").start() for m in ("nginx", "traefik", "envoy")}

    @classmethod
    def tearDownClass(cls) -> None:
        for g in cls.gates.values():
            g.stop()

    def test_nginx_reads_x_original_and_nothing_else(self) -> None:
        port = self.gates["nginx"].port
        # The sub-request's own path is /login (bypass); X-Original-URI decides.
        r = raw(port, "/login", nginx_headers("GET", "/orders", [("x-forwarded-uri", "/login"), ("x-forwarded-method", "GET")]))
        self.assertEqual((r.status, r.error_code()), (401, "missing"))
        r = raw(port, "/orders", nginx_headers("GET", "/login"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("x-jwtgate-target"), "/login")

    def test_traefik_reads_x_forwarded_and_nothing_else(self) -> None:
        port = self.gates["traefik"].port
        r = raw(port, "/login", [("x-forwarded-method", "GET"), ("x-forwarded-uri", "/orders"), ("x-original-uri", "/login"), ("x-original-method", "GET")])
        self.assertEqual((r.status, r.error_code()), (401, "missing"))
        r = raw(port, "/orders", [("x-forwarded-method", "GET"), ("x-forwarded-uri", "/login")])
        self.assertEqual(r.status, 200)

    def test_envoy_reads_the_request_itself(self) -> None:
        port = self.gates["envoy"].port
        r = raw(port, "/orders", nginx_headers("GET", "/login") + [("x-forwarded-uri", "/login"), ("x-forwarded-method", "GET")])
        self.assertEqual((r.status, r.error_code()), (401, "missing"))
        self.assertEqual(raw(port, "/login").status, 200)

    def test_missing_or_repeated_headers_fail_closed(self) -> None:
        nginx = self.gates["nginx"]
        before = nginx.metrics()["jwtgate_bad_subrequests_total"]
        for headers in (
            [],
            [("x-original-method", "GET")],
            [("x-original-uri", "/login")],
            nginx_headers("GET", "/login", [("x-original-uri", "/login")]),
        ):
            with self.subTest(headers):
                r = raw(nginx.port, "/login", headers)
                self.assertEqual((r.status, r.error_code()), (500, "invalid_config"))
        self.assertEqual(nginx.metrics()["jwtgate_bad_subrequests_total"], before + 4)

    def test_non_canonical_targets_are_refused_unless_forwarded(self) -> None:
        tok = KEYS.sign("ES256", claims(roles=["admin"]))
        auth = [("authorization", "Bearer " + tok)]
        r = raw(self.gates["nginx"].port, "/auth", nginx_headers("GET", "/%61dmin/users", auth))
        self.assertEqual((r.status, r.error_code()), (400, "invalid_path"))
        self.assertEqual(r.header("x-jwtgate-status"), "400")
        self.assertIsNone(r.header("www-authenticate"))
        r = raw(self.gates["nginx"].port, "/auth", nginx_headers("GET", "/admin/users", auth))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("x-jwt-sub"), "user-123")
        self.assertIsNone(r.header("authorization"), "forward: false: the token header is not forwarded")

    def test_admin_endpoints_live_on_the_admin_listener_only(self) -> None:
        gate = self.gates["envoy"]
        self.assertEqual(request(gate.admin_port, "/healthz").status, 200)
        ready = request(gate.admin_port, "/readyz")
        self.assertEqual((ready.status, ready.json()["ready"]), (200, True))
        self.assertIn("jwtgate_allowed_total", request(gate.admin_port, "/metrics").body.decode())
        # On the check listener /healthz is a client path like any other
        # (the scenario policy bypasses exactly /healthz; /metrics needs a token).
        self.assertEqual((raw(gate.port, "/metrics").status), 401)


def expected_status(expect: str) -> int:
    return 200 if expect == "ok" else 403 if expect == "claim_rule_failed" else 401


class AttackSuite(unittest.TestCase):
    """tests/fixtures/tokens (PyJWT-minted) through the service, re-minted at
    the current time: the core's codes, case by case (the same codes as the
    filter and the npm package)."""

    def test_same_codes_as_the_core(self) -> None:
        with Jwtgate(gen_tokens.policy, mode="envoy", canonical="refuse") as gate:
            for _attempt in range(3):
                while time.time() % 1 > 0.05:
                    time.sleep(0.005)
                now = int(time.time())
                cases = gen_tokens.make_cases(now)
                got = {}
                for c in cases:
                    r = raw(gate.port, c.get("path", "/"), [("authorization", "Bearer " + c["token"])] if c["token"] else [])
                    got[c["name"]] = (r.status, "ok" if r.status == 200 else r.error_code())
                if int(time.time()) == now:
                    break
            else:
                self.fail("could not send the cases within one second")
            self.assertGreaterEqual(len(cases), 60)
            for c in cases:
                with self.subTest(c["name"]):
                    expect = "missing" if c["token"] == "" else c["expect"]
                    self.assertEqual(got[c["name"]], (expected_status(expect), expect))


def wrk_binary() -> str | None:
    return shutil.which("wrk")


class Reload(unittest.TestCase):
    def test_sighup_and_file_change_under_load(self) -> None:
        """wrk through nginx for 4 s while the policy changes twice (first
        invalid, then valid with a renamed claim header): no failed request,
        the invalid one refused with the field named, the valid one in
        effect afterwards."""
        self.assertIsNotNone(wrk_binary(), "wrk is missing (scripts/setup.sh installs it)")
        policy = scenario.policy(KEYS)
        renamed = copy.deepcopy(policy)
        renamed["providers"]["idp"]["claim_to_headers"] = [{"claim": "sub", "header": "x-jwt-sub"}, {"claim": "sub", "header": "x-jwt-iss"}]
        invalid = copy.deepcopy(policy)
        invalid["providers"]["idp"]["audiences"] = "orders-api"
        tok = KEYS.sign("RS256", claims(exp=int(time.time()) + 3600))
        with EchoUpstream() as up, Jwtgate(policy, threads=2) as gate, Nginx(gate.port, up.port) as nginx:
            before = raw(nginx.port, "/orders", [("authorization", "Bearer " + tok)])
            self.assertEqual(before.upstream_headers("x-jwt-iss"), [scenario.ISSUER])

            def change() -> None:
                time.sleep(1.2)
                gate.write_policy(invalid)
                gate.signal(signal.SIGHUP)
                time.sleep(1.2)
                gate.write_policy(renamed)  # the file watch picks this one up
                time.sleep(0.6)
                gate.signal(signal.SIGHUP)

            changer = threading.Thread(target=change)
            changer.start()
            out = subprocess.run(
                [wrk_binary(), "-t", "2", "-c", "8", "-d", "4s", "-H", f"Authorization: Bearer {tok}", f"http://127.0.0.1:{nginx.port}/orders"],
                capture_output=True, text=True, timeout=30,
            ).stdout
            changer.join()
            requests = int(re.search(r"(\d+) requests in", out).group(1))
            self.assertGreater(requests, 500, out)
            self.assertNotIn("Non-2xx", out, out)
            self.assertNotIn("Socket errors", out, out)
            after = raw(nginx.port, "/orders", [("authorization", "Bearer " + tok)])
            self.assertEqual(after.status, 200)
            self.assertEqual(after.upstream_headers("x-jwt-iss"), ["user-123"], "the new policy is in effect")
            self.assertEqual(gate.generation(), 2)
            refused = [line["msg"] for line in gate.log_lines() if line["level"] == "error"]
            self.assertTrue(any("refused" in m and "providers.idp.audiences" in m for m in refused), refused)
            m = gate.metrics()
            self.assertGreaterEqual(m['jwtgate_policy_reloads_total{result="refused"}'], 1)
            self.assertEqual(m["jwtgate_policy_generation"], 2)

    def test_a_bad_policy_at_start_is_refused_with_the_field(self) -> None:
        gate = Jwtgate({"providers": {"idp": {"issuer": 7}}})
        with self.assertRaises(RuntimeError) as ctx:
            gate.start()
        self.assertIn("providers.idp.issuer", str(ctx.exception))


class Shutdown(unittest.TestCase):
    def test_sigterm_lets_in_flight_requests_finish(self) -> None:
        """A slow client holds a request open across SIGTERM: it still gets
        its answer, new connections are refused, and the process exits 0."""
        import socket

        with Jwtgate(scenario.policy(KEYS), mode="envoy") as gate:
            s = socket.create_connection(("127.0.0.1", gate.port), timeout=10)
            s.sendall(b"GET /login HTTP/1.1\r\nhost: x\r\n")  # headers not finished yet
            time.sleep(0.3)
            gate.signal(signal.SIGTERM)
            time.sleep(0.3)
            s.sendall(b"\r\n")
            answer = s.recv(4096).decode()
            s.close()
            self.assertTrue(answer.startswith("HTTP/1.1 200"), answer)
            rc = gate.proc.wait(timeout=10)
            self.assertEqual(rc, 0)
            gate.proc = None
            with self.assertRaises(OSError):
                socket.create_connection(("127.0.0.1", gate.port), timeout=1)
            self.assertIn("every connection closed", gate.log())


class Cli(unittest.TestCase):
    """`jwtgate inspect|verify` print what the npm CLI prints, exit as it does."""

    JS = ROOT / "js" / "bin" / "jwtgate.mjs"

    @classmethod
    def setUpClass(cls) -> None:
        cls.dir = parts.workdir("cli")
        cls.policy = cls.dir / "policy.json"
        p = copy.deepcopy(scenario.policy(KEYS))
        p["signature_verifier"] = "rust"  # both print who checked the signature
        cls.policy.write_text(json.dumps(p))
        bad = cls.dir / "bad.json"
        bad.write_text(json.dumps({"providers": {"main": {"issuer": 7}}}))
        cls.bad = bad

    def run_both(self, args: list[str], stdin: str = ""):
        ours = subprocess.run([parts.BINARY] + args, input=stdin, capture_output=True, text=True, timeout=20)
        theirs = subprocess.run(["node", str(self.JS)] + args, input=stdin, capture_output=True, text=True, timeout=20)
        return ours, theirs

    def test_same_output_and_exit_codes(self) -> None:
        now = int(time.time())
        tok = KEYS.sign("ES256", claims(now=now, nbf=now - 30, auth_time=now - 4000))
        cases = [
            ["inspect", "--now", str(now), tok],
            ["inspect", "--now", "2030-01-02T00:00:00Z", tok],
            ["inspect", "--json", "--now", str(now), tok],
            ["inspect", "not-a-token"],
            ["inspect", scenario_unsigned()],
            ["verify", "--policy", str(self.policy), "--now", str(now), tok],
            ["verify", "--policy", str(self.policy), "--now", str(now + 86400), tok],
            ["verify", "--policy", str(self.policy), "--now", str(now), "--json", tok],
            ["verify", "--policy", str(self.policy), "--now", str(now), "--path", "/admin/x", KEYS.sign("RS256", claims(now=now, roles=["r"]))],
            ["verify", "--policy", str(self.policy), "--now", str(now), parts_tamper(tok)],
        ]
        for args in cases:
            with self.subTest(" ".join(a[:24] for a in args)):
                ours, theirs = self.run_both(args)
                self.assertEqual(ours.returncode, theirs.returncode, ours.stderr + theirs.stderr)
                self.assertEqual(ours.stdout, theirs.stdout)

    def test_stdin_and_usage_errors(self) -> None:
        tok = KEYS.sign("EdDSA", claims())
        for args in (["inspect", "-", "--json"], ["inspect", "--json"]):
            ours, theirs = self.run_both(args, tok + "\n")
            self.assertEqual((ours.returncode, ours.stdout), (theirs.returncode, theirs.stdout))
        same_message = ([], ["frobnicate"], ["verify", tok], ["inspect", "--now", "someday", tok], ["inspect", "a", "b"], ["verify", "--policy", str(self.bad), tok])
        # Node's parseArgs and fs word these two their own way.
        own_message = (["inspect", "--bogus", tok], ["verify", "--policy", str(self.dir / "absent.json"), tok])
        for args in same_message + own_message:
            with self.subTest(args):
                ours, theirs = self.run_both(args)
                self.assertEqual((ours.returncode, theirs.returncode), (2, 2))
                self.assertIn("usage:", ours.stderr)
                if args in same_message:
                    self.assertEqual(ours.stderr.splitlines()[0], theirs.stderr.splitlines()[0])
        ours, _ = self.run_both(["verify", "--policy", str(self.bad), tok])
        self.assertRegex(ours.stderr, r"invalid_config: .*issuer")
        ours, theirs = self.run_both(["--help"])
        self.assertEqual((ours.returncode, theirs.returncode), (0, 0))
        self.assertIn("jwtgate inspect", ours.stdout)


def scenario_unsigned() -> str:
    from harness import unsigned_token

    return unsigned_token({"alg": "none"}, {"sub": "x", "exp": 1})


def parts_tamper(tok: str) -> str:
    from harness import tamper

    return tamper(tok)


if __name__ == "__main__":
    unittest.main()
