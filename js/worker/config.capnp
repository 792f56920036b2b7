# workerd configuration for running the jwtgate worker locally:
#
#   JWTGATE_POLICY="$(cat policy.json)" npx workerd serve js/worker/config.capnp
#
# Listens on 127.0.0.1:8787 and forwards allowed requests to the origin at
# 127.0.0.1:8080; both can be changed without editing this file:
#   --socket-addr http=127.0.0.1:9000 --external-addr origin=127.0.0.1:3000
# `make worker-demo` runs it this way, with an echo origin.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "jwtgate", worker = .gateway),
    (name = "origin", external = (address = "127.0.0.1:8080", http = ())),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "jwtgate")],
);

const gateway :Workerd.Worker = (
  # The package's browser entry point and the wasm glue, as the modules of
  # one worker (no bundler): names are paths, so relative imports resolve.
  modules = [
    (name = "worker/worker.js", esModule = embed "worker.js"),
    (name = "src/browser.js", esModule = embed "../src/browser.js"),
    (name = "src/api.js", esModule = embed "../src/api.js"),
    (name = "src/keys.js", esModule = embed "../src/keys.js"),
    (name = "src/edge-keys.js", esModule = embed "../src/edge-keys.js"),
    (name = "src/errors.js", esModule = embed "../src/errors.js"),
    (name = "src/webcrypto.js", esModule = embed "../src/webcrypto.js"),
    (name = "src/guard.js", esModule = embed "../src/guard.js"),
    (name = "src/middleware.js", esModule = embed "../src/middleware.js"),
    (name = "pkg/jwtgate.js", esModule = embed "../pkg/jwtgate.js"),
    # A compiled module: the runtime refuses WebAssembly.compile() on bytes.
    (name = "pkg/jwtgate_bg.wasm", wasm = embed "../pkg/jwtgate_bg.wasm"),
  ],
  bindings = [
    # The policy JSON, from the environment of the workerd process; for a
    # file instead: (name = "JWTGATE_POLICY", text = embed "policy.json").
    (name = "JWTGATE_POLICY", fromEnvironment = "JWTGATE_POLICY"),
    # "true" when the origin routes paths without case (rules then match without case too).
    (name = "JWTGATE_CASE_INSENSITIVE", fromEnvironment = "JWTGATE_CASE_INSENSITIVE"),
    (name = "origin", service = "origin"),
  ],
  compatibilityDate = "2026-11-01",
);
