// Test shim in front of the shipped worker (js/worker/worker.js), in the same
// isolate: it freezes the clock at TEST_NOW (Unix seconds) when set, so the
// attack suite's tokens (minted for a fixed moment) can be judged, and counts
// WebCrypto's signature checks, reported at GET /__test/webcrypto-checks.
// Everything else is the shipped worker, unchanged.
import gateway from '../../worker/worker.js';

let checks = 0;
const verify = crypto.subtle.verify.bind(crypto.subtle);
crypto.subtle.verify = (...args) => {
  checks++;
  return verify(...args);
};

export default {
  fetch(request, env, ctx) {
    if (env.TEST_NOW) {
      const frozen = Number(env.TEST_NOW) * 1000;
      Date.now = () => frozen;
    }
    if (new URL(request.url).pathname === '/__test/webcrypto-checks') {
      return Response.json({ checks });
    }
    return gateway.fetch(request, env, ctx);
  },
};
