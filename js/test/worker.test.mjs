// The edge worker (js/worker/worker.js) in the real workerd runtime (npm
// package `workerd`, pinned), serving on 127.0.0.1 in front of an origin that
// echoes what it receives. Requests are written byte for byte on a socket
// (fetch would normalize the paths). Tokens are minted by `jose` and, for the
// attack suite, by PyJWT (tests/fixtures/tokens/cases.json); expectations
// come from the policy and RFC 6750, and each refusal must be byte for byte
// the one the core gives the Envoy filter and the Node middleware.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createVerifier } from 'jwtgate';
import { CONFIG, header, send, startOrigin, startWorker } from '../worker/local.mjs';
import { claims, flipSignatureBit, keyFor, policyFor, sign } from './helpers.mjs';

const CLOCK_CONFIG = fileURLToPath(new URL('./worker/clock.capnp', import.meta.url));
const now = () => Math.floor(Date.now() / 1000);
const fresh = (extra = {}) => claims({ iat: now() - 60, exp: now() + 3600, ...extra });
const bearer = (t) => [['Authorization', `Bearer ${t}`]];

const rsa = await keyFor('RS256');
const ec = await keyFor('ES256');
const ed = await keyFor('EdDSA');
const hs = await keyFor('HS256');
const policy = policyFor(
  [rsa, ec, ed, hs],
  {
    claim_to_headers: [
      { claim: 'sub', header: 'x-jwt-sub' },
      { claim: 'roles', header: 'x-jwt-roles' },
    ],
  },
  {
    rules: [
      { prefix: '/login', bypass: true },
      { prefix: '/public', requires: 'main', allow_missing: true },
      { prefix: '/admin', requires: 'main', claim_rules: [{ claim: 'roles', contains: 'admin' }] },
      { prefix: '/', requires: 'main' },
    ],
  },
);
/** The same core in Node: what the Envoy filter and the middleware answer. */
const reference = createVerifier(policy);

/** The header list the origin saw, as { lower-case name: [values] }. */
function seenHeaders(echo) {
  const out = {};
  for (let i = 0; i + 1 < echo.headers.length; i += 2) (out[echo.headers[i].toLowerCase()] ??= []).push(echo.headers[i + 1]);
  return out;
}

let origin;
let worker;
before(async () => {
  origin = await startOrigin();
  worker = await startWorker({ policy, originPort: origin.port, config: CLOCK_CONFIG });
});
after(async () => {
  await worker?.stop();
  await origin?.close();
});

