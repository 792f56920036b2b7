// createGuard outside workerd: in Node, with WHATWG Request/Response (as in
// Deno, Bun or a fetch-style Node server), on both signature paths
// (node:crypto, and WebCrypto as in browsers and workers). Tokens by jose;
// expectations from the policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGuard, createVerifier } from 'jwtgate';
import { claims, flipSignatureBit, keyFor, policyFor, sign } from './helpers.mjs';

const now = () => Math.floor(Date.now() / 1000);
const fresh = (extra = {}) => claims({ iat: now() - 60, exp: now() + 3600, ...extra });
const rsa = await keyFor('RS256');
const ec = await keyFor('ES256');
const rules = { rules: [{ prefix: '/login', bypass: true }, { prefix: '/', requires: 'main' }] };
const policy = policyFor([rsa, ec], { claim_to_headers: [{ claim: 'sub', header: 'x-user' }] }, rules);

for (const hostCrypto of ['auto', 'webcrypto']) {
  test(`${hostCrypto}: an allowed request becomes the origin's Request: canonical URL, claim headers, no token, same method and body`, async () => {
    const guard = createGuard(policy, { hostCrypto });
    const token = await sign(hostCrypto === 'auto' ? rsa : ec, fresh());
    const r = await guard(
      new Request('https://api.example/orders?x=1', {
        method: 'POST',
        body: 'payload',
        headers: { authorization: `Bearer ${token}`, 'x-user': 'mallory', 'content-type': 'text/plain' },
      }),
    );
    assert.ok(r instanceof Request);
    assert.equal(r.url, 'https://api.example/orders?x=1');
    assert.equal(r.method, 'POST');
    assert.equal(await r.text(), 'payload');
    assert.equal(r.headers.get('x-user'), 'user-1');
    assert.equal(r.headers.get('authorization'), null);
    assert.equal(r.headers.get('content-type'), 'text/plain');
    assert.equal(r.redirect, 'manual');
    assert.equal(guard.verifier.signatureChecker, hostCrypto === 'auto' ? 'node:crypto' : 'WebCrypto');
  });

  test(`${hostCrypto}: a refusal is a Response with the core's status, headers and body`, async () => {
    const guard = createGuard(policy, { hostCrypto });
    const reference = createVerifier(policy);
    const forged = flipSignatureBit(await sign(rsa, fresh()));
    for (const [url, headers] of [
      ['https://api.example/orders', {}],
      ['https://api.example/orders', { authorization: `Bearer ${forged}` }],
      ['https://api.example/x%2F..%2Forders', {}],
    ]) {
      const r = await guard(new Request(url, { headers }));
      assert.ok(r instanceof Response, url);
      const core = reference.authorize({ method: 'GET', path: url, headers: Object.entries(headers).flat() });
      assert.equal(r.status, core.status, url);
      assert.deepEqual([...r.headers].sort(), core.headers.map(([k, v]) => [k, v]).sort(), url);
      assert.equal(await r.text(), core.body, url);
    }
  });
}

test('forward: true keeps the token; a Verifier can be passed instead of a policy', async () => {
  const verifier = createVerifier(policyFor([rsa], { forward: true }, rules));
  const guard = createGuard(verifier);
  assert.equal(guard.verifier, verifier);
  const token = await sign(rsa, fresh());
  const r = await guard(new Request('http://h/orders', { headers: { authorization: `Bearer ${token}` } }));
  assert.equal(r.headers.get('authorization'), `Bearer ${token}`);
});

test('a bypassed path passes without a token, spoofed claim headers removed', async () => {
  const r = await createGuard(policy)(new Request('http://h/login', { headers: { 'X-User': 'mallory' } }));
  assert.ok(r instanceof Request);
  assert.equal(r.headers.get('x-user'), null);
});

test('the clock can be given per call', async () => {
  const guard = createGuard(policy);
  const token = await sign(rsa, fresh());
  const request = () => new Request('http://h/orders', { headers: { authorization: `Bearer ${token}` } });
  assert.ok((await guard(request())) instanceof Request);
  const later = await guard(request(), { now: now() + 7200 });
  assert.equal(later.status, 401);
  assert.equal((await later.json()).error, 'expired');
});

test('a policy that does not load throws invalid_config', () => {
  assert.throws(() => createGuard({ providers: { idp: { issuer: 'x', jwks: { keys: [] } } } }), { code: 'invalid_config' });
});

// The core's host self-test does not run the pure-Rust reference on its probes
// at run time (src/host.rs, self_test: that cost most of a worker's startup);
// this pins, in both wasm builds, that the reference accepts each probe's good
// signature and refuses its bad one: in jwtgate/full for every probe, in the
// default module (the worker's; no pure-Rust RSA/ECDSA) for Ed25519, while
// its RS256 and ES256 answers are refusals, never a pass. The keys reach the
// test hook as JWKs, exported from the probes' SPKI by node:crypto.
test('the wasm builds: the pure-Rust reference agrees with every self-test probe it can check', async () => {
  await import('jwtgate/full');
  const { createPublicKey } = await import('node:crypto');
  const bytes = (b64) => new Uint8Array(Buffer.from(b64, 'base64url'));
  for (const [name, glue, pureRust] of [
    ['default', '../pkg/jwtgate.js', ['EdDSA']],
    ['full', '../full/pkg/jwtgate.js', ['RS256', 'ES256', 'EdDSA']],
  ]) {
    const { hostProbes, referenceSignatureCheck } = await import(glue);
    const probes = JSON.parse(hostProbes());
    assert.deepEqual(probes.map((p) => p.alg), ['RS256', 'ES256', 'EdDSA'], name);
    for (const p of probes) {
      const jwk = createPublicKey({ key: Buffer.from(p.spki, 'base64url'), format: 'der', type: 'spki' }).export({ format: 'jwk' });
      const verdict = (sig) => JSON.parse(referenceSignatureCheck(p.alg, JSON.stringify(jwk), bytes(p.message), bytes(sig))).valid;
      assert.equal(verdict(p.good), pureRust.includes(p.alg), `${name} ${p.alg} good`);
      assert.equal(verdict(p.bad), false, `${name} ${p.alg} bad`);
    }
  }
});
