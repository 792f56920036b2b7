# bench/worker_bench.mjs: workerd's own startup, to subtract from the jwtgate worker's.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "hello", worker = (
      modules = [(name = "hello.js", esModule = embed "hello.js")],
      compatibilityDate = "2026-11-01",
    )),
    (name = "origin", external = (address = "127.0.0.1:8080", http = ())),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "hello")],
);
