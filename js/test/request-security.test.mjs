// Request-level security of the middleware, under Express 4, Express 5 and
// plain node:http, with requests written byte for byte on a socket (fetch
// would normalize the paths we need to send). The handlers report what the
// application routed on; the expectations come from the policy: a token
// without the admin role never reaches an /admin handler, whatever the
// spelling of the path, and no handler ever sees the token or a spoofed
// claim header.
import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import express4 from 'express4';
import express5 from 'express5';
import { createVerifier, jwtgateMiddleware } from 'jwtgate';
import { claims, keyFor, policyFor, sign } from './helpers.mjs';

const now = () => Math.floor(Date.now() / 1000);
const fresh = (extra = {}) => claims({ iat: now() - 60, exp: now() + 3600, ...extra });

const key = await keyFor('ES256');
const policy = policyFor(
  [key],
  { claim_to_headers: [{ claim: 'sub', header: 'x-user' }] },
  {
    rules: [
      { prefix: '/login', bypass: true },
      { prefix: '/admin', requires: 'main', claim_rules: [{ claim: 'roles', contains: 'admin' }] },
      { prefix: '/', requires: 'main' },
    ],
  },
);
const userToken = await sign(key, fresh({ roles: ['reader'] }));
const adminToken = await sign(key, fresh({ roles: ['admin'] }));

/** Sends `GET target` with `headers` on a raw socket; resolves to { status, body }. */
function rawGet(port, target, headers = []) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const lines = [`GET ${target} HTTP/1.1`, 'Host: app.test', 'Connection: close', ...headers.map(([k, v]) => `${k}: ${v}`)];
    socket.end(lines.join('\r\n') + '\r\n\r\n');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk) => (data += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const status = Number(data.split(' ')[1]);
      const head = data.slice(0, data.indexOf('\r\n\r\n'));
      let body = data.slice(data.indexOf('\r\n\r\n') + 4);
      if (/transfer-encoding: chunked/i.test(head)) {
        let out = '';
        while (body.length) {
          const nl = body.indexOf('\r\n');
          const size = parseInt(body.slice(0, nl), 16);
          if (!size) break;
          out += body.slice(nl + 2, nl + 2 + size);
          body = body.slice(nl + 2 + size + 2);
        }
        body = out;
      }
      let json = null;
      try {
        json = JSON.parse(body);
      } catch {
        // not JSON (an application 404 page)
      }
      resolve({ status, body: json, text: body });
    });
  });
}

const bearer = (t) => [['Authorization', `Bearer ${t}`]];

/** What every handler reports: what the application routed on and saw. */
function report(req) {
  return {
    route: 'admin',
    url: req.url,
    path: req.path,
    query: req.query,
    headers: req.headers,
    distinct: req.headersDistinct,
    raw: req.rawHeaders,
    auth: req.auth ?? null,
  };
}

function expressApp(express, { caseSensitive } = {}) {
  const app = express();
  if (caseSensitive) app.enable('case sensitive routing');
  // Read before the middleware: Node caches headersDistinct once computed.
  app.use((req, _res, next) => {
    void req.headersDistinct;
    next();
  });
  app.use(jwtgateMiddleware(createVerifier(policy)));
  app.get('/admin/users', (req, res) => res.json(report(req)));
  app.get('/orders', (req, res) => res.json({ ...report(req), route: 'orders' }));
  app.get('/login', (req, res) => res.json({ ...report(req), route: 'login' }));
  app.use((req, res) => res.status(404).json({ route: 'none', url: req.url }));
  return app;
}

function nodeApp() {
  const mw = jwtgateMiddleware(createVerifier(policy));
  return (req, res) => {
    void req.headersDistinct;
    mw(req, res, () => {
      const path = new URL(req.url, 'http://x').pathname;
      const route = path === '/admin/users' ? 'admin' : path === '/orders' ? 'orders' : 'none';
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ...report(req), route, path }));
    });
  };
}

const WALKAROUNDS = [
  '/admin/users',
  '/orders/../admin/users',
  '/x/%2e%2e/admin/users',
  '/./admin/users',
  '/%61dmin/users',
  '//admin/users',
  'http://x/admin/users',
];

const REFUSED = ['/x%2F..%2Fadmin/users', '/x/..;/admin/users', '/admin./users', '/x%5C..%5Cadmin/users'];

