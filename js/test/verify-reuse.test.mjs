// With the policy's cache on, `verify` reuses the core's verdicts in JavaScript
// (js/src/api.js, #reuse): only for the same token and path, only inside the
// window the core gives (exp plus clock skew, max_age, the freshness of fetched
// keys), and never across a key change. Expectations are written from the claims and the policy (RFC 7519
// §4.1.4: a token is expired at exp + skew), not from our own output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createVerifier } from 'jwtgate';
import { keysByCaller } from '../src/api.js';
import { NOW, claims, flipSignatureBit, keyFor, policyFor, sign, errorCode } from './helpers.mjs';

const CACHE = { cache: { enabled: true, max_entries: 16, max_bytes: 1 << 20 } };

for (const alg of ['HS256', 'EdDSA', 'ES256']) {
  test(`${alg}: an expired cached token fails, at exp + skew exactly`, async () => {
    const key = await keyFor(alg);
    const verifier = createVerifier(policyFor([key], { clock_skew_seconds: 30 }, CACHE));
    const token = await sign(key, claims({ iat: NOW - 60, exp: NOW + 100 }));
    for (let i = 0; i < 3; i++) assert.equal(verifier.verify(token, { now: NOW }).claims.exp, NOW + 100);
    assert.equal(errorCode(() => verifier.verify(token, { now: NOW + 129 })), 'ok', 'inside the skew');
    assert.equal(errorCode(() => verifier.verify(token, { now: NOW + 130 })), 'expired', 'exp + skew');
    assert.equal(errorCode(() => verifier.verify(token, { now: NOW + 5000 })), 'expired');
    // The same token is still valid earlier: the core decides again.
    assert.equal(errorCode(() => verifier.verify(token, { now: NOW })), 'ok');
    assert.equal(errorCode(() => verifier.verify(flipSignatureBit(token), { now: NOW })), 'bad_signature');
  });
}

test('max_age bounds the reuse as it bounds the token', async () => {
  const key = await keyFor('HS256');
  const verifier = createVerifier(policyFor([key], { max_age_seconds: 300, clock_skew_seconds: 0 }, CACHE));
  const token = await sign(key, claims({ iat: NOW, exp: NOW + 3600 }));
  assert.equal(errorCode(() => verifier.verify(token, { now: NOW + 1 })), 'ok');
  assert.notEqual(errorCode(() => verifier.verify(token, { now: NOW + 301 })), 'ok', 'older than max_age');
});

test('a verdict for one path is not reused for a path with other claim rules', async () => {
  const key = await keyFor('ES256');
  const policy = policyFor([key], {}, {
    ...CACHE,
    rules: [
      { prefix: '/', requires: 'main' },
      { prefix: '/admin', requires: 'main', claim_rules: [{ claim: 'scope', contains: 'admin' }] },
    ],
  });
  const verifier = createVerifier(policy);
  const token = await sign(key, claims({ scope: 'read' }));
  assert.equal(errorCode(() => verifier.verify(token, { now: NOW, path: '/orders' })), 'ok');
  assert.equal(errorCode(() => verifier.verify(token, { now: NOW, path: '/orders' })), 'ok');
  assert.notEqual(errorCode(() => verifier.verify(token, { now: NOW, path: '/admin/users' })), 'ok');
  assert.equal(errorCode(() => verifier.verify(token, { now: NOW, path: '/orders' })), 'ok');
});

test('a reused verdict is frozen: a caller cannot change what the next caller gets', async () => {
  const key = await keyFor('HS256');
  const verifier = createVerifier(policyFor([key], {}, CACHE));
  const token = await sign(key, claims({ roles: ['read'], nested: { a: 1 } }));
  const first = verifier.verify(token, { now: NOW });
  assert.throws(() => first.claims.roles.push('admin'), TypeError);
  assert.throws(() => { first.claims.nested.a = 2; }, TypeError);
  assert.throws(() => { first.provider = 'other'; }, TypeError);
  assert.deepEqual(verifier.verify(token, { now: NOW }).claims.roles, ['read']);
  // With the cache off, every call gets its own (mutable) result.
  const off = createVerifier(policyFor([key], {}, { cache: { enabled: false } }));
  const mine = off.verify(token, { now: NOW });
  mine.claims.roles.push('x');
  assert.deepEqual(off.verify(token, { now: NOW }).claims.roles, ['read']);
});

test('the claims are the token\'s own JSON: escapes, non-ASCII text, big and fractional numbers', async () => {
  const key = await keyFor('HS256');
  const payload = claims({ name: 'Zoë \u{1F600} "q" \\ \u2028', big: 12345678901234567890, frac: 0.1, neg: -0, arr: [null, true, { '': 'e' }] });
  const token = await sign(key, payload);
  for (const cache of [CACHE, { cache: { enabled: false } }]) {
    const result = createVerifier(policyFor([key], {}, cache)).verify(token, { now: NOW });
    assert.deepEqual(result.claims, JSON.parse(JSON.stringify(payload)));
    assert.deepEqual(result.header, { alg: 'HS256', kid: key.kid, typ: 'JWT' });
  }
});

