// A module worker that verifies tokens off the main thread with the web build.
// Start it from a page:  new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' })
import { init, createVerifier, JwtError } from '../src/browser.js';

const ready = init(); // handlers are set at once, so no message is missed while loading
let verifier;

self.onmessage = async ({ data }) => {
  await ready;
  try {
    if (data.policy) {
      verifier = createVerifier(data.policy);
      self.postMessage({ ok: true, signatureChecker: verifier.signatureChecker });
      return;
    }
    self.postMessage({ ok: true, verified: verifier.verify(data.token, { path: data.path }) });
  } catch (err) {
    self.postMessage(err instanceof JwtError ? { ok: false, code: err.code, message: err.message } : { ok: false, message: String(err) });
  }
};