for (const [name, makeHandler, caseInsensitive] of [
  ['Express 4', () => expressApp(express4), true],
  ['Express 5', () => expressApp(express5), true],
  ['Express 5, case sensitive routing', () => expressApp(express5, { caseSensitive: true }), false],
  ['node:http', nodeApp, false],
]) {
  describe(name, () => {
    let server;
    let port;
    before(async () => {
      server = http.createServer(makeHandler());
      await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = server.address().port;
    });
    after(() => new Promise((resolve) => server.close(resolve)));

    test('no spelling of /admin/users lets a non-admin token or no token through', async () => {
      for (const target of WALKAROUNDS) {
        const user = await rawGet(port, target, bearer(userToken));
        assert.equal(user.status, 403, `${target}: ${user.text}`);
        const none = await rawGet(port, target);
        assert.equal(none.status, 401, `${target} without a token`);
        const admin = await rawGet(port, target, bearer(adminToken));
        assert.equal(admin.status, 200, target);
        assert.equal(admin.body.route, 'admin', target);
        assert.equal(admin.body.url, '/admin/users', `${target}: the app routes on the canonical path`);
      }
    });

    test('ambiguous spellings are refused with 400 invalid_path before any handler', async () => {
      for (const target of REFUSED) {
        const r = await rawGet(port, target, bearer(adminToken));
        assert.equal(r.status, 400, target);
        assert.equal(r.body.error, 'invalid_path', target);
      }
    });

    test('upper case: refused like /admin when the app routes without case', async () => {
      const r = await rawGet(port, '/ADMIN/users', bearer(userToken));
      if (caseInsensitive) {
        assert.equal(r.status, 403);
      } else {
        // A case-sensitive app has no /ADMIN/users route: the / rule applies
        // (a valid token) and the app answers 404, never the admin handler.
        assert.notEqual(r.body?.route, 'admin');
      }
    });

    test('the token and spoofed claim headers reach no view of the headers', async () => {
      const r = await rawGet(port, `/orders?access_token=${userToken}&x=1`, [
        ['X-User', 'spoofed'],
        ['x-user', 'spoofed-again'],
      ]);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.body.route, 'orders');
      assert.equal(r.body.url, '/orders?x=1');
      assert.equal(r.body.headers['x-user'], 'user-1');
      assert.deepEqual(r.body.distinct['x-user'], ['user-1']);
      const raw = r.body.raw;
      const rawUser = raw.filter((_, i) => i % 2 === 0 && raw[i].toLowerCase() === 'x-user').length;
      assert.equal(rawUser, 1);
      assert.ok(!JSON.stringify(r.body).includes(userToken), 'the token is nowhere in what the handler sees');
      if (name.startsWith('Express')) assert.deepEqual({ ...r.body.query }, { x: '1' });
    });

    test('a header token is removed from headers, rawHeaders and headersDistinct', async () => {
      const r = await rawGet(port, '/orders', bearer(userToken));
      assert.equal(r.status, 200);
      assert.equal(r.body.headers.authorization, undefined);
      assert.equal(r.body.distinct.authorization, undefined);
      assert.ok(!r.body.raw.some((v) => /^authorization$/i.test(v)));
    });

    test('two Authorization headers get the Envoy filter answer: malformed', async () => {
      const r = await rawGet(port, '/orders', [...bearer(userToken), ...bearer(userToken)]);
      assert.equal(r.status, 401);
      assert.equal(r.body.error, 'malformed');
    });

    test('a token in two places: the same token is one token, two tokens are refused', async () => {
      const same = await rawGet(port, `/orders?access_token=${userToken}`, bearer(userToken));
      assert.equal(same.status, 200);
      assert.equal(same.body.url, '/orders');
      const two = await rawGet(port, `/orders?access_token=${adminToken}`, bearer(userToken));
      assert.equal(two.status, 401);
      assert.equal(two.body.error, 'malformed');
    });

    test('a bypassed path stays bypassed only under its canonical name', async () => {
      const login = await rawGet(port, '/login/../admin/users');
      assert.equal(login.status, 401);
      const bypass = await rawGet(port, '/%6cogin');
      assert.equal(bypass.status, 200);
      assert.equal(bypass.body.url, '/login');
    });
  });
}

test('mounted under a path: req.url stays relative to the mount', async () => {
  const app = express5();
  const api = express5.Router();
  api.use(jwtgateMiddleware(createVerifier(policy)));
  api.get('/orders', (req, res) => res.json({ url: req.url, originalUrl: req.originalUrl }));
  app.use('/api', api);
  const server = http.createServer(app);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address();
    const r = await rawGet(port, `/api/x/../orders?access_token=${userToken}`);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.body, { url: '/orders', originalUrl: '/api/orders' });
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