test('remote keys: a verdict is not reused after the keys changed (rotation)', async (t) => {
  const [a, b] = [await keyFor('ES256', 'a'), await keyFor('ES256', 'b')];
  let served = { keys: [a.jwk] };
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
    res.end(JSON.stringify(served));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  let clock = NOW;
  const policy = policyFor([a], { jwks: undefined, remote_jwks: { uri: `http://127.0.0.1:${server.address().port}/jwks`, allow_http: true } }, CACHE);
  delete policy.providers.main.jwks;
  let verifier;
  try {
    verifier = createVerifier(policy, { clock: () => clock });
  } catch (e) {
    t.skip(`this policy shape is refused here: ${e.message}`);
    return;
  }
  await verifier.refreshKeys();
  const token = await sign(a);
  assert.equal((await verifier.verifyAsync(token, { now: clock })).provider, 'main');
  assert.equal(errorCode(() => verifier.verify(token, { now: clock })), 'ok');
  // The IdP drops key a; once the keys are fetched again, a's tokens fail.
  served = { keys: [b.jwk] };
  clock += 3600;
  await verifier.refreshKeys();
  const later = await sign(a, claims({ exp: clock + 3600 }));
  assert.notEqual(errorCode(() => verifier.verify(later, { now: clock })), 'ok');
  assert.notEqual(errorCode(() => verifier.verify(token, { now: NOW + 10 })), 'ok', 'the earlier verdict is not reused');
});

test('remote keys at the edge: a verdict is not reused once a snapshot another isolate stored changed the keys', async () => {
  // The edge worker's key sharing (js/src/edge-keys.js) takes other isolates'
  // fetches as snapshots (the core's Snapshot: fetched_at, next_at, the JWK set as fetched).
  const [a, b] = [await keyFor('ES256', 'a'), await keyFor('ES256', 'b')];
  const policy = policyFor([a], { remote_jwks: { uri: 'https://idp.example.com/jwks' } }, CACHE);
  delete policy.providers.main.jwks;
  const verifier = createVerifier(policy, {
    clock: () => NOW,
    fetch: () => Promise.reject(new Error('no fetch here: the keys come from snapshots')),
  });
  const keys = keysByCaller(verifier);
  const snapshot = (fetchedAt, ...set) =>
    JSON.stringify({ fetched_at: fetchedAt, next_at: NOW + 600, jwks: JSON.stringify({ keys: set.map((k) => k.jwk) }) });
  assert.equal(keys.adopt('main', snapshot(NOW - 20, a)).event, 'keys_changed');
  const token = await sign(a);
  for (let i = 0; i < 3; i++) assert.equal(errorCode(() => verifier.verify(token, { now: NOW })), 'ok');
  const generation = keys.generation();
  assert.equal(keys.adopt('main', snapshot(NOW - 20, a)).event, 'ignored', 'the same snapshot again');
  assert.equal(keys.generation(), generation, 'an ignored snapshot changes nothing');
  // The IdP dropped key a; another isolate fetched that, and this one takes it.
  assert.equal(keys.adopt('main', snapshot(NOW - 10, b)).event, 'keys_changed');
  assert.equal(errorCode(() => verifier.verify(token, { now: NOW })), 'unknown_kid', 'the verdict reached with key a is not reused');
});

test('verify keeps its verdicts in JavaScript only: the module\'s cache is left to authorize', async () => {
  const { JsVerifier } = await import('../pkg/jwtgate.js');
  const key = await keyFor('HS256');
  const inner = new JsVerifier(JSON.stringify(policyFor([key], {}, { ...CACHE, rules: [{ prefix: '/', requires: 'main' }] })));
  const token = await sign(key);
  for (let i = 0; i < 3; i++) assert.equal(JSON.parse(inner.verify(token, NOW, '/orders'))[0], 'main');
  assert.ok(inner.reuseUntil > NOW, 'the package may reuse the verdict');
  assert.equal(inner.cacheLength, 0, 'verify filled no cache in the module');
  const decision = JSON.parse(inner.authorize('GET', '/orders', ['authorization', `Bearer ${token}`], false, NOW));
  assert.equal(decision.allow, true);
  assert.equal(inner.cacheLength, 1, 'authorize fills the module\'s cache');
});

test('verify\'s reused verdicts stay within cache.max_entries and cache.max_bytes', async () => {
  const key = await keyFor('HS256');
  const tokens = await Promise.all([1, 2, 3].map((n) => sign(key, claims({ jti: `t${n}` }))));
  // A reused verdict is the same frozen object; a verdict decided again is a new one.
  const kept = (verifier, token, first) => verifier.verify(token, { now: NOW }) === first;
  const byCount = createVerifier(policyFor([key], {}, { cache: { enabled: true, max_entries: 2 } }));
  const first = byCount.verify(tokens[0], { now: NOW });
  assert.ok(kept(byCount, tokens[0], first));
  byCount.verify(tokens[1], { now: NOW });
  assert.ok(kept(byCount, tokens[0], first), 'two entries fit');
  byCount.verify(tokens[2], { now: NOW });
  assert.ok(!kept(byCount, tokens[0], first), 'the oldest is evicted for a third');
  // Room for one token's entry (the token twice, plus 128), not two.
  const one = 2 * tokens[0].length + 128;
  const byBytes = createVerifier(policyFor([key], {}, { cache: { enabled: true, max_bytes: one + 10 } }));
  const again = byBytes.verify(tokens[0], { now: NOW });
  assert.ok(kept(byBytes, tokens[0], again));
  byBytes.verify(tokens[1], { now: NOW });
  assert.ok(!kept(byBytes, tokens[0], again), 'the second entry evicts the first');
});
