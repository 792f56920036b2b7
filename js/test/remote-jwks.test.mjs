// Remote keys through the npm package: the core's key sources driven by the
// platform `fetch` against the tests' own JWKS/OIDC server (tests/jwks_server.py,
// a real HTTP server on 127.0.0.1), with an injected clock so that refreshes,
// cooldowns and staleness take no real time. Tokens and keys come from `jose`.
// Expectations: issue 14 and docs/POLICY.md ("Remote keys").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';
import { createVerifier } from 'jwtgate';

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
  const verifier = createVerifier(policy, { clock: () => clock.now, onKeyEvent: (e) => events.push(e) });
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
