// The attack suite through the npm package: every case of
// tests/fixtures/tokens/cases.json (tokens minted by PyJWT; the Rust core tests
// check the same file) with tests/fixtures/tokens/policy.json, through three
// signature paths: node:crypto (verify), WebCrypto (verifyAsync with
// hostCrypto "webcrypto"), both in the default module, and pure Rust
// ("signature_verifier": "rust", in jwtgate/full: the default module has no
// pure-Rust RSA/ECDSA).
// One core, one answer: every verdict must be the case's `expect`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createVerifier } from 'jwtgate';
import { createVerifier as createFullVerifier } from 'jwtgate/full';

const fixture = (name) => JSON.parse(readFileSync(new URL(`../../tests/fixtures/tokens/${name}`, import.meta.url), 'utf8'));
const policy = fixture('policy.json');
const { cases } = fixture('cases.json');

/** Counts WebCrypto's signature checks, to show the WebCrypto path is really taken. */
let webCryptoChecks = 0;
const subtle = {
  importKey: (...args) => crypto.subtle.importKey(...args),
  verify: (...args) => {
    webCryptoChecks++;
    return crypto.subtle.verify(...args);
  },
};

const paths = {
  'node:crypto': { verifier: createVerifier(policy), verify: (v, token, options) => v.verify(token, options) },
  WebCrypto: {
    verifier: createVerifier(policy, { hostCrypto: 'webcrypto', subtle }),
    verify: (v, token, options) => v.verifyAsync(token, options),
  },
  'pure Rust': {
    verifier: createFullVerifier({ ...policy, signature_verifier: 'rust' }),
    verify: (v, token, options) => v.verify(token, options),
  },
};

async function verdict({ verifier, verify }, c) {
  try {
    await verify(verifier, c.token, { now: c.now, path: c.path });
    return 'ok';
  } catch (err) {
    if (typeof err?.code !== 'string') throw err;
    return err.code;
  }
}

test('the suite is the one the Rust core checks, and covers accepted and refused tokens', () => {
  assert.ok(cases.length >= 60, `${cases.length} cases`);
  assert.ok(cases.some((c) => c.expect === 'ok'));
  assert.ok(new Set(cases.map((c) => c.expect)).size >= 15);
});

for (const [name, path] of Object.entries(paths)) {
  test(`attack suite, ${name}: every verdict is the expected one`, async () => {
    const wrong = [];
    for (const c of cases) {
      const got = await verdict(path, c);
      if (got !== c.expect) wrong.push(`${c.name}: got ${got}, expected ${c.expect}`);
    }
    assert.deepEqual(wrong, []);
    assert.equal(path.verifier.signatureChecker, name, 'the path taken');
    // The weak (1024-bit) RSA key is skipped by the core, whichever the path.
    assert.ok(path.verifier.warnings.some((w) => w.includes('kid "weak"')));
  });
}

/** The token's header alg, or undefined when the header does not parse. */
function alg(token) {
  try {
    return JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).alg;
  } catch {
    return undefined;
  }
}

test('the WebCrypto path asked WebCrypto (the self-test, then every accepted RSA and ECDSA token)', () => {
  const accepted = cases.filter((c) => c.expect === 'ok' && /^(RS|PS|ES)/.test(alg(c.token)));
  assert.ok(accepted.length >= 9, `${accepted.length} accepted RSA/ECDSA tokens`);
  assert.ok(webCryptoChecks >= 4 + accepted.length, `${webCryptoChecks} WebCrypto checks`);
});
