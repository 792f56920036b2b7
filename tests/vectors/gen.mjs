// Mints tests/vectors/verdicts.json: fixed tokens, one policy, one clock, and the
// verdict each token must get. Both the Rust tests and the npm package tests read
// the file, so every front end of the one core must give the same answer.
//
// The tokens are signed by `jose` (an independent JWT library), never by jwtgate.
// The expected verdicts below are written by hand from docs (the error-code table
// and the policy format), never computed by jwtgate. Each bad token has exactly one
// thing wrong with it, so its expected code is not a matter of check order.
//
// Run (needs `npm ci` in js/ for jose):  node tests/vectors/gen.mjs
// The keys are new on every run, so the tokens change, but the verdicts do not.
import { createRequire } from 'node:module';
import { writeFileSync } from 'node:fs';

const require = createRequire(new URL('../../js/package.json', import.meta.url));
const jose = await import(require.resolve('jose'));

// 2026-01-01T00:00:00Z: the clock every verdict is judged at.
const NOW = 1767225600;
const HOUR = 3600;

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

async function pair(alg, options) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true, ...options });
  return { publicKey, privateKey };
}

const rsa = await pair('RS256', { modulusLength: 2048 });
const ec = await pair('ES256');
const ed = await pair('EdDSA');
const hmacSecret = new Uint8Array(64).map((_, i) => (i * 37 + 11) & 0xff);

const jwk = async (key, kid, alg) => ({ ...(await jose.exportJWK(key)), kid, alg, use: 'sig' });
const rsJwks = { keys: [await jwk(rsa.publicKey, 'rs-1', 'RS256')] };
const ecJwks = { keys: [await jwk(ec.publicKey, 'ec-1', 'ES256'), await jwk(ed.publicKey, 'ed-1', 'EdDSA')] };
const hsJwks = { keys: [{ kty: 'oct', kid: 'hs-1', alg: 'HS256', k: Buffer.from(hmacSecret).toString('base64url') }] };

const RS_ISS = 'https://rs.example';
const EC_ISS = 'https://ec.example';
const HS_ISS = 'https://hs.example';

const policy = {
  providers: {
    rs: {
      issuer: RS_ISS,
      audiences: ['api'],
      jwks: rsJwks,
      algorithms: ['RS256'],
      clock_skew_seconds: 60,
      max_lifetime_seconds: 86400,
      required_claims: ['sub'],
    },
    ec: {
      issuer: EC_ISS,
      audiences: ['api'],
      // RS256 is allowed here on purpose: the key set has no RSA key (key_mismatch).
      jwks: ecJwks,
      algorithms: ['ES256', 'EdDSA', 'RS256'],
      clock_skew_seconds: 60,
      max_age_seconds: 86400,
    },
    hs: {
      issuer: HS_ISS,
      audiences: ['api'],
      // The key set as a JSON string: the other accepted form.
      jwks: JSON.stringify(hsJwks),
      allow_hmac: true,
      algorithms: ['HS256'],
      clock_skew_seconds: 60,
      subjects: ['user-1', 'user-2'],
    },
  },
  rules: [
    { prefix: '/admin', requires: 'rs', claim_rules: [{ claim: 'roles', contains: 'admin' }] },
    { prefix: '/rs/', requires: 'rs' },
    { prefix: '/ec/', requires: 'ec' },
    { prefix: '/', requires: ['rs', 'ec', 'hs'] },
  ],
  deny: { jti: ['revoked-1'], sub: ['banned-user'] },
  limits: { max_token_bytes: 4096 },
};

const base = (iss) => ({ iss, aud: 'api', sub: 'user-1', iat: NOW - 600, exp: NOW + HOUR });

async function sign(payload, key, header) {
  return new jose.SignJWT(payload).setProtectedHeader({ typ: 'JWT', ...header }).sign(key);
}
const rs = (payload, header = {}) => sign(payload, rsa.privateKey, { alg: 'RS256', kid: 'rs-1', ...header });
const es = (payload, header = {}) => sign(payload, ec.privateKey, { alg: 'ES256', kid: 'ec-1', ...header });
const eddsa = (payload, header = {}) => sign(payload, ed.privateKey, { alg: 'EdDSA', kid: 'ed-1', ...header });
const hs = (payload, header = {}) => sign(payload, hmacSecret, { alg: 'HS256', kid: 'hs-1', ...header });

const otherRsa = await pair('RS256', { modulusLength: 2048 });
const goodRs = await rs(base(RS_ISS));
const [h, p] = goodRs.split('.');
const foreignSig = (await sign(base(RS_ISS), otherRsa.privateKey, { alg: 'RS256', kid: 'rs-1' })).split('.')[2];

