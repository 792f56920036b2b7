// A module worker that verifies tokens off the main thread with the web build;
// verifyAsync hands RSA and ECDSA signatures to WebCrypto (crypto.subtle).
// Start it from a page:  new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' })
//
// Messages in:  { id, policy }            build the verifier (once, or again when the policy changes)
//               { id, token, path?, now? } verify a token
// Messages out: { id, ok: true, ... } or { id, ok: false, code, message } (code: a JwtError code)
import { init, createVerifier, JwtError } from '../src/browser.js';

const ready = init(); // the handler is set at once, so no message is missed while loading
let verifier;

self.onmessage = async ({ data }) => {
  const { id } = data;
  try {
    await ready;
    if (data.policy !== undefined) {
      verifier = createVerifier(data.policy);
      self.postMessage({ id, ok: true, signatureChecker: verifier.signatureChecker, warnings: verifier.warnings });
      return;
    }
    if (!verifier) throw new Error('send { policy } before any token');
    const { provider, header, claims } = await verifier.verifyAsync(data.token, { path: data.path, now: data.now });
    self.postMessage({ id, ok: true, provider, header, claims, signatureChecker: verifier.signatureChecker });
  } catch (err) {
    self.postMessage(err instanceof JwtError ? { id, ok: false, code: err.code, message: err.message } : { id, ok: false, code: 'error', message: String(err) });
  }
};