describe('allowed requests', () => {
  test('a valid token of each algorithm reaches the origin with the claim headers and without the token', async () => {
    for (const key of [rsa, ec, ed, hs]) {
      const token = await sign(key, fresh({ roles: ['reader', 'writer'] }));
      const r = await send(worker.port, { target: '/orders?page=2', headers: [...bearer(token), ['X-Jwt-Sub', 'mallory']] });
      assert.equal(r.status, 200, `${key.alg}: ${r.text}`);
      assert.equal(r.json.url, '/orders?page=2');
      const seen = seenHeaders(r.json);
      assert.deepEqual(seen['x-jwt-sub'], ['user-1'], key.alg);
      // An array claim: padded base64 of its compact JSON (docs/POLICY.md, Claim headers; jwt_authn's encoding).
      assert.deepEqual(seen['x-jwt-roles'], [Buffer.from('["reader","writer"]').toString('base64')], key.alg);
      assert.equal(seen.authorization, undefined, `${key.alg}: forward is false, so the token is removed`);
      assert.ok(!JSON.stringify(r.json).includes(token), key.alg);
    }
  });

  test('method and body reach the origin unchanged', async () => {
    const token = await sign(ec, fresh());
    const r = await send(worker.port, { method: 'POST', target: '/orders', headers: bearer(token), body: '{"item":42}' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.method, r.json.body], ['POST', '{"item":42}']);
  });

  test('a token in the query is removed from the forwarded target', async () => {
    const token = await sign(rsa, fresh());
    const r = await send(worker.port, { target: `/orders?x=1&access_token=${token}&y=2` });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.url, '/orders?x=1&y=2');
  });

  test('bypass: /login without a token reaches the origin, spoofed claim headers removed', async () => {
    const r = await send(worker.port, { target: '/login', headers: [['x-jwt-sub', 'mallory'], ['X-JWT-ROLES', 'admin']] });
    assert.equal(r.status, 200, r.text);
    const seen = seenHeaders(r.json);
    assert.equal(seen['x-jwt-sub'], undefined);
    assert.equal(seen['x-jwt-roles'], undefined);
  });

  test('allow_missing: no token passes, an invalid token does not', async () => {
    const none = await send(worker.port, { target: '/public/x', headers: [['x-jwt-sub', 'mallory']] });
    assert.equal(none.status, 200, none.text);
    assert.equal(seenHeaders(none.json)['x-jwt-sub'], undefined);
    const expired = await sign(rsa, fresh({ iat: now() - 7200, exp: now() - 3600 }));
    const bad = await send(worker.port, { target: '/public/x', headers: bearer(expired) });
    assert.equal(bad.status, 401);
    assert.equal(bad.json.error, 'expired');
  });

  test('RSA, ECDSA and Ed25519 signatures are checked by WebCrypto, once per token (then the cache answers)', async () => {
    const count = async () => (await send(worker.port, { target: '/__test/webcrypto-checks' })).json.checks;
    await send(worker.port, { target: '/orders', headers: bearer(await sign(rsa, fresh())) });
    const start = await count();
    assert.ok(start >= 7, `the self-test (6 probes) and one RS256 token: ${start}`);
    const es = await sign(ec, fresh());
    for (let i = 0; i < 3; i++) assert.equal((await send(worker.port, { target: '/orders', headers: bearer(es) })).status, 200);
    assert.equal(await count(), start + 1, 'one WebCrypto check for three requests with one ES256 token');
    for (const key of [ed, hs]) {
      assert.equal((await send(worker.port, { target: '/orders', headers: bearer(await sign(key, fresh())) })).status, 200);
    }
    assert.equal(await count(), start + 2, 'EdDSA by WebCrypto (workerd has Ed25519), HS256 in pure Rust');
    const forged = flipSignatureBit(await sign(rsa, fresh()));
    assert.equal((await send(worker.port, { target: '/orders', headers: bearer(forged) })).json.error, 'bad_signature');
    assert.equal(await count(), start + 3, 'a forged RS256 signature is refused by WebCrypto');
  });
});

describe('refusals: the filter\'s status, WWW-Authenticate and body', () => {
  const REALM = 'Bearer realm="jwtgate"';
  const cases = async () => [
    ['no token', '/orders', [], 401, 'missing', REALM],
    ['expired', '/orders', bearer(await sign(rsa, fresh({ iat: now() - 7200, exp: now() - 3600 }))), 401, 'expired', `${REALM}, error="invalid_token"`],
    ['wrong audience', '/orders', bearer(await sign(ec, fresh({ aud: 'billing' }))), 401, 'wrong_audience', `${REALM}, error="invalid_token"`],
    ['tampered', '/orders', bearer(flipSignatureBit(await sign(rsa, fresh()))), 401, 'bad_signature', `${REALM}, error="invalid_token"`],
    ['two Authorization headers', '/orders', [...bearer(await sign(ed, fresh())), ...bearer(await sign(ed, fresh({ sub: 'b' })))], 401, 'malformed', `${REALM}, error="invalid_token"`],
    ['/admin without the role', '/admin/users', bearer(await sign(rsa, fresh({ roles: ['reader'] }))), 403, 'claim_rule_failed', `${REALM}, error="insufficient_scope"`],
    ['encoded slash', '/x%2F..%2Fadmin/users', bearer(await sign(rsa, fresh())), 400, 'invalid_path', undefined],
  ];

  test('every denial code, with the status and challenge of RFC 6750 and the core\'s exact answer', async () => {
    for (const [name, target, headers, status, code, challenge] of await cases()) {
      const r = await send(worker.port, { target, headers });
      assert.equal(r.status, status, `${name}: ${r.text}`);
      assert.equal(r.json.error, code, name);
      assert.equal(header(r, 'content-type'), 'application/json', name);
      const got = header(r, 'www-authenticate');
      if (challenge === undefined) assert.equal(got, undefined, name);
      else assert.ok(got === challenge || got.startsWith(`${challenge}, error_description="`), `${name}: ${got}`);
      // Byte for byte the core's answer (what Envoy and the middleware send).
      const flat = headers.flatMap(([k, v]) => [k, v]);
      const core = reference.authorize({ method: 'GET', path: target, headers: flat });
      assert.equal(core.status, status, name);
      if (code !== 'expired') assert.equal(r.text, core.body, name); // the expired message counts seconds
      assert.equal(got, Object.fromEntries(core.headers)['www-authenticate'] ?? (code === 'expired' ? got : undefined), name);
    }
  });

  test('nothing refused reaches the origin', async () => {
    const before = origin.requests.length;
    for (const [, target, headers] of await cases()) await send(worker.port, { target, headers });
    assert.equal(origin.requests.length, before);
  });
});

