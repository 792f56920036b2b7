// The two npm modules in Node, where node:crypto checks every signature (after
// the self-test): the default module (`jwtgate`, no pure-Rust RSA/ECDSA)
// verifies RS*/PS*/ES* synchronously, verifyJws too; only what needs the
// pure-Rust verifiers themselves (`signature_verifier: "rust"`, or a verifier
// built with hostCrypto "webcrypto", which uses no sync host) needs jwtgate/full.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as small from '../src/node.js';
import * as full from '../full/src/node.js';
import { NOW, errorCode, jwtErrorOf, keyFor, policyFor, sign } from './helpers.mjs';

const ASYMMETRIC = ['RS256', 'PS256', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

test('the default module verifies every algorithm synchronously through node:crypto', async () => {
  for (const alg of ASYMMETRIC) {
    const key = await keyFor(alg);
    const token = await sign(key);
    const verifier = small.createVerifier(policyFor([key]));
    assert.equal(verifier.verify(token, { now: NOW }).provider, 'main', alg);
    assert.equal(verifier.explain(token, { now: NOW }).ok, true, alg);
    assert.equal(small.verifyJws(token, key.jwk).header.kid, key.kid, alg);
    const other = await keyFor(alg, key.kid);
    assert.equal(errorCode(() => small.verifyJws(token, other.jwk)), 'bad_signature', alg);
  }
});

test('signature_verifier "rust" needs jwtgate/full; both modules verify the same tokens', async () => {
  const key = await keyFor('PS256');
  const token = await sign(key);
  const policy = policyFor([key], {}, { signature_verifier: 'rust' });
  const thrown = jwtErrorOf(() => small.createVerifier(policy));
  assert.equal(thrown?.code, 'invalid_config');
  assert.match(thrown.message, /^signature_verifier: "rust"/);
  assert.match(thrown.message, /"jwtgate\/full"/);
  assert.equal(full.createVerifier(policy).verify(token, { now: NOW }).provider, 'main');
  const verifier = full.createVerifier(policyFor([key]));
  assert.equal(verifier.verify(token, { now: NOW }).provider, 'main');
});
