// Browser, worker and bundler entry point: `await init()` once, then the same
// synchronous API as in Node. init() fetches jwtgate_bg.wasm next to the glue
// (`new URL(..., import.meta.url)`, which Vite, webpack 5, Rollup and esbuild
// resolve as an asset), or takes the module yourself: a URL, Response,
// BufferSource or WebAssembly.Module (e.g. a Cloudflare Workers wasm import).
import initWasm, { initSync as initWasmSync } from '../pkg/jwtgate.js';
import { markReady } from './api.js';

let loading;

/** Loads the module (once; later calls return the same promise). */
export function init(moduleOrPath) {
  loading ??= initWasm(moduleOrPath === undefined ? undefined : { module_or_path: moduleOrPath }).then(
    () => markReady(),
    (err) => {
      loading = undefined; // let a later call retry
      throw err;
    },
  );
  return loading;
}

/** Loads the module synchronously from bytes or a compiled WebAssembly.Module. */
export function initSync(module) {
  initWasmSync({ module });
  markReady();
}

export { decode, verifyJws, createVerifier, Verifier, JwtError, errorCodeList } from './api.js';
export { jwtgateMiddleware } from './middleware.js';
export { createGuard } from './guard.js';
