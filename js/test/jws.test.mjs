// verifyJws: the core's JWS operation (any payload, one JWK or a JWK set), with
// tokens signed by `jose` and every vector of Wycheproof's
// json_web_signature_test.json, with the expectations of tests/wycheproof_jws.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createVerifier, JwtError, verifyJws } from 'jwtgate';
import { ALL_ALGS, NOW, b64json, flipSignatureBit, jose, keyFor, policyFor, sign } from './helpers.mjs';

/** Asserts `fn` throws a JwtError with `code`, and returns it. */
function throwsCode(fn, code) {
  let caught;
  assert.throws(fn, (err) => {
    caught = err;
    return err instanceof JwtError && err.code === code;
  });
  return caught;
}

/** Signs raw bytes (not a JWT) with `key` from keyFor; `header` is merged over { alg, kid }. */
function signBytes(key, payload, header = {}) {
  return new jose.CompactSign(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.signingKey);
}

const keys = Object.fromEntries(await Promise.all(ALL_ALGS.map(async (alg) => [alg, await keyFor(alg)])));
const every = new Uint8Array(256).map((_, i) => i);
const PAYLOADS = {
  'every byte value': every,
  'invalid UTF-8': Uint8Array.of(0xff, 0xfe, 0xc3, 0x28, 0x00),
  'a JSON string, not an object': new TextEncoder().encode('"not claims"'),
  '1 byte': Uint8Array.of(0),
  '2 bytes': Uint8Array.of(0xfb, 0xff),
};

for (const alg of ALL_ALGS) {
  test(`${alg}: non-JSON payloads come back byte for byte`, async () => {
    const key = keys[alg];
    for (const [what, payload] of Object.entries(PAYLOADS)) {
      const token = await signBytes(key, payload);
      const verified = verifyJws(token, key.jwk);
      assert.ok(verified.payload instanceof Uint8Array, what);
      assert.deepEqual(verified.payload, payload, what);
      assert.deepEqual(verified.header, { alg, kid: key.kid }, what);
    }
  });
}

test('the empty payload verifies and comes back empty', async () => {
  const key = keys.EdDSA;
  const verified = verifyJws(await signBytes(key, new Uint8Array()), key.jwk);
  assert.deepEqual(verified.payload, new Uint8Array());
});

test('the key may be given as JSON text, and a single JWK or a set', async () => {
  const key = keys.ES256;
  const token = await signBytes(key, every);
  assert.deepEqual(verifyJws(token, JSON.stringify(key.jwk)).payload, every);
  assert.deepEqual(verifyJws(token, { keys: [key.jwk] }).payload, every);
  assert.deepEqual(verifyJws(token, JSON.stringify({ keys: [key.jwk] })).payload, every);
});

test('a JWT verifies with verifyJws as with a Verifier: same header, the claims as payload bytes', async () => {
  const key = keys.PS256;
  const token = await sign(key);
  const verified = createVerifier(policyFor([key])).verify(token, { now: NOW });
  const jws = verifyJws(token, key.jwk);
  assert.deepEqual(jws.header, verified.header);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(jws.payload)), verified.claims);
});

test('a JWK set with several keys: the kid picks the key, and without kid every fitting key is tried', async () => {
  const rsA = await keyFor('RS256', 'rs-a');
  const rsB = await keyFor('RS256', 'rs-b');
  const set = { keys: [rsA.jwk, rsB.jwk, keys.ES384.jwk, keys.EdDSA.jwk, keys.HS512.jwk] };
  for (const key of [rsA, rsB, keys.ES384, keys.EdDSA, keys.HS512]) {
    const payload = new TextEncoder().encode(`signed by ${key.kid}`);
    const verified = verifyJws(await signBytes(key, payload), set);
    assert.equal(verified.header.kid, key.kid);
    assert.deepEqual(verified.payload, payload);
  }
  // Without a kid: rs-b's token is tried against rs-a, then rs-b.
  assert.deepEqual(verifyJws(await signBytes(rsB, every, { kid: undefined }), set).payload, every);
  // The kid names the other RSA key: only that key is tried.
  const rsAasB = await signBytes(rsA, every, { kid: 'rs-b' });
  throwsCode(() => verifyJws(rsAasB, set), 'bad_signature');
});

