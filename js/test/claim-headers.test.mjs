// Claim headers through the npm package's authorize: the encoding of
// docs/POLICY.md ("Claim headers"), with tokens minted by `jose`. Expected
// values are written from that encoding (Envoy jwt_authn's: strings as they
// are, numbers and booleans as text, arrays and objects as padded standard
// base64 of their JSON), never taken from jwtgate. Every value produced must
// pass Node's own header check, and carry the claim's UTF-8 bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createVerifier } from 'jwtgate';
import { NOW, claims, keyFor, policyFor, sign } from './helpers.mjs';

const key = await keyFor('ES256');
const CLAIMS = [
  ['name', 'x-name'],
  ['roles', 'x-roles'],
  ['realm_access.roles', 'x-realm-roles'],
  [['https://example.com/tenant'], 'x-tenant'],
  ['n', 'x-n'],
  ['flag', 'x-flag'],
  ['obj', 'x-obj'],
  ['padded', 'x-padded'],
  ['ctl', 'x-ctl'],
  ['tab', 'x-tab'],
  ['nul', 'x-nul'],
  ['empty', 'x-empty'],
];
const verifier = createVerifier(
  policyFor([key], { claim_to_headers: CLAIMS.map(([claim, header]) => ({ claim, header })) }, { rules: [{ prefix: '/', requires: 'main' }] }),
);

/** The claim headers authorize sets for a token carrying `extra` claims. */
async function claimHeaders(extra) {
  const token = await sign(key, claims(extra));
  const decision = verifier.authorize({ method: 'GET', path: '/', headers: ['authorization', `Bearer ${token}`] }, { now: NOW });
  assert.equal(decision.allow, true, decision.message);
  const names = CLAIMS.map(([, header]) => header);
  for (const name of names) assert.ok(decision.remove_headers.includes(name), `${name} is removed first`);
  return Object.fromEntries(decision.set_headers.filter(([name]) => names.includes(name)));
}

/** Padded standard base64 of compact JSON with members sorted by name. */
function b64JsonSorted(value) {
  const sort = (v) =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort(v[k])])) : v;
  return Buffer.from(JSON.stringify(sort(value)), 'utf8').toString('base64');
}

/** The header value as bytes, the way Node sends a string value (Latin-1 code units). */
const bytesOf = (value) => Buffer.from(value, 'latin1');

test('every claim type gets the documented value, and unusable values no header', async () => {
  const got = await claimHeaders({
    name: 'José €',
    roles: ['admin', 'ops,dev'],
    realm_access: { roles: ['r1'] },
    'realm_access.roles': ['spoof'],
    'https://example.com/tenant': 'acme',
    n: 42,
    flag: false,
    obj: { b: [1, null], a: 'x' },
    padded: ' admin',
    ctl: 'a\r\nx-admin: 1',
    tab: 'a\tb',
    nul: null,
    empty: '',
  });
  assert.deepEqual(Object.keys(got).sort(), ['x-flag', 'x-n', 'x-name', 'x-obj', 'x-realm-roles', 'x-roles', 'x-tenant']);
  assert.equal(got['x-roles'], b64JsonSorted(['admin', 'ops,dev']));
  assert.equal(got['x-roles'], 'WyJhZG1pbiIsIm9wcyxkZXYiXQ==');
  assert.equal(got['x-realm-roles'], 'WyJyMSJd'); // the nested member, as jwt_authn 1.40 sent it
  assert.equal(got['x-tenant'], 'acme');
  assert.equal(got['x-n'], '42');
  assert.equal(got['x-flag'], 'false');
  assert.equal(got['x-obj'], b64JsonSorted({ a: 'x', b: [1, null] }));
  // Non-ASCII text goes out as its UTF-8 bytes (what Envoy sends), as a
  // byte string Node accepts.
  assert.deepEqual(bytesOf(got['x-name']), Buffer.from('José €', 'utf8'));
});

test('an element with a comma never looks like two elements', async () => {
  const one = await claimHeaders({ roles: ['a,b'] });
  const two = await claimHeaders({ roles: ['a', 'b'] });
  assert.notEqual(one['x-roles'], two['x-roles']);
  assert.deepEqual(JSON.parse(Buffer.from(one['x-roles'], 'base64').toString('utf8')), ['a,b']);
  assert.deepEqual(JSON.parse(Buffer.from(two['x-roles'], 'base64').toString('utf8')), ['a', 'b']);
});

test('every produced value passes http.validateHeaderValue and reaches an upstream byte for byte', async () => {
  const samples = [
    { name: 'plain' },
    { name: 'José' },
    { name: '€ 😀 中文' },
    { name: 'Ærø' },
    { roles: ['é', '<script>', 'a"b\\c'], obj: { 'ü': ['€'] } },
    { n: 1.5, flag: true },
  ];
  const seen = [];
  const server = http.createServer((req, res) => {
    seen.push(req.rawHeaders);
    res.end();
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    for (const extra of samples) {
      const got = await claimHeaders(extra);
      assert.ok(Object.keys(got).length > 0, JSON.stringify(extra));
      for (const [name, value] of Object.entries(got)) {
        assert.doesNotThrow(() => http.validateHeaderValue(name, value), `${name}: ${JSON.stringify(value)}`);
      }
      if (extra.name !== undefined) assert.deepEqual(bytesOf(got['x-name']), Buffer.from(extra.name, 'utf8'));
      // Send them through node:http and read the raw bytes the upstream got.
      await new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: server.address().port, headers: got }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        req.end();
      });
      const raw = seen.at(-1);
      for (const [name, value] of Object.entries(got)) {
        const i = raw.findIndex((h, j) => j % 2 === 0 && h.toLowerCase() === name);
        assert.ok(i >= 0, `${name} reached the upstream`);
        assert.deepEqual(bytesOf(raw[i + 1]), bytesOf(value));
      }
    }
  } finally {
    server.close();
  }
});
