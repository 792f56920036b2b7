// Host crypto against the pure-Rust reference, on Project Wycheproof's RSA
// PKCS#1 v1.5, RSA-PSS (the JWS parameters), ECDSA (raw r || s), Ed25519 and
// HMAC vectors (../shared/vectors/wycheproof/, as tests/wycheproof.rs reads them).
//
// For each vector, three answers: the reference (`referenceSignatureCheck`, a
// test hook running the core's check_format + verify_signature with the key
// parsed from the group's JWK as a policy's keys are), and the answers of the
// package's own host objects, node:crypto (src/node-crypto.js) and WebCrypto
// (src/webcrypto.js), on the key prepared from the SPKI DER the core gives
// them (no host is given an HMAC secret: for `oct` keys pure Rust decides
// alone, and the vectors hold it to Wycheproof's verdicts). The core
// asks a host only after check_format passed, so hosts are only compared there
// (HMAC keys shorter than the hash and truncated tags are refused there, RFC
// 7518 §3.2, whatever Wycheproof calls them). A host that accepts what the reference refuses would be a
// forgery the fallback cannot catch: that must never happen. Any other
// disagreement fails too, and Wycheproof's valid/invalid must hold on every path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import 'jwtgate/full'; // loads the module with the pure-Rust reference
import { referenceSignatureCheck } from '../full/pkg/jwtgate.js';
import { nodeCrypto } from '../src/node-crypto.js';
import { webCryptoHost } from '../src/webcrypto.js';

const dir = new URL('../../../shared/vectors/wycheproof/', import.meta.url);
if (!existsSync(dir)) {
  throw new Error(`the Wycheproof vectors are missing: expected the directory ${fileURLToPath(dir)} (see ../shared/vectors/README.md)`);
}

function load(file) {
  const path = new URL(file, dir);
  assert.ok(existsSync(path), `missing Wycheproof file ${fileURLToPath(path)}`);
  return JSON.parse(readFileSync(path, 'utf8'));
}

const hex = (s) => Uint8Array.from(Buffer.from(s, 'hex'));
const b64u = (s) => Uint8Array.from(Buffer.from(s, 'base64url'));

const rsaJwk = (jwk) => ({ kty: 'RSA', n: jwk.n, e: jwk.e });

/** A group's EC key as a JWK; edge-case groups have only hex coordinates (ASN.1 integers). */
function ecJwk(group) {
  if (group.publicKeyJwk) {
    const { crv, x, y } = group.publicKeyJwk;
    return { kty: 'EC', crv, x, y };
  }
  const { curve, wx, wy } = group.publicKey;
  const [crv, size] = { secp256r1: ['P-256', 32], secp384r1: ['P-384', 48], secp521r1: ['P-521', 66] }[curve];
  const fixed = (h) => {
    const digits = Buffer.from(h, 'hex');
    const start = digits.findIndex((b) => b !== 0);
    const trimmed = start < 0 ? Buffer.alloc(0) : digits.subarray(start);
    return Buffer.concat([Buffer.alloc(Math.max(0, size - trimmed.length)), trimmed]).toString('base64url');
  };
  return { kty: 'EC', crv, x: fixed(wx), y: fixed(wy) };
}

/** Per-vector key and signature for MAC files: the key is in each test. */
const mac = { jwkOf: (t) => ({ kty: 'oct', k: Buffer.from(t.key, 'hex').toString('base64url') }), sigOf: (t) => t.tag };

const FILES = [
  ['rsa_signature_2048_sha256_test.json', 'RS256', (g) => rsaJwk(g.keyJwk)],
  ['rsa_signature_2048_sha384_test.json', 'RS384', (g) => rsaJwk(g.keyJwk)],
  ['rsa_signature_2048_sha512_test.json', 'RS512', (g) => rsaJwk(g.keyJwk)],
  ['rsa_pss_2048_sha256_mgf1_32_test.json', 'PS256', (g) => rsaJwk(g.publicKeyJwk), ['SHA-256', 32]],
  ['rsa_pss_4096_sha384_mgf1_48_test.json', 'PS384', (g) => rsaJwk(g.publicKeyJwk), ['SHA-384', 48]],
  ['rsa_pss_4096_sha512_mgf1_64_test.json', 'PS512', (g) => rsaJwk(g.publicKeyJwk), ['SHA-512', 64]],
  ['ecdsa_secp256r1_sha256_p1363_test.json', 'ES256', ecJwk],
  ['ecdsa_secp384r1_sha384_p1363_test.json', 'ES384', ecJwk],
  ['ecdsa_secp521r1_sha512_p1363_test.json', 'ES512', ecJwk],
  ['ed25519_test.json', 'EdDSA', (g) => ({ kty: 'OKP', crv: 'Ed25519', x: g.publicKeyJwk.x })],
  ['hmac_sha256_test.json', 'HS256', undefined, undefined, mac],
  ['hmac_sha384_test.json', 'HS384', undefined, undefined, mac],
  ['hmac_sha512_test.json', 'HS512', undefined, undefined, mac],
];

const HOSTS = ['node:crypto', 'WebCrypto'];
const rows = [];

