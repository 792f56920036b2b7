"""A bad policy under xDS: what Envoy 1.40 does with a configuration the
filter refuses, when the configuration arrives as an update.

Loaded by test_e2e.py's runner (tests/e2e/run.sh). Istio delivers a
WasmPlugin to its proxies by ECDS (the filter's config on its own); a plain
control plane sends the whole listener by LDS. Both are tested, from watched
files (`path_config_source` + `watched_directory`: the same xDS messages a
gRPC control plane sends, without one):

  LdsUpdates    the listener (with the filter) over LDS
  EcdsUpdates   the filter's config over ECDS, the listener static

Each starts a good policy with the "old" keys, pushes an update, and checks
which policy decides afterwards with tokens of the old keys and of the new
ones (minted by PyJWT, harness.Keys), plus what the operator can see: the
filter's log line, its counters (`wasmcustom.jwtgate.config.*`) and Envoy's
own xDS counters. envoy/README.md ("A bad policy over xDS") states these
results; the test ids are named there.
"""

from __future__ import annotations

import http.client
import os
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scenario  # noqa: E402
from harness import (  # noqa: E402
    LOCALHOST,
    ROOT,
    DynamicFilter,
    DynamicListeners,
    EchoUpstream,
    Envoy,
    Keys,
    claims,
    request,
    stop_started,
    wasm_filter,
)

WASM = str(ROOT / "target/wasm32-unknown-unknown/release/jwtgate_filter.wasm")  # main() may replace it
REJECTED = "wasmcustom.jwtgate.config.rejected"
ACCEPTED = "wasmcustom.jwtgate.config.accepted"
INVALID_LINE = "jwtgate: invalid configuration: "


