// Node entry point (the "node" export condition): loads the module synchronously
// at import, so the API is usable at once, with no `await init()`, and offers
// node:crypto to the core for RSA and ECDSA signatures.
import { readFileSync } from 'node:fs';
import { initSync as initWasmSync } from '../pkg/jwtgate.js';
import { markReady } from './api.js';
import { nodeCrypto } from './node-crypto.js';

initWasmSync({ module: readFileSync(new URL('../pkg/jwtgate_bg.wasm', import.meta.url)) });
markReady(nodeCrypto);

/** Already loaded in Node; kept so code shared with browsers can always `await init()`. */
export async function init() {}

/** Already loaded in Node; the same no-op as init(). */
export function initSync() {}

export { decode, verifyJws, createVerifier, Verifier, JwtError, errorCodeList } from './api.js';
export { jwtgateMiddleware } from './middleware.js';
export { createGuard } from './guard.js';
