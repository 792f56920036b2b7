# The worker of config.capnp (the same modules: js/test/worker.test.mjs checks
# it) with remote keys from an IdP on 127.0.0.1, as two services, so two
# isolates sharing one Cache API: the isolates of one Cloudflare data center,
# in small. Their global fetch (the key fetches) goes to the external service
# `idp` (workerd's default outbound refuses 127.0.0.1), their caches.default
# to the external service `cache` (a store in workerd's cache protocol: local.mjs,
# startCacheStore). Used by js/test/worker-keys.test.mjs and `make worker-demo`:
#
#   JWTGATE_POLICY="$(cat policy.json)" npx workerd serve js/worker/remote.capnp \
#     --socket-addr http=127.0.0.1:8787 --socket-addr second=127.0.0.1:8788 \
#     --external-addr origin=127.0.0.1:8080 --external-addr idp=127.0.0.1:8081 \
#     --external-addr cache=127.0.0.1:8082
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "a", worker = .gateway),
    (name = "b", worker = .gateway),
    (name = "origin", external = (address = "127.0.0.1:8080", http = ())),
    # Every global fetch (the key fetches) goes here: the JWKS server.
    (name = "idp", external = (address = "127.0.0.1:8081", http = ())),
    (name = "cache", external = (address = "127.0.0.1:8082", http = ())),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:8787", http = (), service = "a"),
    (name = "second", address = "127.0.0.1:8788", http = (), service = "b"),
  ],
);

const gateway :Workerd.Worker = (
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
    (name = "pkg/jwtgate_bg.wasm", wasm = embed "../pkg/jwtgate_bg.wasm"),
  ],
  bindings = [
    (name = "JWTGATE_POLICY", fromEnvironment = "JWTGATE_POLICY"),
    (name = "origin", service = "origin"),
  ],
  globalOutbound = "idp",
  cacheApiOutbound = "cache",
  compatibilityDate = "2026-11-01",
);
