// Interop: every algorithm, signed by jose, verified by the wasm core.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as small from 'jwtgate';
import * as full from 'jwtgate/full';
import { ALL_ALGS, NOW, claims, flipSignatureBit, keyFor, policyFor, sign } from './helpers.mjs';

// In Node, RSA, ECDSA and Ed25519 signatures are checked by node:crypto unless
// the policy asks for pure Rust (jwtgate/full: the default module has no
// pure-Rust RSA/ECDSA); both must give the same answers. HMAC is always pure
// Rust's (src/js.rs, JsHost::handles).
const { createVerifier, JwtError } = small;

for (const checker of ['auto', 'rust']) {
  const m = checker === 'auto' ? small : full;
  for (const alg of ALL_ALGS) {
    test(`${alg} (signature_verifier ${checker}): a jose token verifies; one flipped signature bit does not`, async () => {
      const key = await keyFor(alg);
      const verifier = m.createVerifier(policyFor([key], {}, { signature_verifier: checker }));
      const native = checker === 'auto' && !alg.startsWith('HS');
      assert.equal(verifier.signatureChecker, checker === 'auto' ? 'node:crypto' : 'pure Rust');
      const payload = claims({ scope: 'read', n: 7 });
      const token = await sign(key, payload);

      const verified = verifier.verify(token, { now: NOW });
      assert.equal(verified.provider, 'main');
      assert.deepEqual(verified.claims, payload);
      assert.equal(verified.header.alg, alg);
      assert.equal(verified.header.kid, key.kid);
      const signature = verifier.explain(token, { now: NOW }).checks.find((c) => c.check === 'signature');
      assert.equal(signature.detail.includes('node:crypto'), native, signature.detail);

      assert.throws(
        () => verifier.verify(flipSignatureBit(token), { now: NOW }),
        (err) => err instanceof m.JwtError && err.code === 'bad_signature',
      );
    });
  }
}

test('`now` may be a Date or Unix seconds, and defaults to the clock', async () => {
  const key = await keyFor('ES256');
  const verifier = createVerifier(policyFor([key]));
  const token = await sign(key, claims({ iat: NOW - 60, exp: NOW + 60 }));
  assert.equal(verifier.verify(token, { now: new Date(NOW * 1000) }).provider, 'main');
  assert.equal(verifier.verify(token, { now: NOW + 0.9 }).provider, 'main');
  // The real clock is years past NOW + 60.
  assert.throws(() => verifier.verify(token), { code: 'expired' });
  assert.throws(() => verifier.verify(token, { now: 'yesterday' }), TypeError);
});

test('the policy may be a JSON string, and its key set a JSON string too', async () => {
  const key = await keyFor('RS256');
  const policy = policyFor([key], { jwks: JSON.stringify({ keys: [key.jwk] }) });
  const verifier = createVerifier(JSON.stringify(policy));
  assert.equal(verifier.verify(await sign(key), { now: NOW }).provider, 'main');
});

test('several providers: the token goes to the one it belongs to', async () => {
  const rs = await keyFor('RS256');
  const ed = await keyFor('EdDSA');
  const policy = {
    providers: {
      a: { issuer: 'https://a.example', audiences: ['api'], jwks: { keys: [rs.jwk] } },
      b: { issuer: 'https://b.example', audiences: ['api'], jwks: { keys: [ed.jwk] } },
    },
  };
  const verifier = createVerifier(policy);
  const fromA = await sign(rs, claims({ iss: 'https://a.example' }));
  const fromB = await sign(ed, claims({ iss: 'https://b.example' }));
  assert.equal(verifier.verify(fromA, { now: NOW }).provider, 'a');
  assert.equal(verifier.verify(fromB, { now: NOW }).provider, 'b');
});

test('with the policy cache on, a cached token is still judged at each call time', async () => {
  const key = await keyFor('ES256');
  const verifier = createVerifier(policyFor([key], {}, { cache: { enabled: true, max_entries: 16, max_bytes: 65536 } }));
  const token = await sign(key, claims({ iat: NOW - 60, exp: NOW + 60 }));
  for (let i = 0; i < 3; i++) assert.equal(verifier.verify(token, { now: NOW }).provider, 'main');
  assert.throws(() => verifier.verify(token, { now: NOW + 3600 }), { code: 'expired' });
  assert.throws(() => verifier.verify(flipSignatureBit(token), { now: NOW }), { code: 'bad_signature' });
});
