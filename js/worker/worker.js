// jwtgate as a module Worker (Cloudflare Workers, workerd): every request is
// decided by the core's authorize() with the policy in JWTGATE_POLICY (the
// same JSON as the Envoy filter's), then either answered (400/401/403, the
// filter's status, WWW-Authenticate and JSON body) or sent to the origin with
// the canonical path and the claim headers. See README.md beside this file.
import wasm from '../pkg/jwtgate_bg.wasm';
import { createGuard, initSync } from '../src/browser.js';

// A compiled WebAssembly.Module (the runtime refuses to compile bytes): instantiated once per isolate.
initSync(wasm);

/** Built from the policy on the first request (bindings arrive with requests), then kept by the isolate. */
let guard;

export default {
  async fetch(request, env, ctx) {
    guard ??= createGuard(env.JWTGATE_POLICY, { caseInsensitive: env.JWTGATE_CASE_INSENSITIVE === 'true' });
    // ctx: key refreshes run after the answer (ctx.waitUntil).
    const r = await guard(request, ctx);
    if (r instanceof Response) return r;
    // A service binding named `origin` (workerd: an external service), else the zone's origin.
    return env.origin ? env.origin.fetch(r) : fetch(r);
  },
};