describe('request security: the same answers as the filter', () => {
  const WALKAROUNDS = [
    '/admin/users',
    '/orders/../admin/users',
    '/x/%2e%2e/admin/users',
    '/./admin/users',
    '/%61dmin/users',
    '//admin/users',
    'http://x/admin/users',
  ];
  const REFUSED = ['/x%2F..%2Fadmin/users', '/x/..;/admin/users', '/admin./users', '/x%5C..%5Cadmin/users', '/x\\..\\admin/users'];

  test('no spelling of /admin/users lets a non-admin token or no token through; the origin gets the canonical path', async () => {
    const user = await sign(rsa, fresh({ roles: ['reader'] }));
    const admin = await sign(ec, fresh({ roles: ['admin'] }));
    for (const target of WALKAROUNDS) {
      assert.equal((await send(worker.port, { target, headers: bearer(user) })).status, 403, target);
      assert.equal((await send(worker.port, { target })).status, 401, `${target} without a token`);
      const r = await send(worker.port, { target, headers: bearer(admin) });
      assert.equal(r.status, 200, `${target}: ${r.text}`);
      assert.equal(r.json.url, '/admin/users', `${target}: the origin receives the path the rule was chosen on`);
    }
  });

  test('ambiguous spellings are refused with 400 invalid_path, as by the filter', async () => {
    const admin = await sign(ec, fresh({ roles: ['admin'] }));
    for (const target of REFUSED) {
      const r = await send(worker.port, { target, headers: bearer(admin) });
      assert.equal(r.status, 400, `${target}: ${r.text}`);
      assert.equal(r.json.error, 'invalid_path', target);
      assert.equal(r.text, reference.authorize({ method: 'GET', path: target, headers: [] }).body, target);
    }
  });

  test('the Host header cannot move the path: the rule and the origin get the target as sent', async () => {
    // workerd builds request.url as "http://" + Host + target; a Host with a
    // backslash or a "/" must not become part of the path the origin receives.
    const user = await sign(rsa, fresh({ roles: ['reader'] }));
    for (const host of ['a\\admin', 'app.test/admin', 'app.test\\admin']) {
      const bypassed = await send(worker.port, { target: '/login', host });
      assert.equal(bypassed.status, 200, `${host}: ${bypassed.text}`);
      assert.equal(bypassed.json.url, '/login', `${host}: the bypassed path, not another`);
      const orders = await send(worker.port, { target: '/orders', host, headers: bearer(user) });
      assert.equal(orders.status, 200, `${host}: ${orders.text}`);
      assert.equal(orders.json.url, '/orders', host);
    }
  });

  test('the policy is case-sensitive by default: /ADMIN/users is not /admin/users, for the rules or the origin', async () => {
    const user = await sign(rsa, fresh({ roles: ['reader'] }));
    const r = await send(worker.port, { target: '/ADMIN/users', headers: bearer(user) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.url, '/ADMIN/users');
  });
});

describe('an origin that routes without case (JWTGATE_CASE_INSENSITIVE=true)', () => {
  let insensitive;
  before(async () => {
    insensitive = await startWorker({ policy, originPort: origin.port, env: { JWTGATE_CASE_INSENSITIVE: 'true' } });
  });
  after(() => insensitive?.stop());

  test('/ADMIN/users meets the /admin rule', async () => {
    const user = await sign(rsa, fresh({ roles: ['reader'] }));
    const admin = await sign(rsa, fresh({ roles: ['admin'] }));
    for (const target of ['/ADMIN/users', '/Admin/users', '/%41dmin/users']) {
      const r = await send(insensitive.port, { target, headers: bearer(user) });
      assert.equal(r.status, 403, `${target}: ${r.text}`);
      assert.equal(r.json.error, 'claim_rule_failed');
      assert.equal((await send(insensitive.port, { target, headers: bearer(admin) })).status, 200, target);
    }
  });
});

describe('attack suite through the worker (PyJWT-minted tokens, the clock frozen at the suite\'s moment)', () => {
  const fixture = (name) => readFileSync(new URL(`../../tests/fixtures/tokens/${name}`, import.meta.url), 'utf8');
  const { now: suiteNow, cases } = JSON.parse(fixture('cases.json'));
  let suiteWorker;
  before(async () => {
    suiteWorker = await startWorker({ policy: fixture('policy.json'), originPort: origin.port, config: CLOCK_CONFIG, env: { TEST_NOW: String(suiteNow) } });
  });
  after(() => suiteWorker?.stop());

  test('every case gets its expected code (401, or 403 for claim rules), and only accepted tokens reach the origin', async () => {
    const wrong = [];
    for (const c of cases) {
      // An empty bearer credential is no token at all (as for the filter).
      const expected = c.token === '' ? 'missing' : c.expect;
      const before = origin.requests.length;
      const r = await send(suiteWorker.port, { target: c.path ?? '/orders', headers: bearer(c.token) });
      const reached = origin.requests.length > before;
      const got = r.status === 200 && reached ? 'ok' : r.json?.error ?? `status ${r.status}`;
      const status = expected === 'ok' ? 200 : expected === 'claim_rule_failed' ? 403 : 401;
      if (got !== expected || r.status !== status) wrong.push(`${c.name}: got ${got} (${r.status}), expected ${expected} (${status})`);
    }
    assert.deepEqual(wrong, []);
  });
});

describe('the shipped configuration', () => {
  test('js/worker/config.capnp serves the same modules the tests run (clock.capnp adds only the shim; remote.capnp, of worker-keys.test.mjs, none)', () => {
    const modules = (file) => readFileSync(file, 'utf8').match(/\(name = "(?!test\/)[^"]+", (esModule|wasm) = embed "[^"]+"\)/g).map((m) => m.replace(/embed "(\.\.\/)+/, 'embed "').replace('embed "worker.js"', 'embed "worker/worker.js"'));
    assert.deepEqual(modules(CLOCK_CONFIG), modules(CONFIG));
    assert.deepEqual(modules(fileURLToPath(new URL('../worker/remote.capnp', import.meta.url))), modules(CONFIG));
  });

  test('a policy that does not load: every request is answered 500, and workerd logs the field', async () => {
    const broken = await startWorker({ policy: { providers: { idp: { issuer: 'x', jwks: { keys: [] }, algorithms: ['none'] } } }, originPort: origin.port });
    try {
      const before = origin.requests.length;
      const r = await send(broken.port, { target: '/orders' });
      assert.equal(r.status, 500);
      assert.equal(origin.requests.length, before);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.match(broken.log(), /providers\.idp/);
    } finally {
      await broken.stop();
    }
  });
});

test('make worker-demo (js/worker/demo.mjs, the shipped config.capnp): every request gets its expected status', async () => {
  const { run } = await import('../worker/demo.mjs');
  const rows = await run();
  assert.equal(rows.length, 10);
  assert.deepEqual(rows.filter((r) => r.status !== r.expected), []);
});

test('make worker-demo, remote keys (js/worker/remote.capnp, two isolates): expected statuses, two JWKS fetches for six requests and a rotation', async () => {
  const { runRemote } = await import('../worker/demo.mjs');
  const rows = await runRemote();
  assert.equal(rows.length, 6);
  assert.deepEqual(rows.filter((r) => r.status !== r.expected), []);
  // The third request waits for the refetch its new kid starts: counted there, and none after.
  assert.deepEqual(rows.map((r) => r.fetches), [1, 1, 2, 2, 2, 2]);
});
