// Remote keys in the edge worker, in the real workerd runtime: the shipped
// worker (js/worker/worker.js, the modules of config.capnp) as two services of
// one workerd (js/worker/remote.capnp: two isolates), fetching with the
// platform fetch from tests/jwks_server.py (a real HTTP server on 127.0.0.1
// that counts requests, rotates keys and goes down on request) and sharing
// through workerd's real Cache API, backed by a store in the protocol workerd
// speaks (local.mjs, startCacheStore). Real clock, policies with short times.
// Tokens are minted by `jose`. Expectations: issue 15 ("a user who outgrows
// one isolate must not hit the IdP once per isolate"), docs/POLICY.md
// ("Remote keys": kid-miss refetch at most once per cooldown, keys kept
// until max_stale_seconds after the last good fetch, then 503
// jwks_unavailable with Retry-After).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';
import { header, send, startCacheStore, startJwksServer, startOrigin, startWorker } from '../worker/local.mjs';

const REMOTE_CONFIG = fileURLToPath(new URL('../worker/remote.capnp', import.meta.url));
const ISS = 'https://idp.example.com';
const now = () => Math.floor(Date.now() / 1000);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let origin;
let jwksServer;
before(async () => {
  origin = await startOrigin();
  jwksServer = await startJwksServer();
});
after(async () => {
  await jwksServer?.close();
  await origin?.close();
});

const keys = new Map();
async function key(kid) {
  if (!keys.has(kid)) {
    const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
    keys.set(kid, { privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } });
  }
  return keys.get(kid);
}
const jwks = async (...kids) => ({ keys: await Promise.all(kids.map(async (k) => (await key(k)).jwk)) });
/** A token naming `kid`, signed by that kid's key (a kid no set has: any key, it is refused before). */
async function token(kid, issuer = ISS) {
  const signer = keys.has(kid) ? kid : 'k1';
  return new jose.SignJWT({ sub: 'alice' })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(issuer)
    .setIssuedAt(now() - 5)
    .setExpirationTime(now() + 3600)
    .sign((await key(signer)).privateKey);
}

function policy(remote = {}, provider = {}) {
  return {
    providers: {
      idp: {
        issuer: ISS,
        remote_jwks: {
          uri: `${jwksServer.base}/jwks`,
          allow_http: true,
          refresh_seconds: 600,
          min_refresh_seconds: 1,
          cooldown_seconds: 1,
          timeout_seconds: 2,
          retry_seconds: 1,
          max_retry_seconds: 1,
          jitter_percent: 0,
          ...remote,
        },
        ...provider,
      },
    },
    rules: [{ prefix: '/', requires: 'idp' }],
  };
}

/** workerd with remote.capnp: isolates `a` and `b`, one cache store (or none listening, with `cachePort`). */
async function start(p, { cachePort } = {}) {
  const store = cachePort === undefined ? await startCacheStore() : null;
  const worker = await startWorker({
    policy: p,
    originPort: origin.port,
    config: REMOTE_CONFIG,
    sockets: ['http', 'second'],
    externals: { idp: jwksServer.port, cache: cachePort ?? store.port },
  });
  const get = (isolate, t) =>
    send(isolate === 'a' ? worker.ports.http : worker.ports.second, {
      target: '/orders',
      headers: t === undefined ? [] : [['Authorization', `Bearer ${t}`]],
    });
  return {
    get,
    store,
    stop: async () => {
      await worker.stop();
      await store?.close();
    },
    log: worker.log,
  };
}

/** Sends until `done(response)` or `ms` pass; resolves to the last response. */
async function until(send_, done, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await send_();
    if (done(r) || Date.now() > deadline) return r;
    await sleep(100);
  }
}

test('the first request waits for the first fetch; a second isolate adopts it from the Cache API: one JWKS fetch', async () => {
  await jwksServer.control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const w = await start(policy());
  try {
    const t = await token('k1');
    const first = await w.get('a', t);
    assert.equal(first.status, 200, first.text);
    assert.equal(first.json.url, '/orders');
    assert.equal(await jwksServer.count(), 1);
    for (const isolate of ['b', 'a', 'b']) assert.equal((await w.get(isolate, t)).status, 200);
    assert.equal(await jwksServer.count(), 1, 'isolate b took the keys from the cache, not from the IdP');
    assert.ok(w.store.ops.PUT >= 1 && w.store.ops.GET >= 1, JSON.stringify(w.store.ops));
  } finally {
    await w.stop();
  }
});

test('a cold start under load: concurrent first requests wait for one fetch, and the other isolate, arriving while it is in flight, waits for its snapshot (the Cache API lease)', async () => {
  await jwksServer.control({ mode: 'slow', delay: 0.5, jwks: await jwks('k1'), reset_counts: true });
  const w = await start(policy());
  try {
    const t = await token('k1');
    const onA = ['a', 'a', 'a'].map((i) => w.get(i, t));
    // b arrives once a's lease is in the cache (its first PUT) and a's fetch is
    // in flight (the IdP answers after 0.5 s): on a loaded machine a fixed sleep
    // could let b decide before a's lease is written, and both would fetch.
    for (const deadline = Date.now() + 2000; w.store.ops.PUT === 0 && Date.now() < deadline; ) await sleep(10);
    assert.ok(w.store.ops.PUT >= 1, "a's lease reached the cache");
    const onB = ['b', 'b'].map((i) => w.get(i, t));
    const answers = await Promise.all([...onA, ...onB]);
    assert.deepEqual(answers.map((r) => r.status), [200, 200, 200, 200, 200], answers.map((r) => r.text).join('\n'));
    assert.equal(await jwksServer.count(), 1, 'one fetch for five first requests in two isolates');
  } finally {
    await w.stop();
  }
});

