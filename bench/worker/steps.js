// bench/worker_bench.mjs: where an isolate's startup goes. The same modules
// as js/worker/config.capnp; the first request stops after step STEP:
//   load   the module evaluated: the glue, and the wasm instantiated (initSync)
//   guard  + createGuard: the policy parsed, its keys loaded
//   full   + the first decision as shipped: WebCrypto offered to the core (its self-test)
// (The default module has no pure-Rust RSA/ECDSA, so no "rust" step: it
// refuses signature_verifier "rust" at load; js/README.md, "Two modules".)
import wasm from '../../js/pkg/jwtgate_bg.wasm';
import { createGuard, initSync } from '../../js/src/browser.js';

initSync(wasm);
let guard;

export default {
  async fetch(request, env) {
    if (env.STEP === 'load') return new Response('loaded');
    const policy = JSON.parse(env.JWTGATE_POLICY);
    guard ??= createGuard(policy);
    if (env.STEP === 'guard') return new Response('guard built');
    const r = await guard(new Request('http://app.test/orders', { headers: request.headers }));
    return r instanceof Response ? r : new Response('allowed');
  },
};
