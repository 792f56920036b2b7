// Ed25519 through WebCrypto in the real workerd runtime: the shipped worker
// (js/worker/worker.js) behind the shim test/worker-ed25519/shim.js, which
// counts WebCrypto's checks by algorithm and can hide Ed25519 from importKey.
// With Ed25519 (workerd has it), the self-test's RFC 8032 probe and each new
// EdDSA token are checked by WebCrypto; without it, pure Rust checks EdDSA
// while RSA stays with WebCrypto. Either way a forged signature is refused.
// Tokens are minted by jose.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONFIG, send, startOrigin, startWorker } from '../worker/local.mjs';
import { claims, flipSignatureBit, keyFor, policyFor, sign } from './helpers.mjs';

const SHIM_CONFIG = fileURLToPath(new URL('./worker-ed25519/config.capnp', import.meta.url));
const now = () => Math.floor(Date.now() / 1000);
const fresh = (extra = {}) => claims({ iat: now() - 60, exp: now() + 3600, ...extra });
const bearer = (t) => [['Authorization', `Bearer ${t}`]];

const ed = await keyFor('EdDSA');
const rsa = await keyFor('RS256');
const policy = policyFor([ed, rsa], {}, { rules: [{ prefix: '/', requires: 'main' }], signature_verifier: 'host' });

let origin;
before(async () => {
  origin = await startOrigin();
});
after(() => origin?.close());

test('the shim config serves the same modules as js/worker/config.capnp', () => {
  const modules = (file) => readFileSync(file, 'utf8').match(/\(name = "(?!test\/)[^"]+", (esModule|wasm) = embed "[^"]+"\)/g).map((m) => m.replace(/embed "(\.\.\/)+/, 'embed "').replace('embed "worker.js"', 'embed "worker/worker.js"'));
  assert.deepEqual(modules(SHIM_CONFIG), modules(CONFIG));
});

for (const hidden of [false, true]) {
  describe(hidden ? 'workerd with Ed25519 hidden from WebCrypto' : 'workerd with its WebCrypto Ed25519', () => {
    let worker;
    before(async () => {
      worker = await startWorker({ policy, originPort: origin.port, config: SHIM_CONFIG, env: { HIDE_ED25519: String(hidden) } });
    });
    after(() => worker?.stop());
    const checks = async () => (await send(worker.port, { target: '/__test/checks' })).json;

    test(hidden ? 'EdDSA in pure Rust, RSA by WebCrypto, forgeries refused' : 'EdDSA by WebCrypto once per token, forgeries refused', async () => {
      const token = await sign(ed, fresh());
      for (let i = 0; i < 2; i++) {
        const r = await send(worker.port, { target: '/orders', headers: bearer(token) });
        assert.equal(r.status, 200, r.text);
      }
      const first = await checks();
      // The self-test's probes (a good and a bad signature each), then one check
      // for the token (the second request is answered by the cache).
      assert.equal(first['RSASSA-PKCS1-v1_5'], 2, JSON.stringify(first));
      assert.equal(first.ECDSA, 2, JSON.stringify(first));
      assert.equal(first.Ed25519, hidden ? undefined : 3, JSON.stringify(first));

      const forged = await send(worker.port, { target: '/orders', headers: bearer(flipSignatureBit(await sign(ed, fresh({ sub: 'mallory' })))) });
      assert.equal(forged.status, 401);
      assert.equal(forged.json.error, 'bad_signature');
      const rs = await send(worker.port, { target: '/orders', headers: bearer(await sign(rsa, fresh())) });
      assert.equal(rs.status, 200);
      const after = await checks();
      assert.equal(after.Ed25519, hidden ? undefined : 4, JSON.stringify(after));
      assert.equal(after['RSASSA-PKCS1-v1_5'], 3, 'the RS256 token was checked by WebCrypto');
    });
  });
}