test('rotation: the first request with a new kid waits for its kid-miss refetch and passes, the other isolate adopts it, a removed kid is gone after the refresh', async () => {
  await jwksServer.control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const w = await start(policy({ refresh_seconds: 2, cooldown_seconds: 1 }));
  try {
    const t1 = await token('k1');
    assert.equal((await w.get('a', t1)).status, 200);
    assert.equal((await w.get('b', t1)).status, 200);
    await jwksServer.control({ jwks: await jwks('k1', 'k2') });
    await sleep(1100); // past the cooldown of the first fetch
    const t2 = await token('k2');
    // The first request with the new kid waits for the refetch it starts
    // (the IdP answers after 0.5 s), as jose's createRemoteJWKSet does.
    await jwksServer.control({ mode: 'slow', delay: 0.5 });
    const fetchesBeforeA = await jwksServer.count();
    const started = Date.now();
    const first = await w.get('a', t2);
    assert.equal(first.status, 200, first.text);
    assert.ok(Date.now() - started >= 400, `answered after ${Date.now() - started} ms: not after the refetch`);
    assert.equal(await jwksServer.count(), fetchesBeforeA + 1, 'one refetch');
    await jwksServer.control({ mode: 'ok' });
    // Isolate b: its kid miss finds isolate a's newer snapshot in the cache
    // (a writes it in the background after its fetch: b is asked once it is
    // there), takes it and decides again: b's first request with the new kid
    // passes, with no fetch of its own.
    for (const deadline = Date.now() + 2000; !w.store.snapshotKids().includes('k2') && Date.now() < deadline; ) await sleep(10);
    assert.ok(w.store.snapshotKids().includes('k2'), "a's snapshot with k2 reached the cache");
    const fetchesBefore = await jwksServer.count();
    const onB = await w.get('b', t2);
    assert.equal(onB.status, 200, onB.text);
    assert.equal(await jwksServer.count(), fetchesBefore, 'b adopted the new keys instead of fetching');
    // k1 leaves the set: refused once the next refresh (2 s) has landed.
    await jwksServer.control({ jwks: await jwks('k2') });
    const gone = await until(() => w.get('a', t1), (r) => r.status === 401, 5000);
    assert.equal(gone.status, 401, gone.text);
    assert.equal(gone.json.error, 'unknown_kid');
    assert.equal((await w.get('a', t2)).status, 200);
  } finally {
    await w.stop();
  }
});

test('the IdP down: the keys keep working, then 503 jwks_unavailable after max_stale_seconds, counted from the fetch (also for an isolate that adopted them later)', async () => {
  await jwksServer.control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const w = await start(policy({ refresh_seconds: 1, max_stale_seconds: 3 }));
  try {
    const t = await token('k1');
    assert.equal((await w.get('a', t)).status, 200);
    const fetchedAt = Date.now();
    await jwksServer.control({ mode: 'down' });
    await sleep(1500);
    // Isolate b starts now, with the IdP down: it adopts a's snapshot, 1.5 s old.
    const late = await w.get('b', t);
    assert.equal(late.status, 200, late.text);
    assert.equal((await w.get('a', t)).status, 200, 'cached keys still in use while the IdP is down');
    // At fetchedAt + 3 s (+ 1 s of whole-second clocks) both refuse.
    await sleep(Math.max(0, fetchedAt + 4100 - Date.now()));
    for (const isolate of ['a', 'b']) {
      const r = await w.get(isolate, t);
      assert.equal(r.status, 503, `${isolate}: ${r.text}`);
      assert.equal(r.json.error, 'jwks_unavailable');
      assert.match(header(r, 'retry-after') ?? '', /^\d+$/);
    }
    assert.ok((await jwksServer.count()) >= 2, 'refreshes were attempted');
    // The IdP back: keys again after the next retry.
    await jwksServer.control({ mode: 'ok' });
    const back = await until(() => w.get('a', t), (r) => r.status === 200, 4000);
    assert.equal(back.status, 200, back.text);
  } finally {
    await w.stop();
  }
});

