# The worker of js/worker/config.capnp behind the test shim clock.js (first
# module, so the main one). The module list after it is config.capnp's
# (test/worker.test.mjs checks that they stay the same).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "jwtgate", worker = .gateway),
    (name = "origin", external = (address = "127.0.0.1:8080", http = ())),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "jwtgate")],
);

const gateway :Workerd.Worker = (
  modules = [
    (name = "test/worker/clock.js", esModule = embed "clock.js"),
    (name = "worker/worker.js", esModule = embed "../../worker/worker.js"),
    (name = "src/browser.js", esModule = embed "../../src/browser.js"),
    (name = "src/api.js", esModule = embed "../../src/api.js"),
    (name = "src/keys.js", esModule = embed "../../src/keys.js"),
    (name = "src/edge-keys.js", esModule = embed "../../src/edge-keys.js"),
    (name = "src/errors.js", esModule = embed "../../src/errors.js"),
    (name = "src/webcrypto.js", esModule = embed "../../src/webcrypto.js"),
    (name = "src/guard.js", esModule = embed "../../src/guard.js"),
    (name = "src/middleware.js", esModule = embed "../../src/middleware.js"),
    (name = "pkg/jwtgate.js", esModule = embed "../../pkg/jwtgate.js"),
    (name = "pkg/jwtgate_bg.wasm", wasm = embed "../../pkg/jwtgate_bg.wasm"),
  ],
  bindings = [
    (name = "JWTGATE_POLICY", fromEnvironment = "JWTGATE_POLICY"),
    (name = "TEST_NOW", fromEnvironment = "TEST_NOW"),
    # "true" when the origin routes paths without case (rules then match without case too).
    (name = "JWTGATE_CASE_INSENSITIVE", fromEnvironment = "JWTGATE_CASE_INSENSITIVE"),
    (name = "origin", service = "origin"),
  ],
  compatibilityDate = "2026-11-01",
);
