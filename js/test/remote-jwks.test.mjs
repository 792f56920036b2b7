// Remote keys through the npm package: the core's key sources driven by the
// platform `fetch` against the tests' own JWKS/OIDC server (tests/jwks_server.py,
// a real HTTP server on 127.0.0.1), with an injected clock so that refreshes,
// cooldowns and staleness take no real time (the first-fetch and background
// timer tests use the real clock and short intervals: they measure time).
// Tokens and keys come from `jose`. Expectations: issue 14 and docs/POLICY.md
// ("Remote keys").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';
import express4 from 'express4';
import express5 from 'express5';
import { createVerifier, jwtgateMiddleware } from 'jwtgate';

const SERVER = fileURLToPath(new URL('../../tests/jwks_server.py', import.meta.url));
const ISS = 'https://idp.example.com';
const START = 1767225600;

let server;
let base;

before(async () => {
  server = spawn('python3', [SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: server.stdout }).once('line', resolve);
    server.once('error', reject);
  });
  base = `http://127.0.0.1:${JSON.parse(line).port}`;
});

after(() => server.stdin.end());

async function control(body) {
  const r = await fetch(`${base}/_control`, { method: 'POST', body: JSON.stringify(body) });
  assert.equal(r.status, 200, await r.text());
}

async function count(path = '/jwks') {
  return (await (await fetch(`${base}/_stats`)).json()).counts[path] ?? 0;
}

const keys = new Map();
async function key(kid) {
  if (!keys.has(kid)) {
    const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
    keys.set(kid, { privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } });
  }
  return keys.get(kid);
}
async function jwks(...kids) {
  return { keys: await Promise.all(kids.map(async (k) => (await key(k)).jwk)) };
}
/** A token naming `kid`, signed by the key of `signer` (default: that kid's own key). */
async function token(kid, now, issuer = ISS, signer = kid) {
  const k = await key(signer);
  return new jose.SignJWT({ sub: 'alice' })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(issuer)
    .setIssuedAt(now)
    .setExpirationTime(now + 3600)
    .sign(k.privateKey);
}

/** A fake clock, and a verifier whose key sources use it. */
function setup(remote = {}, provider = {}) {
  const clock = { now: START };
  const events = [];
  const policy = {
    providers: {
      idp: {
        issuer: ISS,
        remote_jwks: {
          uri: `${base}/jwks`,
          allow_http: true,
          refresh_seconds: 60,
          cooldown_seconds: 30,
          max_stale_seconds: 600,
          jitter_percent: 0,
          ...remote,
        },
        ...provider,
      },
    },
  };
  // The background timer would run on the fake clock: off (tested below with the real one).
  const verifier = createVerifier(policy, { clock: () => clock.now, onKeyEvent: (e) => events.push(e), backgroundRefresh: false });
  const code = (t) => {
    try {
      verifier.verify(t, { now: clock.now });
      return 'ok';
    } catch (e) {
      return e.code;
    }
  };
  return { clock, events, verifier, code };
}

test('no pass before the first fetch; verifyAsync waits for it', async () => {
  await control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const { verifier, code, clock } = setup();
  const t = await token('k1', clock.now);
  assert.equal(code(t), 'jwks_unavailable');
  const verified = await verifier.verifyAsync(t, { now: clock.now });
  assert.equal(verified.claims.sub, 'alice');
  assert.equal(code(t), 'ok');
  assert.equal(await count(), 1, 'the sync verify started the first fetch; verifyAsync waited for it');
  assert.equal(verifier.keySources[0].state, 'ready');
});