def _logged(env: Envoy, text: str, timeout: float = 5.0) -> list[str]:
    """The log lines containing `text`, once there is one (Envoy flushes its
    log every 100 ms; a loaded machine may take longer), or [] after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in env.log().splitlines() if text in line]
        if lines or time.monotonic() > deadline:
            time.sleep(0.2)  # a second line written with the first one is flushed too
            return [line for line in env.log().splitlines() if text in line]
        time.sleep(0.1)

OLD: Keys
NEW: Keys
UPSTREAM: EchoUpstream
_started: list = []


def setUpModule() -> None:  # noqa: N802
    global OLD, NEW, UPSTREAM
    OLD, NEW = Keys(), Keys()
    UPSTREAM = EchoUpstream().__enter__()
    _started.append(UPSTREAM)


def tearDownModule() -> None:  # noqa: N802
    stop_started(_started)


def _workdir(name: str) -> Path:
    base = Path(os.environ.get("JWTGATE_E2E_DIR") or ROOT / ".build" / "e2e")
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=base))


def _filter(policy) -> dict:
    # FAIL_RELOAD: what envoy/envoy.yaml and istio-wasmplugin.yaml recommend.
    return wasm_filter(WASM, policy, failure_policy="FAIL_RELOAD")


def _bearer(keys: Keys) -> dict:
    return {"authorization": "Bearer " + keys.sign("RS256", claims())}


def _late_failure(keys: Keys) -> dict:
    """A policy that parses, builds its first provider with `keys`, adds a
    bypass of /orders, and only then fails: provider "extra" has no usable key.
    Applied even in part, it would let `keys` or a tokenless /orders through."""
    p = scenario.policy(keys)
    p["providers"]["extra"] = {
        **p["providers"]["hmac"],
        "issuer": "https://extra.example.com",
        "jwks": {"keys": [{"kty": "EC", "crv": "P-192", "kid": "weird", "x": "AAAA", "y": "AAAA"}]},
        "allow_hmac": False,
        "algorithms": ["ES256"],
    }
    p["rules"].insert(0, {"prefix": "/orders", "bypass": True})
    return p


class _Updates:
    """Shared checks; the subclasses say how the update travels."""

    env: Envoy

    def port(self) -> int:
        raise NotImplementedError

    def get(self, keys: Keys | None, path: str = "/orders"):
        return request(self.port(), path, _bearer(keys) if keys else {})

    def assert_old_policy_decides(self) -> None:
        r = self.get(OLD)
        self.assertEqual(r.status, 200, r.body[:200])
        self.assertEqual(r.upstream_headers("x-jwt-sub"), ["user-123"])
        r = self.get(NEW)
        # The new keys share the old ones' kids, so the old keys check them.
        self.assertEqual((r.status, r.error_code()), (401, "bad_signature"))
        r = self.get(None)
        self.assertEqual((r.status, r.error_code()), (401, "missing"))

    def assert_new_policy_decides(self) -> None:
        self.assertEqual(self.get(NEW).status, 200)
        self.assertEqual((self.get(OLD).status, self.get(OLD).error_code()), (401, "bad_signature"))

    def invalid_lines(self) -> list[str]:
        return _logged(self.env, INVALID_LINE)


class LdsUpdates(_Updates, unittest.TestCase):
    """The listener, filter and policy included, over LDS."""

    def setUp(self) -> None:
        self.lds = DynamicListeners(_workdir("lds"), [_filter(scenario.policy(OLD))], UPSTREAM.port)
        self.env = Envoy(self.lds.bootstrap, name="lds", workdir=str(self.lds.dir.parent)).start()
        self.assert_old_policy_decides()

    def tearDown(self) -> None:
        self.env.stop()

    def port(self) -> int:
        return self.lds.port

    def push(self, policy) -> dict[str, int]:
        before = self.lds.lds_stats(self.env)
        self.lds.push([_filter(policy)])
        after = self.lds.wait_for_lds(self.env, before)
        return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}

    def test_rejected_update_keeps_the_old_policy_in_force(self) -> None:
        vms = self.env.stats("wasm.envoy.wasm.runtime.v8")
        delta = self.push("{not json")
        # Measured on Envoy 1.40.0: the whole listener update is refused
        # ("lds: listener 'ingress' config rejected: Unable to create Wasm
        # plugin jwtgate"); the old listener, filter and policy stay. Envoy
        # made one new VM for the update and dropped it when on_configure failed.
        self.assertEqual(delta["listener_manager.lds.update_rejected"], 1, delta)
        after = self.env.stats("wasm.envoy.wasm.runtime.v8")
        created, active = "wasm.envoy.wasm.runtime.v8.created", "wasm.envoy.wasm.runtime.v8.active"
        self.assertEqual((after[created] - vms[created], after[active]), (1, vms[active]))
        self.assertEqual(delta.get("listener_manager.lds.update_success", 0), 0, delta)
        self.assertEqual(delta.get("listener_manager.lds.version", 0), 0, "the version in force changed")
        self.assert_old_policy_decides()
        [line] = self.invalid_lines()
        self.assertIn("[error][wasm]", line)
        self.assertIn("not applied", line)
        self.assertIn("lds: listener 'ingress' config rejected: Unable to create Wasm plugin jwtgate", self.env.log())
        # Counted by the refused VM, visible through the old VMs' counter.
        self.assertGreaterEqual(self.env.stats("jwtgate.config").get(REJECTED, 0), 1)

    def test_late_refusal_is_not_applied_in_part(self) -> None:
        delta = self.push(_late_failure(NEW))
        self.assertEqual(delta["listener_manager.lds.update_rejected"], 1, delta)
        self.assert_old_policy_decides()  # neither the new keys ...
        self.assertEqual(self.get(None).status, 401, "the new bypass of /orders was applied")  # ... nor the new rules
        [line] = self.invalid_lines()
        self.assertIn('providers.extra.jwks: the key set has no usable key: key 0 (kid "weird")', line)
        self.assertGreaterEqual(self.env.stats("jwtgate.config").get(REJECTED, 0), 1)

    def test_accepted_update_takes_over_for_new_connections_only(self) -> None:
        kept = http.client.HTTPConnection(LOCALHOST, self.port(), timeout=10)

        def on_kept(keys: Keys) -> int:
            kept.request("GET", "/orders", headers={"host": "api.example.com", **_bearer(keys)})
            r = kept.getresponse()
            r.read()
            return r.status

        try:
            self.assertEqual(on_kept(OLD), 200)
            accepted = self.env.stats("jwtgate.config").get(ACCEPTED, 0)
            delta = self.push(scenario.policy(NEW))
            self.assertEqual(delta["listener_manager.lds.update_success"], 1, delta)
            self.assertEqual(delta["listener_manager.listener_in_place_updated"], 1, delta)
            self.assert_new_policy_decides()
            # One per VM that configured it: main thread + worker + ... (3 with --concurrency 1).
            self.assertEqual(self.env.stats("jwtgate.config").get(ACCEPTED, 0) - accepted, 3)
            # Measured: a connection opened before the update stays on the old
            # filter chain (old policy, old keys) while Envoy drains it
            # (--drain-time-s, 600 s by default): a key you remove keeps
            # working there until the client reconnects.
            time.sleep(1)
            self.assertEqual(on_kept(OLD), 200)
            self.assertEqual(on_kept(NEW), 401)
        finally:
            kept.close()


class LdsFirstApply(unittest.TestCase):
    def test_first_listener_with_a_bad_policy_is_not_served(self) -> None:
        lds = DynamicListeners(_workdir("lds-first"), [_filter("{not json")], UPSTREAM.port)
        env = Envoy(lds.bootstrap, name="lds-first", workdir=str(lds.dir.parent))
        with env:
            # Measured: Envoy starts (admin /ready 200), the listener is refused,
            # nothing listens on its port, so requests are refused, not served.
            stats = env.stats("listener_manager")
            self.assertEqual(stats.get("listener_manager.lds.update_rejected"), 1, stats)
            self.assertEqual(stats.get("listener_manager.total_listeners_active", 0), 0, stats)
            with self.assertRaises(ConnectionRefusedError):
                request(lds.port, "/orders", _bearer(OLD))
            # No VM of the plugin survives to hold the counter: Envoy's own
            # listener_manager.lds.update_rejected is the signal here.
            self.assertNotIn(REJECTED, env.stats("jwtgate.config"))
            self.assertTrue(_logged(env, INVALID_LINE), env.log())


class EcdsUpdates(_Updates, unittest.TestCase):
    """The filter's configuration alone over ECDS, as Istio sends a WasmPlugin."""

    def setUp(self) -> None:
        self.ecds = DynamicFilter(_workdir("ecds"), _filter(scenario.policy(OLD)))
        self.env = Envoy(self.ecds.bootstrap(UPSTREAM.port), name="ecds", workdir=str(self.ecds.dir.parent)).start()
        self.assert_old_policy_decides()

    def tearDown(self) -> None:
        self.env.stop()

    def port(self) -> int:
        return self.env.port

    def push(self, policy) -> dict[str, int]:
        before = self.ecds.stats(self.env)
        self.ecds.push(_filter(policy))
        after = self.ecds.wait_for_update(self.env, before)
        return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}

    def test_rejected_update_keeps_the_old_policy_in_force(self) -> None:
        delta = self.push("{not json")
        # Measured on Envoy 1.40.0: extension_config_discovery.http_filter.
        # jwtgate.update_rejected and .config_fail count it; the last good
        # filter config stays.
        self.assertEqual(delta["update_rejected"], 1, delta)
        self.assertEqual(delta["config_fail"], 1, delta)
        self.assertEqual(delta.get("update_success", 0), 0, delta)
        self.assert_old_policy_decides()
        [line] = self.invalid_lines()
        self.assertIn("not applied", line)
        self.assertGreaterEqual(self.env.stats("jwtgate.config").get(REJECTED, 0), 1)

    def test_late_refusal_is_not_applied_in_part(self) -> None:
        delta = self.push(_late_failure(NEW))
        self.assertEqual(delta["update_rejected"], 1, delta)
        self.assert_old_policy_decides()
        self.assertEqual(self.get(None).status, 401, "the new bypass of /orders was applied")

    def test_accepted_update_takes_over_also_on_open_connections(self) -> None:
        kept = http.client.HTTPConnection(LOCALHOST, self.port(), timeout=10)

        def on_kept(keys: Keys) -> int:
            kept.request("GET", "/orders", headers={"host": "api.example.com", **_bearer(keys)})
            r = kept.getresponse()
            r.read()
            return r.status

        try:
            self.assertEqual(on_kept(OLD), 200)
            delta = self.push(scenario.policy(NEW))
            self.assertEqual(delta["update_success"], 1, delta)
            self.assert_new_policy_decides()
            # Measured: unlike an LDS update, the next request on a connection
            # opened before the update already gets the new filter config.
            self.assertEqual((on_kept(OLD), on_kept(NEW)), (401, 200))
        finally:
            kept.close()


class EcdsFirstApply(unittest.TestCase):
    def test_first_filter_config_with_a_bad_policy_answers_500(self) -> None:
        ecds = DynamicFilter(_workdir("ecds-first"), _filter("{not json"))
        with Envoy(ecds.bootstrap(UPSTREAM.port), name="ecds-first", workdir=str(ecds.dir.parent)) as env:
            stats = ecds.stats(env)
            self.assertEqual(stats.get("update_rejected"), 1, stats)
            # Measured: the listener serves, the filter has no config, and
            # Envoy answers 500 itself: nothing reaches the upstream.
            for headers in (_bearer(OLD), {}):
                r = env.get("/orders", headers)
                self.assertEqual(r.status, 500, r.body[:200])
                self.assertIsNone(r.upstream)
            # A good config later takes over.
            before = ecds.stats(env)
            ecds.push(_filter(scenario.policy(OLD)))
            ecds.wait_for_update(env, before)
            self.assertEqual(env.get("/orders", _bearer(OLD)).status, 200)
