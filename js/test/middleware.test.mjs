// The Express/Connect middleware on a real node:http server: refusals carry the
// core's status, RFC 6750 challenge and JSON body; success sets req.auth.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createVerifier, jwtgateMiddleware } from 'jwtgate';
import { claims, keyFor, policyFor, sign } from './helpers.mjs';

// The middleware judges by the real clock, so tokens are minted around it.
const now = () => Math.floor(Date.now() / 1000);
const fresh = (extra = {}) => claims({ iat: now() - 60, exp: now() + 3600, ...extra });

const key = await keyFor('ES256');
const policy = policyFor(
  [key],
  { claim_to_headers: [{ claim: 'sub', header: 'x-user' }] },
  {
    rules: [
      { prefix: '/health', bypass: true },
      { prefix: '/admin', requires: 'main', claim_rules: [{ claim: 'roles', contains: 'admin' }] },
      { prefix: '/', requires: 'main' },
    ],
    response: { realm: 'shop' },
  },
);
const middleware = jwtgateMiddleware(createVerifier(policy));

let server;
let base;
before(async () => {
  server = http.createServer((req, res) => {
    middleware(req, res, (err) => {
      res.setHeader('content-type', 'application/json');
      if (err) {
        res.statusCode = 500;
        res.end(JSON.stringify({ err: String(err) }));
        return;
      }
      res.end(JSON.stringify({ auth: req.auth ?? null, url: req.url, headers: req.headers }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${server.address().port}`;
});
after(() => new Promise((resolve) => server.close(resolve)));

const get = (path, headers = {}) => fetch(base + path, { headers });

test('no token: 401, a bare Bearer challenge and a JSON body', async () => {
  const res = await get('/orders');
  assert.equal(res.status, 401);
  assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="shop"');
  assert.equal(res.headers.get('content-type'), 'application/json');
  const body = await res.json();
  assert.equal(body.error, 'missing');
  assert.equal(typeof body.message, 'string');
});

test('expired token: 401 invalid_token', async () => {
  const token = await sign(key, fresh({ iat: now() - 7200, exp: now() - 3600 }));
  const res = await get('/orders', { authorization: `Bearer ${token}` });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate'), /^Bearer realm="shop", error="invalid_token", error_description="expired: /);
  assert.equal((await res.json()).error, 'expired');
});

test('claim rule fails: 403 insufficient_scope', async () => {
  const token = await sign(key, fresh({ roles: ['reader'] }));
  const res = await get('/admin/users', { authorization: `Bearer ${token}` });
  assert.equal(res.status, 403);
  assert.match(res.headers.get('www-authenticate'), /^Bearer realm="shop", error="insufficient_scope"/);
  assert.equal((await res.json()).error, 'claim_rule_failed');
});

test('valid token: next() runs with req.auth, the policy header set and the spoofed one replaced', async () => {
  const payload = fresh({ roles: ['admin'] });
  const token = await sign(key, payload);
  const res = await get('/admin/users?x=1', { authorization: `Bearer ${token}`, 'x-user': 'spoofed' });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(body.auth, payload);
  assert.equal(body.headers['x-user'], 'user-1');
  // forward is off by default: the token is not passed on.
  assert.equal(body.headers.authorization, undefined);
  assert.equal(body.url, '/admin/users?x=1');
});

test('bypass: no token needed, req.auth unset, and a spoofed policy header is still removed', async () => {
  const res = await get('/health', { 'x-user': 'spoofed' });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.auth, null);
  assert.equal(body.headers['x-user'], undefined);
});

test('the response is exactly the decision of the core', async () => {
  const verifier = createVerifier(policy);
  const token = await sign(key, fresh({ aud: 'someone-else' }));
  const decision = verifier.authorize({ method: 'GET', path: '/orders', headers: ['authorization', `Bearer ${token}`] });
  assert.equal(decision.allow, false);
  const res = await get('/orders', { authorization: `Bearer ${token}` });
  assert.equal(res.status, decision.status);
  for (const [name, value] of decision.headers) assert.equal(res.headers.get(name), value);
  assert.equal(await res.text(), decision.body);
});

test('a token in the query string is removed from req.url when not forwarded', async () => {
  const q = jwtgateMiddleware(createVerifier(policyFor([key], { from_params: ['token'] }, { rules: [{ prefix: '/', requires: 'main' }] })));
  const token = await sign(key, fresh());
  const req = { method: 'GET', url: `/a?token=${token}&b=2`, headers: {} };
  const res = { statusCode: 200, setHeader() {}, end() {} };
  let called = false;
  q(req, res, (err) => {
    assert.equal(err, undefined);
    called = true;
  });
  assert.ok(called);
  assert.equal(req.url, '/a?b=2');
  assert.equal(req.auth.sub, 'user-1');
});