test('rotation: a new kid after one early fetch, a removed kid at the next refresh', async () => {
  await control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const { verifier, code, clock, events } = setup();
  await verifier.refreshKeys();
  const t2 = await token('k2', clock.now);
  await control({ jwks: await jwks('k1', 'k2') });
  clock.now += 31; // past the cooldown of the first fetch
  assert.equal(code(t2), 'unknown_kid');
  await verifier.refreshKeys();
  assert.equal(code(t2), 'ok');
  assert.deepEqual(events.at(-1), { provider: 'idp', event: 'keys_changed', added: ['k2'], removed: [], keys: 2 });
  assert.equal(await count(), 2);
  // k1 leaves the set: valid until the next refresh, then gone.
  await control({ jwks: await jwks('k2') });
  const t1 = await token('k1', clock.now);
  assert.equal(code(t1), 'ok');
  clock.now += 60;
  assert.equal(code(t1), 'ok', 'this call only starts the refresh');
  await verifier.refreshKeys();
  assert.equal(code(t1), 'unknown_kid');
  assert.equal(events.at(-1).event, 'keys_changed');
  assert.deepEqual(events.at(-1).removed, ['k1']);
});

test("verifyAsync and authorizeAsync: the first token with a new kid waits for the refetch it starts and passes, as with jose's createRemoteJWKSet", async () => {
  await control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const clock = { now: START };
  const policy = realPolicy({ refresh_seconds: 600, cooldown_seconds: 30, max_stale_seconds: 6000, timeout_seconds: 2 });
  const verifier = createVerifier(policy, { clock: () => clock.now, backgroundRefresh: false });
  await verifier.refreshKeys();
  // jose's remote set on the same server (its own cooldown off: it runs on the real clock).
  const joseSet = jose.createRemoteJWKSet(new URL(`${base}/jwks`), { cooldownDuration: 0 });
  const at = () => ({ currentDate: new Date(clock.now * 1000) });
  await jose.jwtVerify(await token('k1', clock.now), joseSet, at());
  await control({ jwks: await jwks('k1', 'k2') });
  clock.now += 31; // past the cooldown of the first fetch
  const t2 = await token('k2', clock.now);
  assert.equal((await jose.jwtVerify(t2, joseSet, at())).payload.sub, 'alice', 'jose refetches and passes');
  let fetches = await count();
  assert.equal((await verifier.verifyAsync(t2, { now: clock.now })).claims.sub, 'alice');
  assert.equal(await count(), fetches + 1, 'one refetch, waited for');
  // A kid the IdP does not have, within the cooldown: refused at once, no fetch.
  await assert.rejects(verifier.verifyAsync(await token('k9', clock.now), { now: clock.now }), (e) => e.code === 'unknown_kid');
  assert.equal(await count(), fetches + 1);
  // authorizeAsync, the edge worker's and the middleware's call: the same.
  await control({ jwks: await jwks('k1', 'k2', 'k3') });
  clock.now += 31;
  const request = { method: 'GET', path: '/orders', headers: ['authorization', `Bearer ${await token('k3', clock.now)}`] };
  assert.equal(verifier.authorize(request, { now: clock.now }).code, 'unknown_kid', 'authorize never waits');
  const decision = await verifier.authorizeAsync(request, { now: clock.now });
  assert.equal(decision.allow, true, JSON.stringify(decision));
  assert.equal(await count(), fetches + 2);
  // A refetch that fails: the refusal stands once it has.
  fetches = await count();
  await control({ mode: '500' });
  clock.now += 31;
  await assert.rejects(verifier.verifyAsync(await token('k4', clock.now), { now: clock.now }), (e) => e.code === 'unknown_kid');
  assert.equal(await count(), fetches + 1, 'the refetch was made and waited for');
});

test('failures keep the last good keys, then max_stale ends them with jwks_unavailable', async () => {
  await control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const { verifier, code, clock, events } = setup({ retry_seconds: 5, max_retry_seconds: 5, timeout_seconds: 1 });
  await verifier.refreshKeys();
  const t = await token('k1', clock.now);
  const kinds = [];
  for (const mode of ['500', 'garbage', 'huge', 'redirect', 'down']) {
    await control({ mode, jwks: await jwks('k9') });
    clock.now += 60;
    await verifier.refreshKeys();
    kinds.push(events.at(-1).kind);
    assert.equal(code(t), 'ok', `keys kept after ${mode}`);
  }
  assert.deepEqual(kinds, ['status', 'invalid_jwks', 'too_large', 'redirect', 'network']);
  await control({ mode: 'slow', delay: 1.5 });
  clock.now += 60;
  await verifier.refreshKeys();
  assert.equal(events.at(-1).kind, 'timeout');
  assert.equal(code(t), 'ok');
  // The last good fetch was 360 s ago; 241 s more is past max_stale (600).
  await control({ mode: 'down' });
  clock.now += 241;
  await verifier.refreshKeys();
  assert.equal(code(t), 'jwks_unavailable');
  const stats = verifier.keySources[0].stats;
  assert.equal(stats.failures.timeout, 1);
  assert.ok(stats.failures.network >= 2, JSON.stringify(stats));
  // The IdP comes back: the next retry brings the keys again.
  await control({ mode: 'ok', jwks: await jwks('k1') });
  clock.now += 5;
  await verifier.refreshKeys();
  assert.equal(code(t), 'ok');
});

