// The two npm modules where no synchronous host crypto exists (browsers,
// workers; here the browser entry points, run in Node): the default module
// (`jwtgate`, no pure-Rust RSA/ECDSA) refuses a synchronous RS*/PS*/ES* check
// with a stable code and a sentence naming verifyAsync and jwtgate/full, never
// a pass, while verifyAsync checks it with WebCrypto; `jwtgate/full` checks it
// synchronously in pure Rust. EdDSA and HMAC are pure Rust in both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as small from '../src/browser.js';
import * as full from '../full/src/browser.js';
import { NOW, errorCode, jwtErrorOf, keyFor, policyFor, sign } from './helpers.mjs';

small.initSync(readFileSync(new URL('../pkg/jwtgate_bg.wasm', import.meta.url)));
full.initSync(readFileSync(new URL('../full/pkg/jwtgate_bg.wasm', import.meta.url)));

const NEEDS_HOST = ['RS256', 'PS384', 'ES256', 'ES512'];

test('the default module refuses a synchronous RS*/PS*/ES* check it cannot make, and names what to use', async () => {
  for (const alg of NEEDS_HOST) {
    const key = await keyFor(alg);
    const token = await sign(key);
    const verifier = small.createVerifier(policyFor([key]));
    const thrown = jwtErrorOf(() => verifier.verify(token, { now: NOW }));
    assert.equal(thrown?.code, 'unsupported_alg', alg);
    assert.match(thrown.message, new RegExp(`no pure-Rust ${alg} verifier`), alg);
    assert.match(thrown.message, /verifyAsync/, alg);
    assert.match(thrown.message, /"jwtgate\/full"/, alg);
    // verifyAsync checks it with WebCrypto, with the same verdicts.
    assert.equal((await verifier.verifyAsync(token, { now: NOW })).provider, 'main', alg);
    const other = await keyFor(alg, key.kid);
    await assert.rejects(verifier.verifyAsync(await sign(other), { now: NOW }), { code: 'bad_signature' });
    assert.equal(errorCode(() => small.verifyJws(token, key.jwk)), 'unsupported_alg', alg);
  }
});

test('jwtgate/full checks RS*/PS*/ES* synchronously in pure Rust', async () => {
  for (const alg of NEEDS_HOST) {
    const key = await keyFor(alg);
    const token = await sign(key);
    assert.equal(full.createVerifier(policyFor([key])).verify(token, { now: NOW }).provider, 'main', alg);
    assert.equal(full.verifyJws(token, key.jwk).header.kid, key.kid, alg);
    const other = await keyFor(alg, key.kid);
    assert.equal(errorCode(() => full.verifyJws(token, other.jwk)), 'bad_signature', alg);
  }
});

test('EdDSA and HMAC verify synchronously in both modules', async () => {
  for (const alg of ['EdDSA', 'HS256']) {
    const key = await keyFor(alg);
    const token = await sign(key);
    for (const m of [small, full]) {
      assert.equal(m.createVerifier(policyFor([key])).verify(token, { now: NOW }).provider, 'main', alg);
    }
  }
});

test('signature_verifier "rust" is refused at load by the default module, naming the field and jwtgate/full', async () => {
  const key = await keyFor('ES256');
  const policy = policyFor([key], {}, { signature_verifier: 'rust' });
  const thrown = jwtErrorOf(() => small.createVerifier(policy));
  assert.equal(thrown?.code, 'invalid_config');
  assert.match(thrown.message, /^signature_verifier: "rust" needs the pure-Rust RSA\/ECDSA verifiers/);
  assert.match(thrown.message, /"jwtgate\/full"/);
  assert.equal(full.createVerifier(policy).verify(await sign(key), { now: NOW }).provider, 'main');
});

test('the default module is the smaller one, with the same glue but for the CLI\'s cliReport', () => {
  const file = (p) => readFileSync(new URL(p, import.meta.url));
  assert.ok(file('../pkg/jwtgate_bg.wasm').length < file('../full/pkg/jwtgate_bg.wasm').length);
  // cliReport (feature js-cli) is only in jwtgate/full, which js/bin/jwtgate.mjs loads:
  // without its one function (and its doc comment), the two glues are the same text.
  const small = file('../pkg/jwtgate.js').toString();
  const full = file('../full/pkg/jwtgate.js').toString();
  const cli = /\/\*\*\n \* Internal, for the npm CLI[^]*?\nexport function cliReport\([^]*?\n}\n\n/g;
  assert.equal(full.match(cli)?.length, 1, 'jwtgate/full exports cliReport once');
  assert.doesNotMatch(small, /cliReport/);
  assert.equal(full.replace(cli, ''), small);
});