test('error codes: malformed, jwe_unsupported, unsupported_alg, unsupported_crit, unknown_kid, key_mismatch, bad_signature', async () => {
  const rs = keys.RS256;
  const es = keys.ES256;
  const set = { keys: [rs.jwk, es.jwk] };
  throwsCode(() => verifyJws('only.two', set), 'malformed');
  throwsCode(() => verifyJws(`${b64json({ alg: 'RS256' })}.AA.A+`, set), 'malformed');
  throwsCode(() => verifyJws(`${b64json({ alg: 'RSA-OAEP', enc: 'A128GCM' })}.AA.AAAA.AA.AAAA`, set), 'jwe_unsupported');
  throwsCode(() => verifyJws(`${b64json({ alg: 'none' })}.${b64json({})}.`, set), 'unsupported_alg');
  throwsCode(() => verifyJws(`${b64json({ alg: 'none', kid: rs.kid })}.AAEC.`, set), 'unsupported_alg');
  const crit = await new jose.CompactSign(every)
    .setProtectedHeader({ alg: 'RS256', kid: rs.kid, crit: ['urn:x'], 'urn:x': 1 })
    .sign(rs.signingKey, { crit: { 'urn:x': true } });
  throwsCode(() => verifyJws(crit, set), 'unsupported_crit');
  const unknownKid = await signBytes(rs, every, { kid: 'nope' });
  throwsCode(() => verifyJws(unknownKid, set), 'unknown_kid');
  // An ES256 token whose kid names the RSA key: the key exists but cannot check ES256.
  const esAsRs = await signBytes(es, every, { kid: rs.kid });
  throwsCode(() => verifyJws(esAsRs, set), 'key_mismatch');
  // HS256 signed with the RSA public key (algorithm confusion): no key of the set fits HS256.
  const pem = new TextEncoder().encode(await jose.exportSPKI(rs.publicKey));
  const confused = await new jose.CompactSign(every).setProtectedHeader({ alg: 'HS256' }).sign(pem);
  throwsCode(() => verifyJws(confused, set), 'key_mismatch');
  const flippedRs = flipSignatureBit(await signBytes(rs, every));
  throwsCode(() => verifyJws(flippedRs, set), 'bad_signature');
  const flippedEs = flipSignatureBit(await signBytes(es, every));
  throwsCode(() => verifyJws(flippedEs, es.jwk), 'bad_signature');
});

