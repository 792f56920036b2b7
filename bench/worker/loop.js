// bench/worker_bench.mjs: the guard run N times inside one request, so that
// workerd's CPU time for the request is mostly the guard's (Workers cannot
// time themselves: their timers are frozen while they run). GET /?n=N with
// the token in Authorization; the answer says how many were allowed.
import wasm from '../../js/pkg/jwtgate_bg.wasm';
import { createGuard, initSync } from '../../js/src/browser.js';

initSync(wasm);
let guard;

export default {
  async fetch(request, env) {
    guard ??= createGuard(env.JWTGATE_POLICY);
    const n = Number(new URL(request.url).searchParams.get('n'));
    const headers = { authorization: request.headers.get('authorization') ?? '' };
    let allowed = 0;
    for (let i = 0; i < n; i++) {
      const r = await guard(new Request('http://app.test/orders', { headers }));
      if (r instanceof Request) allowed++;
    }
    return Response.json({ n, allowed, checker: guard.verifier.signatureChecker });
  },
};
