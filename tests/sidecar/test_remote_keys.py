"""Remote keys in `jwtgate serve`: a policy whose provider fetches its JWKS
from tests/jwks_server.py (a real HTTP server on 127.0.0.1 that rotates,
goes down, goes slow and counts requests), behind Debian's nginx with
deploy/nginx/jwtgate-auth.conf. Tokens are minted by PyJWT with keys made
by `cryptography`; the expectations come from the policy's numbers
(refresh, cooldown, timeout, max_stale), not from jwtgate's output.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
import unittest

from cryptography.hazmat.primitives.asymmetric import ec

import parts
from parts import ROOT, EchoUpstream, Jwtgate, Nginx, request

sys.path.insert(0, str(ROOT / "tests"))
from es256_signer import Signer  # noqa: E402
from jwks_server import JwksServer  # noqa: E402

ISSUER = "https://idp.example.com"
REFRESH = 2
COOLDOWN = 1
MAX_STALE = 4


def policy(server: JwksServer, query: str = "", extra_rules: list | None = None, **remote) -> dict:
    config = {
        "uri": f"{server.base}/jwks{query}",
        "allow_http": True,
        "refresh_seconds": REFRESH,
        "min_refresh_seconds": 1,
        "cooldown_seconds": COOLDOWN,
        "timeout_seconds": 1,
        "retry_seconds": 1,
        "max_retry_seconds": 1,
        "max_stale_seconds": MAX_STALE,
        "jitter_percent": 0,
    }
    config.update(remote)
    rules = (extra_rules or []) + [{"prefix": "/", "requires": "idp"}]
    return {"providers": {"idp": {"issuer": ISSUER, "remote_jwks": config}}, "rules": rules}


class Stack:
    """A JWKS server, `jwtgate serve` with a remote-keys policy, nginx and the echo upstream."""

    def __init__(self, test: unittest.TestCase, threads: int = 4, start_gate: bool = True, **remote) -> None:
        self.signer = Signer()
        self.server = JwksServer(jwks=self.signer.jwks("k1")).start()
        test.addCleanup(self.server.stop)
        self.up = EchoUpstream().__enter__()
        test.addCleanup(self.up.__exit__, None, None, None)
        self.remote = remote
        self.gate = Jwtgate(policy(self.server, **remote), mode="nginx", canonical="forward", threads=threads)
        test.addCleanup(self.gate.stop)
        self.nginx: Nginx | None = None
        self.test = test
        if start_gate:
            self.start()

    def start(self) -> "Stack":
        self.gate.start()
        self.nginx = Nginx(self.gate.port, self.up.port).start()
        self.test.addCleanup(self.nginx.stop)
        return self

    def get(self, kid: str = "k1", path: str = "/orders", token: str | None = None, timeout: float = 10.0):
        token = token or self.signer.token(kid)
        return request(self.nginx.port, path, {"authorization": f"Bearer {token}"}, timeout=timeout)

    def readyz(self) -> tuple[int, dict]:
        r = request(self.gate.admin_port, "/readyz")
        return r.status, json.loads(r.body)

    def wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.readyz()[0] == 200:
                return
            time.sleep(0.05)
        raise AssertionError(f"not ready after {timeout} s: {self.readyz()}\n{self.gate.log()[-3000:]}")

    def metric(self, name: str) -> float:
        return self.gate.metrics().get(name, -1.0)


def wait_for(predicate, timeout: float, what: str, step: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"{what}: not within {timeout} s")


class RemoteKeys(unittest.TestCase):
    def test_tokens_verify_after_start_and_readyz_waits_for_the_first_fetch(self) -> None:
        s = Stack(self)
        s.wait_ready()
        status, body = s.readyz()
        self.assertEqual((status, body["ready"], body["providers"]), (200, True, {"idp": "ready"}))
        r = s.get("k1")
        self.assertEqual(r.status, 200, r.body)
        self.assertIsNotNone(r.upstream)
        # A kid the IdP does not have: 401 unknown_kid, never a pass.
        r = s.get(token=Signer().token("k1"))
        self.assertEqual(r.status, 401)
        self.assertIn("invalid_token", r.header("www-authenticate") or "")
        m = s.gate.metrics()
        self.assertGreaterEqual(m['jwtgate_keys_fetches_total{provider="idp"}'], 1)
        self.assertEqual(m['jwtgate_keys{provider="idp"}'], 1)
        self.assertEqual(m['jwtgate_keys_ready{provider="idp"}'], 1)
        self.assertEqual(m['jwtgate_keys_failures_total{provider="idp",kind="network"}'], 0)
        self.assertTrue(any("keys changed" in line["msg"] for line in s.gate.log_lines()), s.gate.log())

    def test_one_fetch_per_refresh_for_a_multi_threaded_process(self) -> None:
        s = Stack(self, threads=4)
        s.wait_ready()
        s.server.reset_counts()
        window = 3 * REFRESH
        stop = time.monotonic() + window
        failures: list = []
        done = [0]

        def load() -> None:
            while time.monotonic() < stop:
                r = s.get("k1")
                if r.status != 200:
                    failures.append(r.status)
                done[0] += 1

        workers = [threading.Thread(target=load) for _ in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        fetched = s.server.count("/jwks")
        parts_log = f"{fetched} fetches in {window} s with refresh {REFRESH} s, {done[0]} requests on 4 threads"
        print(f"\n    {parts_log}", file=sys.stderr)
        self.assertEqual(failures, [])
        self.assertGreater(done[0], 50)
        # One fetch per refresh for the process: 4 threads fetching on their own would make ~4x.
        self.assertGreaterEqual(fetched, window // REFRESH - 1, parts_log)
        self.assertLessEqual(fetched, window // REFRESH + 1, parts_log)

    def test_rotation_without_restart_reaches_every_thread(self) -> None:
        s = Stack(self, threads=4)
        s.wait_ready()
        s.server.set(jwks=s.signer.jwks("k1", "k2"))
        s.server.reset_counts()
        # A token with the new kid asks for one early fetch (the cooldown is 1 s).
        wait_for(lambda: s.get("k2").status == 200, COOLDOWN + 3, "the rotated key")
        # Then every worker thread has it.
        statuses = [s.get("k2").status for _ in range(40)]
        self.assertEqual(set(statuses), {200})
        self.assertLessEqual(s.server.count("/jwks"), 3, "an unknown kid costs at most one fetch per cooldown (plus the refresh)")
        self.assertTrue(any('kids added ["k2"]' in line["msg"] for line in s.gate.log_lines()), s.gate.log())

    def test_the_first_request_with_a_new_kid_waits_for_the_refetch_it_starts(self) -> None:
        """As jose's createRemoteJWKSet (and the Envoy filter): the request is
        held while the kid-miss refetch it asked the fetcher for is under
        way, and decided again when it lands; a kid the IdP does not have
        waits for its refetch too, then 401; within the cooldown, 401 at once."""
        s = Stack(self, threads=4, refresh_seconds=600, max_stale_seconds=1200, cooldown_seconds=2, timeout_seconds=2)
        s.wait_ready()
        s.server.set(jwks=s.signer.jwks("k1", "k2"), mode="slow", delay=0.5)
        s.server.reset_counts()
        time.sleep(2.1)  # past the first fetch's cooldown
        t0 = time.monotonic()
        r = s.get("k2")
        took = time.monotonic() - t0
        self.assertEqual(r.status, 200, r.body)
        self.assertGreaterEqual(took, 0.45, "answered before the refetch landed")
        self.assertEqual(s.server.count("/jwks"), 1)
        # Within the cooldown: 401 at once, no fetch (a wait for a fetch would now take 1.5 s).
        s.server.set(delay=1.5)
        t0 = time.monotonic()
        r = s.get(token=Signer().token("k9"))
        self.assertEqual(r.status, 401)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(s.server.count("/jwks"), 1)
        # After it: the refetch is waited for, then 401 (never a pass).
        time.sleep(3.2)
        t0 = time.monotonic()
        r = s.get(token=Signer().token("k8"))
        took = time.monotonic() - t0
        self.assertEqual(r.status, 401)
        self.assertGreaterEqual(took, 1.4)
        self.assertLess(took, 3.5)
        self.assertEqual(s.server.count("/jwks"), 2)

    def test_server_down_cached_keys_work_then_503_after_max_stale(self) -> None:
        s = Stack(self)
        s.wait_ready()
        wait_for(lambda: s.server.count("/jwks") >= 2, REFRESH + 2, "a refresh")
        s.server.set(mode="down")
        down_at = time.monotonic()
        self.assertEqual(s.get("k1").status, 200, "cached keys work")
        r = wait_for(lambda: (lambda r: r if r.status != 200 else None)(s.get("k1")), MAX_STALE + 3, "the stale bound", step=0.2)
        elapsed = time.monotonic() - down_at
        print(f"\n    cached keys served {elapsed:.1f} s after the IdP went down (max_stale {MAX_STALE} s)", file=sys.stderr)
        self.assertGreaterEqual(elapsed, MAX_STALE - REFRESH - 1)
        self.assertEqual((r.status, r.error_code()), (503, "jwks_unavailable"), r.body)
        self.assertRegex(r.header("retry-after") or "", r"^[1-9][0-9]*$")
        status, body = s.readyz()
        self.assertEqual((status, body["providers"]["idp"]), (503, "unavailable"))
        self.assertGreater(s.metric('jwtgate_keys_failures_total{provider="idp",kind="network"}'), 0)
        self.assertTrue(any(line["level"] == "warn" and "JWKS fetch failed (network)" in line["msg"] for line in s.gate.log_lines()))
        # The IdP back: the next retry (1 s) brings the keys back.
        s.server.set(mode="ok")
        wait_for(lambda: s.get("k1").status == 200, 4, "keys after the IdP came back")

    def test_slow_first_fetch_requests_wait_and_pass(self) -> None:
        s = Stack(self, start_gate=False, timeout_seconds=3)
        s.server.set(mode="slow", delay=1.5)
        s.start()
        started = time.monotonic()
        status, body = s.readyz()
        self.assertEqual((status, body["providers"]), (503, {"idp": "pending"}))
        results: list = []
        waiters = [threading.Thread(target=lambda: results.append(s.get("k1"))) for _ in range(4)]
        for w in waiters:
            w.start()
        for w in waiters:
            w.join()
        elapsed = time.monotonic() - started
        self.assertEqual([r.status for r in results], [200] * 4, [r.body for r in results])
        self.assertGreaterEqual(elapsed, 1.0, "they waited for the fetch")
        self.assertEqual(s.server.count("/jwks"), 1, "one first fetch for every waiting request")
        self.assertEqual(s.readyz()[0], 200)

    def test_first_fetch_past_its_timeout_is_503_never_a_pass(self) -> None:
        s = Stack(self, start_gate=False, timeout_seconds=1)
        s.server.set(mode="slow", delay=6)
        s.start()
        started = time.monotonic()
        r = s.get("k1")
        elapsed = time.monotonic() - started
        self.assertEqual((r.status, r.error_code()), (503, "jwks_unavailable"), r.body)
        self.assertIsNone(r.upstream)
        self.assertRegex(r.header("retry-after") or "", r"^[1-9][0-9]*$")
        self.assertLess(elapsed, 1 + 2.5, "bounded by the fetch timeout")
        self.assertGreater(s.metric('jwtgate_keys_failures_total{provider="idp",kind="timeout"}'), 0)

    def test_fetch_failures_are_counted_by_kind(self) -> None:
        s = Stack(self, start_gate=False)
        s.server.set(mode="huge")  # 100 KiB, over the default max_bytes (65536)
        s.start()
        expected = {"huge": "too_large", "redirect": "redirect", "500": "status", "garbage": "invalid_jwks"}
        for mode, kind in expected.items():
            s.server.set(mode=mode)
            name = f'jwtgate_keys_failures_total{{provider="idp",kind="{kind}"}}'
            wait_for(lambda: s.metric(name) >= 1, 4, f"a {kind} failure ({mode})")
            r = s.get("k1")
            self.assertEqual((r.status, r.error_code()), (503, "jwks_unavailable"), mode)
        self.assertEqual(s.readyz()[0], 503)
        self.assertEqual(s.server.count("/elsewhere"), 0, "redirects are not followed")
        s.server.set(mode="ok")
        wait_for(lambda: s.get("k1").status == 200, 4, "keys once the IdP answers well")

    def test_https_checks_the_certificate(self) -> None:
        # A TLS server with a self-signed certificate: the fetcher speaks TLS
        # (no plain-text fallback) and refuses a certificate no root signed.
        import datetime
        import ssl
        import tempfile

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256())
        )
        directory = tempfile.mkdtemp(dir=parts.WORK)
        cert_path, key_path = f"{directory}/cert.pem", f"{directory}/key.pem"
        with open(cert_path, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        s = Stack(self, start_gate=False)
        s.server._http.socket = context.wrap_socket(s.server._http.socket, server_side=True)
        doc = policy(s.server)
        doc["providers"]["idp"]["remote_jwks"]["uri"] = f"https://127.0.0.1:{s.server.port}/jwks"
        s.gate.write_policy(doc)
        s.start()
        wait_for(lambda: s.metric('jwtgate_keys_failures_total{provider="idp",kind="network"}') >= 1, 4, "a TLS failure")
        self.assertEqual(s.get("k1").status, 503)
        self.assertEqual(s.server.count("/jwks"), 0, "no request without a trusted certificate")
        self.assertTrue(any("certificate" in line["msg"] for line in s.gate.log_lines()), s.gate.log()[-2000:])

    def test_a_reload_keeps_the_keys_of_unchanged_sources(self) -> None:
        s = Stack(self, refresh_seconds=60)
        s.wait_ready()
        s.server.reset_counts()
        s.gate.write_policy(policy(s.server, extra_rules=[{"prefix": "/login", "bypass": True}], refresh_seconds=60))
        s.gate.signal(signal.SIGHUP)
        wait_for(lambda: s.gate.generation() == 2, 5, "generation 2")
        self.assertEqual(s.get("k1").status, 200)
        self.assertEqual(request(s.nginx.port, "/login").status, 200, "the new rule serves")
        time.sleep(0.5)
        self.assertEqual(s.server.count("/jwks"), 0, "the same source: no refetch")
        # Another URI: a new source, fetched at once; the tokens keep passing.
        s.gate.write_policy(policy(s.server, query="?v=2", refresh_seconds=60))
        s.gate.signal(signal.SIGHUP)
        wait_for(lambda: s.gate.generation() == 3, 5, "generation 3")
        self.assertEqual(s.get("k1").status, 200)
        self.assertEqual(s.server.count("/jwks"), 1)


if __name__ == "__main__":
    unittest.main()