for (const [file, alg, jwkOf, pss, perTest] of FILES) {
  const what = perTest ? 'pure Rust alone (no host is given an HMAC secret) holds every verdict' : 'node:crypto, WebCrypto and pure Rust agree on every vector';
  test(`${file} (${alg}): ${what}`, async () => {
    const doc = load(file);
    const tally = { vectors: 0, keyRefused: 0, formatRefused: 0, compared: 0, pureRustOnly: 0, declined: { 'node:crypto': 0, WebCrypto: 0 } };
    const problems = [];
    const acceptableDiffs = [];
    const node = nodeCrypto();
    const web = webCryptoHost(crypto.subtle);
    for (const group of doc.testGroups) {
      if (pss) {
        // JWS PS* (RFC 7518 §3.5): MGF1 with the same hash, salt length = hash length.
        const [sha, sLen] = pss;
        assert.ok(group.sha === sha && group.mgf === 'MGF1' && group.mgfSha === sha && group.sLen === sLen, `${file}: a group with other PSS parameters`);
      }
      const groupJwk = perTest ? undefined : JSON.stringify(jwkOf(group));
      const handles = {};
      for (const t of group.tests) {
        tally.vectors++;
        const jwk = groupJwk ?? JSON.stringify(perTest.jwkOf(t));
        const msg = hex(t.msg);
        const sig = hex(perTest ? perTest.sigOf(t) : t.sig);
        const where = `tcId ${t.tcId} (${t.result}, ${t.comment || 'no comment'}, ${t.flags?.join(' ') ?? ''})`;
        let reference;
        try {
          reference = JSON.parse(referenceSignatureCheck(alg, jwk, msg, sig));
        } catch (e) {
          // A key the core refuses is never prepared: no host is asked.
          tally.keyRefused++;
          if (t.result === 'valid') problems.push(`${where}: the key is refused (${e}) but the vector is valid`);
          continue;
        }
        const verdicts = { 'pure Rust': reference.valid };
        if (!reference.format) {
          tally.formatRefused++; // refused before any host would be asked
          if (perTest) continue; // an HMAC key or tag jwtgate refuses by policy (RFC 7518 §3.2)
        } else {
          tally.compared++;
          if (perTest) {
            // HMAC: no host is given a secret (src/js.rs, JsHost::handles); pure Rust alone decides.
            assert.ok(reference.secret && !reference.spki, `${file}: an oct key has no SPKI`);
            tally.pureRustOnly++;
          } else if (handles.spki !== reference.spki) {
            assert.ok(reference.spki && !reference.secret, `${file}: a public key has an SPKI`);
            if (group.publicKeyDer) {
              // Wycheproof's own DER of the key: the core's SPKI export must be byte for byte the same.
              assert.equal(Buffer.from(reference.spki, 'base64url').toString('hex'), group.publicKeyDer, `${file}: the SPKI`);
            }
            const spki = b64u(reference.spki);
            const kind = alg === 'EdDSA' ? 'OKP Ed25519' : undefined;
            if (kind) assert.ok(await web.detectEd25519(spki), "Node's WebCrypto has Ed25519");
            Object.assign(handles, { spki: reference.spki, node: node.prepare(spki), web: web.prepare(spki, kind) });
          }
          const answers = perTest ? {} : {
            'node:crypto': handles.node === undefined ? undefined : node.verify(alg, handles.node, msg, sig),
            WebCrypto: await web.check(alg, handles.web, msg, sig),
          };
          for (const host of perTest ? [] : HOSTS) {
            if (answers[host] === undefined) tally.declined[host]++; // pure Rust decides
            verdicts[host] = answers[host] ?? reference.valid;
            if (answers[host] === true && !reference.valid) {
              problems.push(`${where}: ${host} ACCEPTS a signature the pure-Rust reference refuses`);
            } else if (answers[host] !== undefined && answers[host] !== reference.valid) {
              (t.result === 'acceptable' ? acceptableDiffs : problems).push(
                `${where}: ${host} says ${answers[host]}, pure Rust ${reference.valid}`,
              );
            }
          }
        }
        for (const [path, accepted] of Object.entries(verdicts)) {
          if ((t.result === 'valid' && !accepted) || (t.result === 'invalid' && accepted)) {
            problems.push(`${where}: ${path} ${accepted ? 'accepts' : 'refuses'} it`);
          }
        }
      }
    }
    rows.push(`| ${file} | ${tally.vectors} | ${tally.compared - tally.pureRustOnly} | ${tally.formatRefused} | ${tally.keyRefused} | ${tally.declined['node:crypto']} / ${tally.declined.WebCrypto} | ${problems.length} | ${acceptableDiffs.length} |`);
    if (acceptableDiffs.length) console.log(`${file}: acceptable vectors where a host differs:\n  ${acceptableDiffs.join('\n  ')}`);
    assert.ok(tally.compared > 0, `${file}: no vector passed check_format`);
    assert.deepEqual(problems, []);
    assert.deepEqual(acceptableDiffs, [], 'a host differs on an acceptable vector');
    // No host takes HMAC secrets: pure Rust checks every HMAC vector.
    assert.equal(tally.pureRustOnly, perTest ? tally.compared : 0);
    assert.deepEqual(tally.declined, { 'node:crypto': 0, WebCrypto: 0 }, 'the hosts answer every vector the core would ask them');
  });
}

test('the counts', () => {
  console.log('| file | vectors | asked of the hosts | refused by check_format | key refused | host declined (node / web) | disagreements | acceptable diffs |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
  assert.equal(rows.length, FILES.length);
});