test('error codes: invalid_key when the key set has no usable key, with every key problem', async () => {
  const token = await signBytes(keys.RS256, every);
  const forEncryption = { ...keys.RS256.jwk, use: 'enc' };
  const err = throwsCode(() => verifyJws(token, { keys: [forEncryption, { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA' }] }), 'invalid_key');
  assert.match(err.message, /use/);
  throwsCode(() => verifyJws(token, { keys: [] }), 'invalid_key');
  const { privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const privateJwk = await jose.exportJWK(privateKey);
  const priv = throwsCode(() => verifyJws(token, privateJwk), 'invalid_key');
  assert.match(priv.message, /private key material/);
  // Not JSON, or not a key set at all, is malformed; too many keys is too_large.
  throwsCode(() => verifyJws(token, '{"keys":'), 'malformed');
  throwsCode(() => verifyJws(token, { kid: 'x' }), 'malformed');
  throwsCode(() => verifyJws(token, { keys: Array(65).fill(keys.RS256.jwk) }), 'too_large');
});

test('type errors are TypeErrors, not JwtErrors', () => {
  assert.throws(() => verifyJws(42, keys.RS256.jwk), TypeError);
  assert.throws(() => verifyJws('a.b.c'), TypeError);
  assert.throws(() => verifyJws('a.b.c', null), TypeError);
  assert.throws(() => verifyJws('a.b.c', 7), TypeError);
});

// ---------------------------------------------------------------------------
// Wycheproof json_web_signature_test.json, as tests/wycheproof_jws.rs runs it.

const VECTORS = new URL('../../../shared/vectors/wycheproof/json_web_signature_test.json', import.meta.url);

/** `valid` vectors refused on purpose, with the code they fail with (see tests/wycheproof_jws.rs). */
const DIFFERENCES = new Map([
  [346, 'key_mismatch'], // RFC 7520 Figure 20: PS384 token, JWK "alg":"PS256"
  [350, 'key_mismatch'], // same, with key_ops ["verify"]
  [347, 'invalid_key'], // RFC 7520 Figure 27: JWK "alg":"ES521" is not a JWS algorithm
  [351, 'invalid_key'], // same, with key_ops ["verify"]
  [372, 'malformed'], // a character outside base64url inserted in the header
  [373, 'malformed'], // same, in the payload
]);

/** `invalid` vectors identical to a `valid` one: (tcId, the segment meant to be padded). */
const DEFECTIVE = new Map([
  [367, 2],
  [370, 1],
]);

/** tcIds of JSON-serialized vectors (not applicable to a compact verifier). */
const NOT_APPLICABLE = [17];

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth'];

/** Strict, canonical, unpadded base64url, as the core decodes it; undefined otherwise. */
function strictBase64url(segment) {
  if (!/^[A-Za-z0-9_-]*$/.test(segment) || segment.length % 4 === 1) return undefined;
  const bytes = Buffer.from(segment, 'base64url');
  return bytes.toString('base64url') === segment ? bytes : undefined;
}

function headerAlg(token) {
  const bytes = strictBase64url(token.split('.')[0]);
  try {
    return bytes && JSON.parse(bytes.toString('utf8')).alg;
  } catch {
    return undefined;
  }
}

/** The key a verifier is configured with: the public JWK, or the oct private JWK without private members. */
function verifierKey(group) {
  const priv = group.private;
  if (priv && PRIVATE_MEMBERS.some((m) => m in priv)) {
    const err = throwsCode(() => verifyJws('a.b.c', priv), 'invalid_key');
    assert.match(err.message, /private key material/, `${group.comment}: the private JWK as given is refused`);
  }
  if (group.public && typeof group.public === 'object') return group.public;
  return Object.fromEntries(Object.entries(priv).filter(([m]) => !PRIVATE_MEMBERS.includes(m)));
}

/** The whole operation; returns undefined (accepted) or the JwtError. */
function run(key, token) {
  try {
    const { payload } = verifyJws(token, key);
    assert.deepEqual(payload, new Uint8Array(Buffer.from(token.split('.')[1], 'base64url')), 'the payload is the token payload');
    return undefined;
  } catch (err) {
    if (err instanceof JwtError) return err;
    throw err;
  }
}

/** Security vectors must be refused for the right reason (the same rules as the Rust test). */
function requiredCode(category, t, token) {
  const flags = t.flags ?? [];
  const alg = headerAlg(token);
  if (flags.includes('AlgIsNone') || alg === 'none') return 'unsupported_alg';
  if (t.comment.includes('SymmetryConfusion')) return 'key_mismatch';
  if (t.comment.includes('EmbeddedJwk')) return 'bad_signature';
  if (flags.includes('WrongPrimitive')) return alg === 'PS512' ? 'bad_signature' : 'key_mismatch';
  if (category === 'rsa_encryption' || category === 'ec_key_for_encryption') return 'invalid_key';
  if (
    flags.includes('ModifiedSignature') ||
    flags.includes('ModifiedPadding') ||
    t.comment === 'rejectsModifiedSignature' ||
    t.comment === 'rejectsModifiedPayload'
  ) {
    return 'bad_signature';
  }
  if (t.comment === 'rejectsModifiedHeader') return 'unknown_kid';
  return undefined;
}

test('Wycheproof json_web_signature_test.json: every vector through verifyJws', () => {
  assert.ok(
    existsSync(VECTORS),
    `the Wycheproof vectors are missing: expected ${fileURLToPath(VECTORS)} (see ../shared/vectors/README.md)`,
  );
  const doc = JSON.parse(readFileSync(VECTORS, 'utf8'));
  const unexpected = [];
  const sum = { total: 0, passed: 0, notApplicable: [], differences: [], defective: [], acceptable: [] };
  const refusals = {};

  for (const group of doc.testGroups) {
    const category = group.comment;
    const key = verifierKey(group);
    for (const v of group.tests) {
      const id = v.tcId;
      const token = v.jws;
      const err = run(key, token);
      sum.total++;
      if (err) refusals[err.code] = (refusals[err.code] ?? 0) + 1;
      const fail = (why) => unexpected.push(`tcId ${id} (${category}/${v.comment}, ${v.result}): ${why}`);
      const got = err ? `${err.code}: ${err.message}` : 'accepted';

      if (token.trimStart().startsWith('{')) {
        sum.notApplicable.push(id);
        if (err?.code !== 'malformed') fail(`a JSON-serialized JWS must be refused as malformed, got ${got}`);
        continue;
      }
      if (DEFECTIVE.has(id)) {
        sum.defective.push(id);
        const twin = group.tests.find((o) => o.result === 'valid' && o.jws === token);
        if (!twin || v.result !== 'invalid' || err) fail(`listed as defective, but twin ${twin?.tcId}, ${got}`);
        const parts = token.split('.');
        const segment = DEFECTIVE.get(id);
        while (parts[segment].length % 4 !== 0) parts[segment] += '=';
        const intended = run(key, parts.join('.'));
        if (intended?.code !== 'malformed') fail(`the intended padded token must be refused as malformed, got ${intended?.code ?? 'accepted'}`);
        continue;
      }
      if (DIFFERENCES.has(id)) {
        sum.differences.push(id);
        if (v.result !== 'valid' || err?.code !== DIFFERENCES.get(id)) {
          fail(`listed as a deliberate difference (refused with ${DIFFERENCES.get(id)}), got ${got}`);
        }
        continue;
      }
      if (v.result === 'acceptable') {
        sum.acceptable.push(id);
        fail(`acceptable vectors are pinned in tests/wycheproof_jws.rs; this one is new (${got})`);
      } else if (v.result === 'valid') {
        if (err) fail(`refused: ${got}`);
        else sum.passed++;
      } else if (v.result === 'invalid') {
        const code = requiredCode(category, v, token);
        if (!err) fail('ACCEPTED');
        else if (code && code !== err.code) fail(`refused, but with ${err.code} instead of ${code}: ${err.message}`);
        else sum.passed++;
      } else {
        fail(`unknown result ${v.result}`);
      }
    }
  }

  const codes = Object.entries(refusals)
    .sort()
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  const line =
    `wycheproof json_web_signature_test.json via verifyJws: ${sum.passed} passed of ${sum.total}, ` +
    `${sum.notApplicable.length} not applicable, ${sum.differences.length} deliberate differences, ` +
    `${sum.defective.length} defective, ${sum.acceptable.length} acceptable, ${unexpected.length} unexpected; refused with ${codes}`;
  console.log(line);

  assert.deepEqual(unexpected, [], `${unexpected.length} unexpected results:\n${unexpected.join('\n')}`);
  assert.equal(sum.total, doc.numberOfTests, 'not every vector ran');
  assert.equal(
    sum.passed + sum.notApplicable.length + sum.differences.length + sum.defective.length + sum.acceptable.length,
    sum.total,
    'counts do not add up',
  );
  assert.deepEqual(sum.notApplicable, NOT_APPLICABLE);
  assert.deepEqual([...sum.differences].sort((a, b) => a - b), [...DIFFERENCES.keys()].sort((a, b) => a - b));
  assert.deepEqual(sum.defective, [...DEFECTIVE.keys()]);
});
