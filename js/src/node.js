// Node entry point (the "node" export condition): loads the module synchronously
// at import, so the API is usable at once, with no `await init()`, and offers
// node:crypto to the core for RSA and ECDSA signatures.
//
// The module: `jwtgate_node_bg.wasm`, the default module's sources and features
// built for speed (js/build.sh; Node reads it from disk, browsers and workers
// download `jwtgate_bg.wasm`, built for size), with the same glue. `jwtgate/full`
// (full/src/ is a copy of this folder) has one module for every platform.
import { existsSync, readFileSync } from 'node:fs';
import { initSync as initWasmSync } from '../pkg/jwtgate.js';
import { markReady } from './api.js';
import { nodeCrypto } from './node-crypto.js';

const forNode = new URL('../pkg/jwtgate_node_bg.wasm', import.meta.url);
const module = existsSync(forNode) ? forNode : new URL('../pkg/jwtgate_bg.wasm', import.meta.url);
initWasmSync({ module: readFileSync(module) });
markReady(nodeCrypto);

/** Already loaded in Node; kept so code shared with browsers can always `await init()`. */
export async function init() {}

/** Already loaded in Node; the same no-op as init(). */
export function initSync() {}

export { decode, verifyJws, createVerifier, Verifier, JwtError, errorCodeList } from './api.js';
export { jwtgateMiddleware } from './middleware.js';
export { createGuard } from './guard.js';
