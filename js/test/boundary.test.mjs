// What verify() and decode() return is the token's own JSON: the core parses
// the header and payload strictly, then splices that same text into its one
// result (src/js.rs, with_token_json) and the package makes one JSON.parse of
// it. So the values are an independent decoder's (jose's decodeJwt and
// decodeProtectedHeader, on the same token), and what the core refuses keeps
// the core's code. Tokens are HMAC-signed over exact header and payload text
// (node:crypto createHmac), so the JSON can be written as a sender might.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createVerifier, decode } from 'jwtgate';
import { AUD, ISS, NOW, claims, jose, keyFor, policyFor, errorCode } from './helpers.mjs';

const b64 = (text) => Buffer.from(text, 'utf8').toString('base64url');

/** An HS256 token over exactly `headerText` and `payloadText`. */
function rawToken(key, headerText, payloadText) {
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  const mac = createHmac('sha256', Buffer.from(key.jwk.k, 'base64url')).update(input).digest('base64url');
  return `${input}.${mac}`;
}

const header = (kid) => ` { "typ" : "JWT", "alg":"HS256",\n "kid": "${kid}" } `;
const PAYLOADS = [
  JSON.stringify(claims()),
  // Whitespace, escapes, non-ASCII, integers beyond 2^53, exponents, -0,
  // nesting, an empty member name, and `__proto__` as a plain member.
  ` {"iss":"${ISS}", "aud":["${AUD}","other"], "sub":"u\\u00e9\\ud83d\\ude00\\"\\\\\\/ Zoë \u{1F600} \u2028",
    "iat":${NOW - 60}, "exp":${NOW + 3600}, "big":123456789012345678901234567890, "huge":-18446744073709551616,
    "e":1E2, "frac":0.30000000000000004, "neg":-0, "":"empty", "__proto__":{"admin":true},
    "nested":{"a":[{"b":null},[],{}],"c":false}} `,
];


test('decode and verify give what jose decodes from the same token', async () => {
  const key = await keyFor('HS256');
  const cached = createVerifier(policyFor([key], {}, { cache: { enabled: true } }));
  const uncached = createVerifier(policyFor([key], {}, { cache: { enabled: false } }));
  for (const payload of PAYLOADS) {
    const token = rawToken(key, header(key.kid), payload);
    const expected = { header: jose.decodeProtectedHeader(token), payload: jose.decodeJwt(token) };
    const decoded = decode(token, { now: NOW });
    assert.deepStrictEqual({ header: decoded.header, payload: decoded.payload }, expected);
    assert.ok(Array.isArray(decoded.warnings));
    for (const verifier of [cached, uncached]) {
      for (let i = 0; i < 2; i++) {
        const result = verifier.verify(token, { now: NOW });
        assert.equal(result.provider, 'main');
        assert.deepStrictEqual(result.header, expected.header);
        assert.deepStrictEqual(result.claims, expected.payload);
      }
    }
  }
});

test('`__proto__` in the claims is a plain member, not a prototype', async () => {
  const key = await keyFor('HS256');
  const token = rawToken(key, header(key.kid), PAYLOADS[1]);
  const results = [decode(token).payload, createVerifier(policyFor([key])).verify(token, { now: NOW }).claims];
  for (const claimSet of results) {
    assert.equal(Object.getPrototypeOf(claimSet), Object.prototype);
    assert.ok(Object.hasOwn(claimSet, '__proto__'));
    assert.deepStrictEqual(claimSet.__proto__, { admin: true }); // eslint-disable-line no-proto
    assert.equal(claimSet.admin, undefined);
    assert.equal(claimSet.big, 123456789012345678901234567890);
    assert.ok(Object.is(claimSet.neg, -0));
  }
});

test('what the core refuses keeps its code: duplicate members, depth, base64url, JWE', async () => {
  const key = await keyFor('HS256');
  const verifier = createVerifier(policyFor([key], {}, { limits: { max_json_depth: 4 } }));
  const ok = JSON.stringify(claims());
  const cases = [
    ['a duplicate claim', rawToken(key, header(key.kid), `${ok.slice(0, -1)},"sub":"admin"}`), 'malformed', 'malformed'],
    ['a duplicate nested member', rawToken(key, header(key.kid), `${ok.slice(0, -1)},"x":{"a":1,"a":2}}`), 'malformed', 'malformed'],
    ['a duplicate header member', rawToken(key, `{"alg":"HS256","kid":"${key.kid}","alg":"HS256"}`, ok), 'malformed', 'malformed'],
    ['nesting past the limit', rawToken(key, header(key.kid), `${ok.slice(0, -1)},"x":${'['.repeat(80)}${']'.repeat(80)}}`), 'too_large', 'too_large'],
    ['trailing text', rawToken(key, header(key.kid), `${ok} {}`), 'malformed', 'malformed'],
    ['padding', `${rawToken(key, header(key.kid), ok)}=`, 'malformed', 'malformed'],
    ['a JWE', 'a.b.c.d.e', 'jwe_unsupported', 'jwe_unsupported'],
    ['not JSON', rawToken(key, header(key.kid), 'hello'), 'malformed', 'malformed'],
    ['a payload that is not an object', rawToken(key, header(key.kid), '[1]'), 'ok', 'malformed'],
  ];
  for (const [what, token, decodeCode, verifyCode] of cases) {
    assert.equal(errorCode(() => decode(token)), decodeCode, `decode: ${what}`);
    assert.equal(errorCode(() => verifier.verify(token, { now: NOW })), verifyCode, `verify: ${what}`);
  }
  // jose takes the last of duplicate members; the core refuses the token instead.
  assert.equal(jose.decodeJwt(cases[0][1]).sub, 'admin');
});

test('long and non-ASCII tokens: the same verdicts and values through the token buffer and past it', async () => {
  const key = await keyFor('HS256');
  const verifier = createVerifier(policyFor([key], {}, { limits: { max_token_bytes: 1 << 20 } }));
  const long = (size) => rawToken(key, header(key.kid), JSON.stringify(claims({ blob: 'x'.repeat(size) })));
  // About 20 KB (in the module's token buffer) and about 100 KB (past it: passed as a string).
  for (const token of [long(15000), long(75000)]) {
    assert.deepStrictEqual(verifier.verify(token, { now: NOW }).claims, jose.decodeJwt(token));
  }
  // decode keeps the default limits (8 KB).
  assert.deepStrictEqual(decode(long(5000)).payload, jose.decodeJwt(long(5000)));
  assert.equal(errorCode(() => decode(long(75000))), 'too_large');
  // Text a JWS never holds: refused with the core's code, whether it fits the buffer or not.
  const strict = createVerifier(policyFor([key]));
  for (const [token, expected] of [
    ['é.é.é', 'malformed'],
    [`${'\u{1F600}'.repeat(3000)}.a.b`, 'too_large'], // 12 KB of UTF-8 in 6,000 UTF-16 units
    [`${'€'.repeat(30000)}.a.b`, 'too_large'], // 90 KB of UTF-8: past the buffer
    ['\ud800.a.b', 'malformed'], // a lone surrogate arrives as U+FFFD, as wasm-bindgen passes it
  ]) {
    assert.equal(errorCode(() => decode(token)), expected, token.slice(0, 12));
    assert.equal(errorCode(() => strict.verify(token, { now: NOW })), expected, token.slice(0, 12));
  }
});
