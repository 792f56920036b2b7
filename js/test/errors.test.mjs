// Every stable error code of the core is reachable from JavaScript and arrives
// as a JwtError with that code. Expectations come from docs/ERRORS.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createVerifier, decode, errorCodeList, JwtError, verifyJws } from 'jwtgate';
import { NOW, b64json, claims, flipSignatureBit, jose, keyFor, policyFor, sign } from './helpers.mjs';

const rs = await keyFor('RS256');
const es = await keyFor('ES256');
const DAY = 86400;

/** Asserts `fn` throws a JwtError with `code`, and returns it. */
function throwsCode(fn, code) {
  let caught;
  assert.throws(fn, (err) => {
    caught = err;
    return err instanceof JwtError && err instanceof Error && err.name === 'JwtError' && err.code === code;
  });
  assert.ok(caught.message.length > 0, 'the error says why');
  return caught;
}

// One entry per code: how to reach it. `provider`/`rest` tweak the base policy.
const CASES = [
  { code: 'malformed', token: async () => 'only.two' },
  { code: 'jwe_unsupported', token: async () => `${b64json({ alg: 'RSA-OAEP', enc: 'A128GCM' })}.AA.AAAA.AA.AAAA` },
  { code: 'too_large', rest: { limits: { max_token_bytes: 1024 } }, token: () => sign(rs, claims({ pad: 'x'.repeat(2000) })) },
  { code: 'unsupported_alg', token: async () => `${b64json({ alg: 'none' })}.${b64json(claims())}.` },
  {
    code: 'unsupported_crit',
    token: () =>
      new jose.SignJWT(claims())
        .setProtectedHeader({ alg: 'RS256', kid: rs.kid, crit: ['urn:x'], 'urn:x': 1 })
        .sign(rs.signingKey, { crit: { 'urn:x': true } }),
  },
  { code: 'unknown_kid', token: () => sign(rs, claims(), { kid: 'nope' }) },
  // An ES256 token whose kid names the RSA key: the key exists but cannot check ES256.
  { code: 'key_mismatch', provider: { algorithms: ['RS256', 'ES256'] }, token: () => sign(es, claims(), { kid: rs.kid }) },
  // No kid, and more keys could verify the token than limits.max_keys_without_kid allows trying.
  { code: 'too_many_keys', rest: { limits: { max_keys_without_kid: 0 } }, token: () => sign(rs, claims(), { kid: undefined }) },
  { code: 'bad_signature', token: async () => flipSignatureBit(await sign(rs)) },
  { code: 'expired', token: () => sign(rs, claims({ iat: NOW - 7200, exp: NOW - 3600 })) },
  { code: 'not_yet_valid', token: () => sign(rs, claims({ nbf: NOW + 3600 })) },
  { code: 'issued_in_future', token: () => sign(rs, claims({ iat: NOW + 3600, exp: NOW + 7200 })) },
  { code: 'too_old', provider: { max_age_seconds: DAY }, token: () => sign(rs, claims({ iat: NOW - 2 * DAY })) },
  { code: 'lifetime_too_long', provider: { max_lifetime_seconds: DAY }, token: () => sign(rs, claims({ exp: NOW + 30 * DAY })) },
  { code: 'missing_claim', provider: { required_claims: ['email'] }, token: () => sign(rs) },
  { code: 'invalid_claim', token: () => sign(rs, claims({ nbf: 'yesterday' })) },
  { code: 'wrong_issuer', token: () => sign(rs, claims({ iss: 'https://evil.example' })) },
  { code: 'wrong_audience', token: () => sign(rs, claims({ aud: ['web', 'mobile'] })) },
  { code: 'wrong_subject', provider: { subjects: ['user-2'] }, token: () => sign(rs) },
  {
    code: 'claim_rule_failed',
    provider: { claim_rules: [{ claim: 'scope', equals: 'admin' }] },
    token: () => sign(rs, claims({ scope: 'read' })),
  },
  { code: 'revoked', rest: { deny: { jti: ['j-1'] } }, token: () => sign(rs, claims({ jti: 'j-1' })) },
  // Keys fetched from a (closed) loopback port: none before the first fetch.
  { code: 'jwks_unavailable', provider: { jwks: undefined, remote_jwks: { uri: 'https://127.0.0.1:1/jwks' } }, token: () => sign(rs) },
];

const reached = new Set();

for (const c of CASES) {
  test(`verify refuses with ${c.code}`, async () => {
    const verifier = createVerifier(policyFor([rs], c.provider, c.rest));
    const token = await c.token();
    throwsCode(() => verifier.verify(token, { now: NOW }), c.code);
    // explain() reaches the same verdict without throwing.
    const report = verifier.explain(token, { now: NOW });
    assert.equal(report.ok, false);
    assert.equal(report.code, c.code);
    reached.add(c.code);
  });
}

test('authorize reports missing when the request carries no token', () => {
  const verifier = createVerifier(policyFor([rs], {}, { rules: [{ prefix: '/', requires: 'main' }] }));
  const decision = verifier.authorize({ method: 'GET', path: '/', headers: ['host', 'example'] }, { now: NOW });
  assert.equal(decision.allow, false);
  assert.equal(decision.code, 'missing');
  assert.equal(decision.status, 401);
  reached.add('missing');
});