test('a flood of random kids costs at most one fetch per cooldown, across both isolates', async () => {
  await jwksServer.control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const cooldown = 2;
  const w = await start(policy({ cooldown_seconds: cooldown }));
  try {
    assert.equal((await w.get('a', await token('k1'))).status, 200);
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < 3000) {
      const r = await w.get(sent % 2 ? 'b' : 'a', await token(`random-${sent}-${Math.random()}`));
      assert.equal(r.status, 401, r.text);
      assert.equal(r.json.error, 'unknown_kid');
      sent++;
    }
    await sleep(300); // let the last background refetch land
    const elapsed = (Date.now() - started) / 1000;
    const fetches = (await jwksServer.count()) - 1;
    // One per cooldown overall (the first fetch starts the first cooldown),
    // plus one for a race between the two isolates.
    const bound = Math.ceil(elapsed / cooldown) + 1;
    assert.ok(sent > 20, `${sent} requests`);
    assert.ok(fetches <= bound, `${fetches} kid-miss fetches for ${sent} requests in ${elapsed} s (bound ${bound})`);
  } finally {
    await w.stop();
  }
});

test('discovery: the discovery document and the JWKS are fetched once for both isolates', async () => {
  await jwksServer.control({ mode: 'ok', jwks: await jwks('k1'), issuer: '', reset_counts: true });
  const issuer = jwksServer.base;
  const p = policy({}, { issuer, discovery: true });
  delete p.providers.idp.remote_jwks.uri;
  const w = await start(p);
  try {
    const t = await token('k1', issuer);
    assert.equal((await w.get('a', t)).status, 200);
    assert.equal((await w.get('b', t)).status, 200);
    assert.equal(await jwksServer.count('/.well-known/openid-configuration'), 1);
    assert.equal(await jwksServer.count('/jwks'), 1);
  } finally {
    await w.stop();
  }
});

test('no reachable cache: each isolate keeps its keys in memory, and requests still pass', async () => {
  await jwksServer.control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const w = await start(policy(), { cachePort: 9 }); // nothing listens on the discard port
  try {
    const t = await token('k1');
    for (const isolate of ['a', 'b', 'a', 'b']) assert.equal((await w.get(isolate, t)).status, 200);
    assert.equal(await jwksServer.count(), 2, 'one fetch per isolate, none per request');
  } finally {
    await w.stop();
  }
});

test('the IdP down from the start: the first request waits at most the fetch timeout, then 503 jwks_unavailable', async () => {
  await jwksServer.control({ mode: 'down', jwks: await jwks('k1'), reset_counts: true });
  const w = await start(policy({ timeout_seconds: 1 }));
  try {
    const started = Date.now();
    const r = await w.get('a', await token('k1'));
    assert.equal(r.status, 503, r.text);
    assert.equal(r.json.error, 'jwks_unavailable');
    assert.match(header(r, 'retry-after') ?? '', /^\d+$/);
    assert.ok(Date.now() - started < 2500, `${Date.now() - started} ms`);
  } finally {
    await w.stop();
  }
});

test('after an outage, the first request on an isolate takes the keys another isolate fetched, rather than 503 until its own next fetch', async () => {
  await jwksServer.control({ mode: 'down', jwks: await jwks('k1'), reset_counts: true });
  const w = await start(policy({ timeout_seconds: 1, cooldown_seconds: 30 }));
  try {
    const t = await token('k1');
    for (const isolate of ['a', 'b']) {
      const r = await w.get(isolate, t);
      assert.equal(r.status, 503, `${isolate}: ${r.text}`);
    }
    await jwksServer.control({ mode: 'ok' });
    const a = await until(() => w.get('a', t), (r) => r.status === 200, 6000);
    assert.equal(a.status, 200, a.text);
    // a stores its snapshot after its fetch (in the background): b is asked once it is in the cache.
    const stored = () => [...w.store.entries.keys()].some((k) => k.endsWith('/snapshot'));
    for (const deadline = Date.now() + 2000; !stored() && Date.now() < deadline; ) await sleep(10);
    assert.ok(stored(), "a's snapshot reached the cache");
    const b = await w.get('b', t);
    assert.equal(b.status, 200, b.text);
  } finally {
    await w.stop();
  }
});

test("a first fetch that fails in one isolate ends the other's wait through the lease, without a second fetch", async () => {
  // The IdP answers 500 after 1 s; a request may wait up to the 5 s timeout.
  await jwksServer.control({ mode: 'slow_500', delay: 1, jwks: await jwks('k1'), reset_counts: true });
  const w = await start(policy({ timeout_seconds: 5, retry_seconds: 30, max_retry_seconds: 30 }));
  try {
    const t = await token('k1');
    const onA = w.get('a', t);
    // b arrives once a's lease is in the cache, its fetch in flight.
    for (const deadline = Date.now() + 2000; w.store.ops.PUT === 0 && Date.now() < deadline; ) await sleep(10);
    assert.ok(w.store.ops.PUT >= 1, "a's lease reached the cache");
    const startedB = Date.now();
    const b = await w.get('b', t);
    const elapsedB = Date.now() - startedB;
    const a = await onA;
    for (const r of [a, b]) {
      assert.equal(r.status, 503, r.text);
      assert.equal(r.json.error, 'jwks_unavailable');
    }
    // b learns the failure from the lease within about a second of it, not at its own 5 s deadline.
    assert.ok(elapsedB < 3000, `isolate b waited ${elapsedB} ms`);
    assert.equal(await jwksServer.count(), 1, 'only the lease holder fetched');
  } finally {
    await w.stop();
  }
});