test('a random-kid flood costs one fetch per cooldown', async () => {
  await control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const { verifier, code, clock } = setup({ refresh_seconds: 600 });
  await verifier.refreshKeys();
  const seconds = 300;
  for (let i = 0; i < seconds * 2; i++) {
    clock.now = START + i / 2;
    assert.equal(code(await token(`random-${i}`, START, ISS, 'k1')), 'unknown_kid');
    await verifier.refreshKeys();
  }
  const fetches = await count();
  assert.ok(fetches <= 1 + seconds / 30 + 1, `${fetches} fetches`);
  assert.ok(fetches >= seconds / 30 - 1, `${fetches} fetches: the cooldown still lets rotations through`);
});

test('discovery: the issuer must match exactly, then the jwks_uri is used', async () => {
  await control({ mode: 'ok', jwks: await jwks('d1'), issuer: '', reset_counts: true });
  const { verifier, code, clock, events } = setup({ uri: undefined }, { issuer: base, discovery: true });
  await verifier.refreshKeys();
  assert.equal(code(await token('d1', clock.now, base)), 'ok');
  assert.equal(await count('/.well-known/openid-configuration'), 1);
  assert.deepEqual(events[0], { provider: 'idp', event: 'discovered', jwks_uri: `${base}/jwks` });
  await control({ issuer: 'https://evil.example.com' });
  clock.now += 60;
  await verifier.refreshKeys();
  assert.ok(events.some((e) => e.kind === 'invalid_discovery' && e.detail.includes('evil')), JSON.stringify(events));
  assert.equal(code(await token('d1', clock.now, base)), 'ok', 'the keys stay');
  await control({ issuer: '' });
});

test('policy errors name the field', () => {
  assert.throws(
    () => createVerifier({ providers: { idp: { issuer: ISS, remote_jwks: { uri: 'http://idp.example.com/jwks' } } } }),
    (e) => e.code === 'invalid_config' && e.message.startsWith('providers.idp.remote_jwks.uri: '),
  );
});

/** A policy for the real clock: `remote` over short defaults. */
function realPolicy(remote = {}) {
  return {
    providers: {
      idp: {
        issuer: ISS,
        remote_jwks: { uri: `${base}/jwks`, allow_http: true, jitter_percent: 0, retry_seconds: 30, ...remote },
      },
    },
    rules: [{ prefix: '/', requires: 'idp' }],
  };
}

const FRONTS = [
  ['node:http', (mw) => (req, res) => mw(req, res, (err) => {
    res.statusCode = err ? 500 : 200;
    res.end(JSON.stringify({ auth: req.auth ?? null }));
  })],
  ...[['Express 4', express4], ['Express 5', express5]].map(([name, express]) => [name, (mw) => {
    const app = express();
    app.use(mw);
    app.get('/orders', (req, res) => res.json({ auth: req.auth ?? null }));
    return app;
  }]),
];

