// `make worker-demo`: the jwtgate worker in a real workerd, in front of an
// echo origin, with the requests of `make demo` (envoy/demo.py), and a table
// of what happened. The policy is the Envoy demo's own (read from
// envoy/envoy.yaml), the keys are generated here (RS256 and ES256, by jose),
// and the worker runs from js/worker/config.capnp as shipped. Then the same
// policy with remote keys (`remote_jwks`) from tests/jwks_server.py, in two
// isolates sharing the Cache API (js/worker/remote.capnp): how many times the
// IdP was asked, and a key rotation. Exits non-zero when a request gets
// another status than expected.
import { readFileSync } from 'node:fs';
import * as jose from 'jose';
import { fileURLToPath } from 'node:url';
import { CONFIG, header, send, startCacheStore, startJwksServer, startOrigin, startWorker } from './local.mjs';

const REMOTE_CONFIG = fileURLToPath(new URL('./remote.capnp', import.meta.url));

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'orders-api';

/** The policy JSON embedded in envoy/envoy.yaml (the block under `value: |`), with `jwks` filled in. */
export function envoyDemoPolicy(jwks) {
  const lines = readFileSync(new URL('../../envoy/envoy.yaml', import.meta.url), 'utf8').split('\n');
  const start = lines.findIndex((l) => l.trim() === 'value: |') + 1;
  const indent = lines[start].search(/\S/);
  const block = [];
  for (const line of lines.slice(start)) {
    if (line.trim() !== '' && line.search(/\S/) < indent) break;
    block.push(line);
  }
  return JSON.parse(block.join('\n').replace('${JWKS}', JSON.stringify(jwks)));
}