// Each case: the token, the request path the verifier is asked about, and the
// expected verdict: "ok" (with the provider) or the error code. Paths under /rs/
// and /ec/ admit one provider; /api admits all three, so a case there is only
// used when the verdict cannot depend on which provider is tried first (the
// token gets past key selection and the signature with exactly one provider).
const cases = [
  { name: 'RS256 token, all claims good', token: goodRs, path: '/api', expect: 'ok', provider: 'rs' },
  { name: 'ES256 token, all claims good', token: await es(base(EC_ISS)), path: '/api', expect: 'ok', provider: 'ec' },
  { name: 'EdDSA token, all claims good', token: await eddsa(base(EC_ISS)), path: '/api', expect: 'ok', provider: 'ec' },
  { name: 'HS256 token, provider allows HMAC', token: await hs(base(HS_ISS)), path: '/api', expect: 'ok', provider: 'hs' },
  {
    name: 'expired 30 s ago, inside the 60 s clock skew',
    token: await rs({ ...base(RS_ISS), exp: NOW - 30 }),
    path: '/api',
    expect: 'ok',
    provider: 'rs',
  },
  { name: 'expired an hour ago', token: await rs({ ...base(RS_ISS), exp: NOW - HOUR }), path: '/api', expect: 'expired' },
  { name: 'nbf an hour ahead', token: await rs({ ...base(RS_ISS), nbf: NOW + HOUR }), path: '/api', expect: 'not_yet_valid' },
  {
    name: 'iat an hour ahead',
    token: await rs({ ...base(RS_ISS), iat: NOW + HOUR, exp: NOW + 2 * HOUR }),
    path: '/api',
    expect: 'issued_in_future',
  },
  {
    name: 'lifetime of two days, policy allows one',
    token: await rs({ ...base(RS_ISS), iat: NOW - HOUR, exp: NOW + 47 * HOUR }),
    path: '/api',
    expect: 'lifetime_too_long',
  },
  { name: 'issuer of no provider', token: await rs({ ...base('https://evil.example') }), path: '/api', expect: 'wrong_issuer' },
  { name: 'audience not accepted', token: await rs({ ...base(RS_ISS), aud: 'other' }), path: '/api', expect: 'wrong_audience' },
  {
    name: 'required claim sub absent',
    token: await rs({ iss: RS_ISS, aud: 'api', iat: NOW - 600, exp: NOW + HOUR }),
    path: '/api',
    expect: 'missing_claim',
  },
  { name: 'exp is a string', token: await rs({ ...base(RS_ISS), exp: String(NOW + HOUR) }), path: '/api', expect: 'invalid_claim' },
  { name: 'signature made by another RSA key', token: `${h}.${p}.${foreignSig}`, path: '/rs/x', expect: 'bad_signature' },
  { name: 'kid names no key', token: await rs(base(RS_ISS), { kid: 'rs-404' }), path: '/rs/x', expect: 'unknown_kid' },
  {
    name: 'ES256 token whose kid names the Ed25519 key',
    token: await es(base(EC_ISS), { kid: 'ed-1' }),
    path: '/ec/x',
    expect: 'key_mismatch',
  },
  {
    name: 'alg none, empty signature',
    token: `${b64({ alg: 'none', typ: 'JWT' })}.${b64(base(RS_ISS))}.`,
    path: '/rs/x',
    expect: 'unsupported_alg',
  },
  {
    name: 'crit names an extension nobody implements',
    token: await new jose.SignJWT(base(RS_ISS))
      .setProtectedHeader({ alg: 'RS256', kid: 'rs-1', crit: ['urn:example:ext'], 'urn:example:ext': true })
      .sign(rsa.privateKey, { crit: { 'urn:example:ext': true } }),
    path: '/rs/x',
    expect: 'unsupported_crit',
  },
  { name: 'two segments', token: `${h}.${p}`, path: '/api', expect: 'malformed' },
  { name: 'header is not base64url', token: `${h}*.${p}.${foreignSig}`, path: '/api', expect: 'malformed' },
  {
    name: 'five segments (JWE)',
    token: `${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA`,
    path: '/api',
    expect: 'jwe_unsupported',
  },
  {
    name: 'token over max_token_bytes',
    token: await rs({ ...base(RS_ISS), pad: 'x'.repeat(4096) }),
    path: '/api',
    expect: 'too_large',
  },
  {
    name: 'issued two days ago, policy allows one',
    token: await es({ ...base(EC_ISS), iat: NOW - 48 * HOUR }),
    path: '/api',
    expect: 'too_old',
  },
  { name: 'sub not among the allowed subjects', token: await hs({ ...base(HS_ISS), sub: 'mallory' }), path: '/api', expect: 'wrong_subject' },
  { name: 'sub on the deny list', token: await rs({ ...base(RS_ISS), sub: 'banned-user' }), path: '/api', expect: 'revoked' },
  { name: 'jti on the deny list', token: await rs({ ...base(RS_ISS), jti: 'revoked-1' }), path: '/api', expect: 'revoked' },
  {
    name: '/admin needs role admin, token has none',
    token: await rs({ ...base(RS_ISS), roles: ['reader'] }),
    path: '/admin/users',
    expect: 'claim_rule_failed',
  },
  {
    name: '/admin with role admin',
    token: await rs({ ...base(RS_ISS), roles: ['reader', 'admin'] }),
    path: '/admin/users',
    expect: 'ok',
    provider: 'rs',
  },
];

// Cross-check with jose itself: every "ok" token must pass jose's own verification.
// (jose's key sets hold no HMAC secrets, so the hs provider's secret is given directly.)
const keyOf = { rs: jose.createLocalJWKSet(rsJwks), ec: jose.createLocalJWKSet(ecJwks), hs: hmacSecret };
for (const c of cases.filter((c) => c.expect === 'ok')) {
  const p = policy.providers[c.provider];
  await jose.jwtVerify(c.token, keyOf[c.provider], {
    issuer: p.issuer,
    audience: p.audiences,
    currentDate: new Date(NOW * 1000),
    clockTolerance: p.clock_skew_seconds,
  });
}

const out = {
  description:
    'Fixed tokens (signed by jose) and hand-written verdicts at a fixed clock. Every jwtgate front end must agree. Regenerate with: node tests/vectors/gen.mjs',
  now: NOW,
  policy,
  cases,
};
writeFileSync(new URL('./verdicts.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
console.log(`wrote ${cases.length} cases to tests/vectors/verdicts.json`);
