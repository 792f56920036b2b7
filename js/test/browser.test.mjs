// The browser/worker entry point (src/browser.js), run in Node: nothing works
// before init(); init() takes the module's bytes (or a URL, Response, Module).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { init, initSync, createVerifier, decode, verifyJws, JwtError } from '../src/browser.js';
import { NOW, keyFor, policyFor, sign } from './helpers.mjs';

const wasm = readFileSync(new URL('../pkg/jwtgate_bg.wasm', import.meta.url));

test('before init(), calls fail with a message that says what to do', () => {
  assert.throws(() => decode('a.b.c'), /call `await init\(\)` first/);
  assert.throws(() => createVerifier({ providers: {} }), /call `await init\(\)` first/);
  assert.throws(() => verifyJws('a.b.c', {}), /call `await init\(\)` first/);
});

test('after init(bytes), the same synchronous API as in Node', async () => {
  const loading = init(wasm);
  assert.equal(init(), loading, 'init() loads once');
  await loading;
  // EdDSA: pure Rust in both modules (RS*/PS*/ES* with no sync host: module-full-browser.test.mjs).
  const key = await keyFor('EdDSA');
  const verifier = createVerifier(policyFor([key]));
  assert.equal(verifier.verify(await sign(key), { now: NOW }).provider, 'main');
  assert.equal(verifyJws(await sign(key), key.jwk).header.kid, key.kid);
  assert.throws(() => decode('nope'), JwtError);
});

test('initSync accepts a compiled WebAssembly.Module', () => {
  initSync(new WebAssembly.Module(wasm));
  assert.equal(decode(`${Buffer.from('{"alg":"HS256"}').toString('base64url')}.e30.AA`).header.alg, 'HS256');
});