async function keys() {
  const out = {};
  for (const [kid, alg] of [['rsa', 'RS256'], ['ec256', 'ES256']]) {
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    out[alg] = { kid, privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' } };
  }
  return out;
}

/** (label, path, headers, expected status): the scenarios of envoy/demo.py. */
async function scenarios(k) {
  const now = Math.floor(Date.now() / 1000);
  const token = (alg = 'RS256', over = {}) =>
    new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', tenant: 'acme', roles: ['reader'], iat: now, exp: now + 300, ...over })
      .setProtectedHeader({ alg, kid: k[alg].kid, typ: 'JWT' })
      .sign(k[alg].privateKey);
  const bearer = (t) => [['authorization', `Bearer ${t}`]];
  const tamper = (t) => {
    const [h, p, s] = t.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.sub = 'admin';
    return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
  };
  return [
    ['valid RS256 token', '/orders', bearer(await token()), 200],
    ['valid ES256 token, spoofed x-jwt-sub', '/orders', [...bearer(await token('ES256')), ['x-jwt-sub', 'mallory']], 200],
    ['expired token', '/orders', bearer(await token('RS256', { iat: now - 7200, exp: now - 3600 })), 401],
    ['wrong audience', '/orders', bearer(await token('RS256', { aud: 'billing-api' })), 401],
    ['tampered payload', '/orders', bearer(tamper(await token())), 401],
    ['no token', '/orders', [], 401],
    ['valid token, /admin without the admin role', '/admin/users', bearer(await token()), 403],
    ['no token on /login (bypass), spoofed x-jwt-sub', '/login', [['x-jwt-sub', 'mallory']], 200],
    ['walks into /admin, no admin role', '/orders/../admin/users', bearer(await token()), 403],
    ['encoded slashes: ambiguous, refused', '/x%2F..%2Fadmin/users', bearer(await token()), 400],
  ];
}

function table(rows) {
  const cols = [['request', 'request'], ['status', 'status'], ['error', 'error code'], ['origin', 'x-jwt-* headers at the origin']];
  const width = Object.fromEntries(cols.map(([k, title]) => [k, Math.max(title.length, ...rows.map((r) => String(r[k]).length))]));
  const line = cols.map(([k, title]) => title.padEnd(width[k])).join('  ').trimEnd();
  console.log(line);
  console.log('-'.repeat(line.length));
  for (const r of rows) {
    const mark = r.status === r.expected ? '' : `   <-- expected ${r.expected}`;
    console.log((cols.map(([k]) => String(r[k]).padEnd(width[k])).join('  ') + mark).trimEnd());
  }
  const challenges = [...new Set(rows.map((r) => r.challenge).filter(Boolean))].sort();
  if (challenges.length) console.log(`\nWWW-Authenticate headers seen:\n${challenges.map((c) => `  ${c}`).join('\n')}`);
}

/** Runs the demo; returns one row per request. */
export async function run() {
  const k = await keys();
  const policy = envoyDemoPolicy({ keys: [k.RS256.jwk, k.ES256.jwk] });
  const origin = await startOrigin();
  const worker = await startWorker({ policy, originPort: origin.port });
  const rows = [];
  try {
    console.log(`workerd 127.0.0.1:${worker.port} (${CONFIG}) -> echo origin 127.0.0.1:${origin.port}`);
    console.log('policy: the one in envoy/envoy.yaml, with freshly generated RS256 and ES256 keys\n');
    for (const [label, target, headers, expected] of await scenarios(k)) {
      const before = origin.requests.length;
      const r = await send(worker.port, { target, headers });
      let seen = '(not reached)';
      if (origin.requests.length > before) {
        const h = r.json.headers;
        const claims = [];
        for (let i = 0; i + 1 < h.length; i += 2) {
          if (/^x-jwt-/i.test(h[i])) claims.push(`${h[i]}: ${h[i + 1].length < 24 ? h[i + 1] : `${h[i + 1].slice(0, 20)}...`}`);
        }
        seen = claims.join(', ') || '(none)';
        if (r.json.url !== target) seen += `  [path ${r.json.url}]`;
      }
      rows.push({
        request: `GET ${target}  (${label})`,
        status: r.status,
        expected,
        error: r.status === 200 ? '' : r.json?.error ?? '',
        origin: seen,
        challenge: header(r, 'www-authenticate') ?? '',
      });
    }
  } finally {
    await worker.stop();
    await origin.close();
  }
  table(rows);
  return rows;
}

/**
 * The demo's policy with its keys at a local IdP instead: requests to both
 * isolates, a rotation to a new kid; one row per request, with the IdP's
 * count of JWKS fetches after it.
 */
export async function runRemote() {
  const k = await keys();
  const idp = await startJwksServer();
  const store = await startCacheStore();
  const origin = await startOrigin();
  const policy = envoyDemoPolicy({ keys: [] });
  for (const provider of Object.values(policy.providers)) {
    delete provider.jwks;
    provider.remote_jwks = { uri: `${idp.base}/jwks`, allow_http: true, cooldown_seconds: 1 };
  }
  await idp.control({ jwks: { keys: [k.RS256.jwk] } });
  const worker = await startWorker({
    policy,
    originPort: origin.port,
    config: REMOTE_CONFIG,
    sockets: ['http', 'second'],
    externals: { idp: idp.port, cache: store.port },
  });
  const now = Math.floor(Date.now() / 1000);
  const token = (alg) =>
    new jose.SignJWT({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', roles: ['reader'], iat: now, exp: now + 300 })
      .setProtectedHeader({ alg, kid: k[alg].kid, typ: 'JWT' })
      .sign(k[alg].privateKey);
  const rows = [];
  const step = async (label, isolate, alg, expected) => {
    const port = isolate === 'a' ? worker.ports.http : worker.ports.second;
    const r = await send(port, { target: '/orders', headers: [['authorization', `Bearer ${await token(alg)}`]] });
    rows.push({ request: `isolate ${isolate}: ${label}`, status: r.status, expected, error: r.status === 200 ? '' : r.json?.error ?? '', fetches: await idp.count() });
  };
  try {
    console.log(`\nRemote keys: the same policy, keys at a local IdP ${idp.base}/jwks; workerd (${REMOTE_CONFIG}) with two isolates sharing a Cache API store`);
    await step('RS256 token, first request (waits for the first fetch)', 'a', 'RS256', 200);
    await step('RS256 token (adopts isolate a\'s keys from the cache)', 'b', 'RS256', 200);
    await idp.control({ jwks: { keys: [k.RS256.jwk, k.ES256.jwk] } });
    await new Promise((r) => setTimeout(r, 1100)); // past the 1 s cooldown
    await step('ES256 token, kid new at the IdP (waits for the refetch it starts)', 'a', 'ES256', 200);
    await step('ES256 token again', 'a', 'ES256', 200);
    // b's kid miss finds a's refetched keys in the cache (a stored them
    // before its answer; polled all the same), takes them and decides again.
    for (const deadline = Date.now() + 2000; !store.snapshotKids().includes(k.ES256.kid) && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await step('ES256 token, new kid here too (takes a\'s refetched keys from the cache)', 'b', 'ES256', 200);
    await step('ES256 token again', 'b', 'ES256', 200);
  } finally {
    await worker.stop();
    await origin.close();
    await store.close();
    await idp.close();
  }
  const width = Math.max(...rows.map((r) => r.request.length));
  console.log(`${'request'.padEnd(width)}  status  error          JWKS fetches so far`);
  for (const r of rows) {
    const mark = r.status === r.expected ? '' : `   <-- expected ${r.expected}`;
    console.log(`${r.request.padEnd(width)}  ${String(r.status).padEnd(6)}  ${r.error.padEnd(13)}  ${r.fetches}${mark}`);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = [...(await run()), ...(await runRemote())];
  const wrong = rows.filter((r) => r.status !== r.expected);
  if (wrong.length) {
    console.error(`\nworker-demo: ${wrong.length} request(s) did not get the expected status`);
    process.exit(1);
  }
}