test('an undecodable key is skipped with a warning; with no usable key the policy is refused', () => {
  const broken = { ...rs.jwk, kid: 'broken', n: 'not*base64url' };
  const verifier = createVerifier(policyFor([rs, { ...rs, jwk: broken }]));
  assert.equal(verifier.warnings.length, 1);
  assert.match(verifier.warnings[0], /kid "broken".*base64url/);
  const err = throwsCode(() => createVerifier(policyFor([{ ...rs, jwk: broken }])), 'invalid_config');
  assert.match(err.message, /jwks.*no usable key.*base64url/);
  assert.deepEqual(createVerifier(policyFor([rs])).warnings, []);
});

test('an invalid policy is refused with invalid_config naming the field', () => {
  const err = throwsCode(() => createVerifier(policyFor([rs], { issuer: 42 })), 'invalid_config');
  assert.match(err.message, /issuer/);
  const unknown = throwsCode(() => createVerifier(policyFor([rs], { audience: ['api'] })), 'invalid_config');
  assert.match(unknown.message, /audience/);
  throwsCode(() => createVerifier('{"providers":'), 'invalid_config');
  reached.add('invalid_config');
});

test('verifyJws reports invalid_key when the key set it is given has no usable key', async () => {
  const token = await sign(rs);
  const err = throwsCode(() => verifyJws(token, { keys: [{ ...rs.jwk, use: 'enc' }] }), 'invalid_key');
  assert.match(err.message, /use/);
  reached.add('invalid_key');
});

test('a request target that cannot be read one way is invalid_path (HTTP 400)', () => {
  const verifier = createVerifier(policyFor([rs], {}, { rules: [{ prefix: '/', requires: 'main' }] }));
  const d = verifier.authorize({ method: 'GET', path: '/x%2F..%2Fadmin', headers: [] }, { now: NOW });
  assert.equal(d.allow, false);
  assert.equal(d.status, 400);
  assert.equal(d.code, 'invalid_path');
  reached.add(d.code);
});

test('every error code of the core was reached above', () => {
  // verifier_unavailable needs a build without the pure-Rust RSA/ECDSA
  // verifiers and a host that gives no answer: tests/small_build.rs.
  const elsewhere = ['verifier_unavailable'];
  assert.deepEqual([...reached].sort(), errorCodeList().filter((c) => !elsewhere.includes(c)).sort());
});

test('index.d.ts lists exactly the codes of the core, in order', () => {
  const dts = readFileSync(new URL('../index.d.ts', import.meta.url), 'utf8');
  const union = dts.match(/export type ErrorCode =([^;]+);/)[1];
  const listed = [...union.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
  assert.deepEqual(listed, errorCodeList());
});

test('signatures are compared before the claim set', async () => {
  // Expired AND badly signed: an unverified token's claims must not decide the answer.
  const verifier = createVerifier(policyFor([rs]));
  const token = flipSignatureBit(await sign(rs, claims({ iss: 'https://evil.example', exp: NOW - 3600 })));
  throwsCode(() => verifier.verify(token, { now: NOW }), 'bad_signature');
});

test('alg confusion: HS256 signed with the RSA public key is refused', async () => {
  const verifier = createVerifier(policyFor([rs]));
  const pem = new TextEncoder().encode(await jose.exportSPKI(rs.publicKey));
  const token = await new jose.SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: rs.kid }).sign(pem);
  throwsCode(() => verifier.verify(token, { now: NOW }), 'unsupported_alg');
});

test('decode never verifies, and throws a specific code for what is not a JWS', async () => {
  const expired = await sign(rs, claims({ iat: NOW - 7200, exp: NOW - 3600 }));
  const decoded = decode(flipSignatureBit(expired), { now: NOW });
  assert.deepEqual(decoded.payload, claims({ iat: NOW - 7200, exp: NOW - 3600 }));
  assert.equal(decoded.header.alg, 'RS256');
  assert.ok(decoded.warnings.length > 0, 'an expired token is worth a warning');

  throwsCode(() => decode('abc'), 'malformed');
  throwsCode(() => decode('a.b.c.d'), 'malformed');
  throwsCode(() => decode(`${b64json({ alg: 'RS256' })}.%%%.AA`), 'malformed');
  throwsCode(() => decode(`${Buffer.from('{"alg":"RS256","alg":"none"}').toString('base64url')}.${b64json({})}.AA`), 'malformed');
  throwsCode(() => decode(`${b64json({ alg: 'RS256' })}.${Buffer.from('[1,').toString('base64url')}.AA`), 'malformed');
  throwsCode(() => decode(`${b64json({ alg: 'A' })}.AA.AA.AA.AA`), 'jwe_unsupported');
  throwsCode(() => decode(`${b64json({ alg: 'RS256' })}.${b64json({ pad: 'x'.repeat(1 << 20) })}.AA`), 'too_large');
});

test('decode and verify agree: JSON nested past the depth limit is too_large (docs/ERRORS.md)', async () => {
  const hs = await keyFor('HS256');
  const deep = new TextEncoder().encode('['.repeat(100) + ']'.repeat(100));
  const token = await new jose.CompactSign(deep).setProtectedHeader({ alg: 'HS256', kid: hs.kid }).sign(hs.signingKey);
  throwsCode(() => createVerifier(policyFor([hs])).verify(token, { now: NOW }), 'too_large');
  throwsCode(() => decode(token), 'too_large');
});

test('type errors are TypeErrors, not JwtErrors', () => {
  const verifier = createVerifier(policyFor([rs]));
  assert.throws(() => verifier.verify(42), TypeError);
  assert.throws(() => decode(undefined), TypeError);
});