/** Serves `verifier` behind the middleware of `front`; returns `{ url, close }`. */
async function serve(front, verifier) {
  const server = http.createServer(front(jwtgateMiddleware(verifier)));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/orders`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** One request: status, error code, Retry-After, the body, seconds it took. */
async function timedGet(url, token) {
  const t0 = performance.now();
  const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const body = await r.json();
  return { status: r.status, code: body.error, retryAfter: r.headers.get('retry-after'), body, took: (performance.now() - t0) / 1000 };
}

for (const [name, front] of FRONTS) {
  test(`${name}: requests during a slow first fetch wait for it, then pass`, async () => {
    await control({ mode: 'slow', delay: 1, jwks: await jwks('k1'), reset_counts: true });
    const verifier = createVerifier(realPolicy({ timeout_seconds: 3 }), { backgroundRefresh: false });
    const app = await serve(front, verifier);
    try {
      const t = await token('k1', Math.floor(Date.now() / 1000));
      const answers = await Promise.all([1, 2, 3].map(() => timedGet(app.url, t)));
      for (const a of answers) {
        assert.equal(a.status, 200, JSON.stringify(a));
        assert.equal(a.body.auth.sub, 'alice');
      }
      // Held, not answered at once: the keys came a second after the fetch began.
      assert.ok(Math.max(...answers.map((a) => a.took)) >= 0.8, JSON.stringify(answers));
      assert.equal(await count(), 1, 'one fetch, waited for by every request');
    } finally {
      await app.close();
    }
  });

  test(`${name}: the first request with a new kid waits for the refetch it starts, then passes`, async () => {
    await control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
    const verifier = createVerifier(realPolicy({ timeout_seconds: 2, cooldown_seconds: 2, refresh_seconds: 600 }), { backgroundRefresh: false });
    const app = await serve(front, verifier);
    const now = () => Math.floor(Date.now() / 1000);
    try {
      assert.equal((await timedGet(app.url, await token('k1', now()))).status, 200);
      await control({ mode: 'slow', delay: 0.5, jwks: await jwks('k1', 'k2') });
      await new Promise((resolve) => setTimeout(resolve, 2100)); // past the first fetch's cooldown
      const a = await timedGet(app.url, await token('k2', now()));
      assert.equal(a.status, 200, JSON.stringify(a));
      assert.equal(a.body.auth.sub, 'alice');
      assert.ok(a.took >= 0.45, `answered after ${a.took} s, before the refetch landed`);
      assert.equal(await count(), 2, 'the first fetch, then one refetch');
      // A kid the IdP does not have, within the cooldown: 401 at once, no fetch
      // (a wait for a fetch would now take 1.5 s).
      await control({ delay: 1.5 });
      const b = await timedGet(app.url, await token('k9', now()));
      assert.deepEqual([b.status, b.code], [401, 'unknown_kid']);
      assert.ok(b.took < 1, `answered after ${b.took} s`);
      assert.equal(await count(), 2);
    } finally {
      await app.close();
    }
  });

  test(`${name}: a first fetch slower than its timeout gives 503 jwks_unavailable after about the timeout`, async () => {
    await control({ mode: 'slow', delay: 4, jwks: await jwks('k1'), reset_counts: true });
    const verifier = createVerifier(realPolicy({ timeout_seconds: 1 }), { backgroundRefresh: false });
    const app = await serve(front, verifier);
    try {
      const a = await timedGet(app.url, await token('k1', Math.floor(Date.now() / 1000)));
      assert.deepEqual([a.status, a.code, a.retryAfter], [503, 'jwks_unavailable', '30'], JSON.stringify(a));
      assert.ok(a.took >= 0.9 && a.took < 2.5, `answered after ${a.took} s; the timeout is 1 s`);
      // The first fetch has failed: nothing to wait for any more.
      const b = await timedGet(app.url, await token('k1', Math.floor(Date.now() / 1000)));
      assert.deepEqual([b.status, b.code], [503, 'jwks_unavailable']);
      assert.ok(b.took < 0.5, `answered after ${b.took} s`);
    } finally {
      await app.close();
    }
  });
}

test('an IdP that is down at start: 503 jwks_unavailable without waiting for the timeout', async () => {
  await control({ mode: 'down', reset_counts: true });
  const verifier = createVerifier(realPolicy({ timeout_seconds: 3 }), { backgroundRefresh: false });
  const app = await serve(FRONTS[0][1], verifier);
  try {
    const a = await timedGet(app.url, await token('k1', Math.floor(Date.now() / 1000)));
    assert.deepEqual([a.status, a.code, a.retryAfter], [503, 'jwks_unavailable', '30']);
    assert.ok(a.took < 2, `answered after ${a.took} s`);
  } finally {
    await app.close();
  }
});

/** Polls `predicate` every 50 ms until it is truthy or `seconds` pass. */
async function until(predicate, seconds) {
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    const value = await predicate();
    if (value || performance.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('background refresh: a rotated key verifies without any call having fetched it', async () => {
  await control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const remote = { refresh_seconds: 1, min_refresh_seconds: 1 };
  const verifier = createVerifier(realPolicy(remote)); // the default in Node: on
  const lazy = createVerifier(realPolicy(remote), { backgroundRefresh: false });
  try {
    const now = () => Math.floor(Date.now() / 1000);
    // No call yet: the timer made the first fetch.
    assert.ok(await until(async () => (await count()) >= 1, 3), 'the timer fetched');
    await until(() => verifier.keySources[0].state === 'ready', 3);
    assert.equal(verifier.verify(await token('k1', now())).claims.sub, 'alice');
    await control({ jwks: await jwks('k2') });
    const before = await count();
    // Nothing calls the verifier: only its timer can bring k2.
    assert.ok(await until(async () => (await count()) > before, 4), 'the timer refreshed');
    await until(() => verifier.keySources[0].stats.successes >= 2, 2);
    const t2 = await token('k2', now());
    assert.equal(verifier.verify(t2).claims.sub, 'alice');
    // Without the timer nothing was fetched: the first call finds no keys.
    assert.equal(lazy.keySources[0].stats.fetches, 0);
    assert.throws(() => lazy.verify(t2), (e) => e.code === 'jwks_unavailable');
    // close() stops the timer.
    verifier.close();
    const closed = verifier.keySources[0].stats.fetches;
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(verifier.keySources[0].stats.fetches, closed, 'no fetch after close()');
  } finally {
    verifier.close();
    lazy.close();
  }
});

test('the background timer never keeps node alive', async () => {
  await control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const script = `
    import { createVerifier } from 'jwtgate';
    const verifier = createVerifier(${JSON.stringify(realPolicy({ refresh_seconds: 1, min_refresh_seconds: 1 }))});
    await new Promise((resolve) => setTimeout(resolve, 2500)); // the timer fetches meanwhile
    console.log(JSON.stringify(verifier.keySources[0].stats));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('error', reject);
  });
  const printed = performance.now();
  const kill = setTimeout(() => child.kill(), 3000);
  const [code, signal] = await new Promise((resolve) => child.once('exit', (...end) => resolve(end)));
  clearTimeout(kill);
  const lingered = (performance.now() - printed) / 1000;
  assert.deepEqual([code, signal], [0, null], `the child did not exit by itself within 3 s of its last line`);
  const stats = JSON.parse(line);
  assert.ok(stats.successes >= 2, `the timer refreshed in the child: ${line}`);
  // Its next refresh is due within a second: a ref'd timer would keep the child running.
  assert.ok(lingered < 0.5, `the child lived ${lingered} s after its last line`);
});

test('a verifier nobody holds any more stops fetching: the timer holds it weakly', async () => {
  await control({ mode: 'ok', jwks: await jwks('k1'), reset_counts: true });
  const script = `
    import { createVerifier } from 'jwtgate';
    const sleep = async (ms) => {
      for (const end = Date.now() + ms; Date.now() < end; ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        globalThis.gc();
      }
    };
    let verifier = createVerifier(${JSON.stringify(realPolicy({ refresh_seconds: 1, min_refresh_seconds: 1 }))});
    await sleep(1500); // its timer fetches every second
    verifier = null;
    await sleep(1500);
    console.log('dropped');
    await sleep(2500);
    console.log('end');
  `;
  const child = spawn(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  assert.equal((await lines.next()).value, 'dropped');
  const dropped = await count();
  assert.equal((await lines.next()).value, 'end');
  const end = await count();
  assert.ok(dropped >= 2, `the timer fetched while the verifier was held (${dropped})`);
  assert.equal(end, dropped, 'fetches after the verifier was dropped and collected');
});
