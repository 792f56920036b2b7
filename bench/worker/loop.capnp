# bench/worker_bench.mjs: the package's guard in a loop (loop.js), same modules as js/worker/config.capnp.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "loop", worker = (
      modules = [
        (name = "bench/worker/loop.js", esModule = embed "loop.js"),
        (name = "js/src/browser.js", esModule = embed "../../js/src/browser.js"),
        (name = "js/src/api.js", esModule = embed "../../js/src/api.js"),
        (name = "js/src/keys.js", esModule = embed "../../js/src/keys.js"),
        (name = "js/src/edge-keys.js", esModule = embed "../../js/src/edge-keys.js"),
        (name = "js/src/errors.js", esModule = embed "../../js/src/errors.js"),
        (name = "js/src/webcrypto.js", esModule = embed "../../js/src/webcrypto.js"),
        (name = "js/src/guard.js", esModule = embed "../../js/src/guard.js"),
        (name = "js/src/middleware.js", esModule = embed "../../js/src/middleware.js"),
        (name = "js/pkg/jwtgate.js", esModule = embed "../../js/pkg/jwtgate.js"),
        (name = "js/pkg/jwtgate_bg.wasm", wasm = embed "../../js/pkg/jwtgate_bg.wasm"),
      ],
      bindings = [(name = "JWTGATE_POLICY", fromEnvironment = "JWTGATE_POLICY")],
      compatibilityDate = "2026-11-01",
    )),
    (name = "origin", external = (address = "127.0.0.1:8080", http = ())),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "loop")],
);
