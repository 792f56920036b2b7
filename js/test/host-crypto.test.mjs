// node:crypto behind the core's host seam (src/node-crypto.js): the core's
// self-test (RFC 8032 §7.1 known answers, with a must-fail twin) catches a
// broken host, a host only answers for the kind of key it was given, an HMAC
// secret only ever comes from an `oct` key, and HMAC is pure Rust's (the core
// never asks node:crypto about HS*: src/js.rs, JsHost::handles).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { createVerifier, JwtError } from 'jwtgate';
import { JsVerifier, hostProbes } from '../pkg/jwtgate.js';
import 'jwtgate/full'; // loads the full module, for its pure-Rust fallback
import { JsVerifier as FullJsVerifier } from '../full/pkg/jwtgate.js';
import { nodeCrypto } from '../src/node-crypto.js';
import { NOW, b64json, claims, flipSignatureBit, jose, keyFor, policyFor, sign } from './helpers.mjs';

/** The package's node:crypto host with `verify` replaced for one alg family. */
function brokenFor(prefix, answer) {
  const host = nodeCrypto();
  const honest = host.verify;
  host.verify = (alg, ...rest) => (alg.startsWith(prefix) ? answer : honest(alg, ...rest));
  return host;
}

const thrownCode = (fn) => {
  try {
    fn();
  } catch (e) {
    return JSON.parse(e);
  }
  return undefined;
};

for (const [prefix, answer, alg, words] of [
  ['Ed', true, 'EdDSA', 'accepted a bad EdDSA signature'],
  ['Ed', false, 'EdDSA', 'refused a good EdDSA signature'],
]) {
  test(`the self-test catches a node:crypto host that says ${answer} to every ${prefix}* signature`, async () => {
    const key = await keyFor(alg);
    const policy = (choice) => JSON.stringify(policyFor([key], {}, { signature_verifier: choice }));
    // "host": refused at load, naming the probe that failed.
    const error = thrownCode(() => new JsVerifier(policy('host'), brokenFor(prefix, answer)));
    assert.equal(error?.code, 'invalid_config');
    assert.match(error.message, new RegExp(`node:crypto.*self-test.*${words}`));
    // "auto", default module: no pure-Rust RSA/ECDSA to fall back to, refused too.
    const small = thrownCode(() => new JsVerifier(policy('auto'), brokenFor(prefix, answer)));
    assert.equal(small?.code, 'invalid_config');
    assert.match(small.message, new RegExp(`${words}.*no pure-Rust RSA/ECDSA to fall back to; import "jwtgate/full"`));
    // "auto", jwtgate/full: a warning, and pure Rust checks every signature, so
    // the broken host never decides (a forged token is still refused).
    const inner = new FullJsVerifier(policy('auto'), brokenFor(prefix, answer));
    assert.equal(inner.signatureChecker, 'pure Rust');
    assert.match(JSON.parse(inner.warnings()).join('\n'), new RegExp(`${words}.*using pure Rust`));
    const token = await sign(key);
    assert.equal(JSON.parse(inner.verify(token, NOW, undefined))[0], 'main');
    assert.equal(thrownCode(() => inner.verify(flipSignatureBit(token), NOW, undefined))?.code, 'bad_signature');
  });
}

for (const [prefix, answer, alg] of [
  ['HS', true, 'HS256'],
  ['HS512', false, 'HS512'],
]) {
  test(`a node:crypto host that says ${answer} to every ${prefix}* signature is never asked: HMAC is pure Rust's`, async () => {
    const key = await keyFor(alg);
    const inner = new JsVerifier(JSON.stringify(policyFor([key], {}, { signature_verifier: 'host' })), brokenFor(prefix, answer));
    assert.equal(inner.signatureChecker, 'node:crypto');
    assert.deepEqual(JSON.parse(inner.warnings()), []);
    const token = await sign(key);
    assert.equal(JSON.parse(inner.verify(token, NOW, undefined))[0], 'main');
    assert.equal(thrownCode(() => inner.verify(flipSignatureBit(token), NOW, undefined))?.code, 'bad_signature');
  });
}

test('the probes handed to asynchronous hosts: RSA, EC and the RFC 8032 Ed25519 key; no HMAC secret', () => {
  const probes = JSON.parse(hostProbes());
  assert.deepEqual(probes.map((p) => [p.alg, p.kind]), [['RS256', 'RSA'], ['ES256', 'EC P-256'], ['EdDSA', 'OKP Ed25519']]);
  const ed = probes[2];
  // RFC 8032 §7.1 TEST 3: the public key, as an RFC 8410 SubjectPublicKeyInfo.
  const key = createPublicKey({ key: Buffer.from(ed.spki, 'base64url'), format: 'der', type: 'spki' });
  assert.equal(key.asymmetricKeyType, 'ed25519');
  assert.equal(key.export({ format: 'jwk' }).x, Buffer.from('fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025', 'hex').toString('base64url'));
  assert.equal(Buffer.from(ed.message, 'base64url').toString('hex'), 'af82');
  assert.equal(Buffer.from(ed.good, 'base64url').toString('hex').slice(0, 16), '6291d657deec2402');
});

test('a node:crypto handle answers only for its own kind of key', () => {
  const host = nodeCrypto();
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
  const ed = generateKeyPairSync('ed25519').publicKey;
  const der = (k) => k.export({ format: 'der', type: 'spki' });
  const handles = { rsa: host.prepare(der(rsa)), ec: host.prepare(der(ec)), ed: host.prepare(der(ed)) };
  assert.deepEqual(Object.values(handles), [0, 1, 2]);
  const input = Buffer.from('a.b');
  // The classic confusion: an HMAC over the input keyed with the public key's bytes.
  const forged = createHmac('sha256', der(rsa)).update(input).digest();
  for (const [kind, handle] of Object.entries(handles)) {
    for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA', 'HS256']) {
      const fits = { RS: 'rsa', PS: 'rsa', ES: 'ec', Ed: 'ed' }[alg.slice(0, 2)] === kind;
      if (!fits) assert.equal(host.verify(alg, handle, input, forged), undefined, `${alg} with a ${kind} key`);
    }
  }
  assert.equal(host.verify('EdDSA', 99, input, new Uint8Array(64)), undefined, 'an unknown handle');
});

test('an HMAC token keyed with an RSA public key is refused, host crypto on (RFC 8725 §2.1)', async () => {
  const key = await keyFor('RS256');
  const pem = key.publicKey ? await jose.exportSPKI(key.publicKey) : undefined;
  const payload = b64json(claims());
  for (const [alg, secret] of [
    ['HS256', Buffer.from(pem)],
    ['HS256', Buffer.from(JSON.stringify(key.jwk))],
    ['HS512', Buffer.from(key.jwk.n, 'base64url')],
  ]) {
    const header = b64json({ alg, kid: key.kid, typ: 'JWT' });
    const mac = createHmac(`sha${alg.slice(2)}`, secret).update(`${header}.${payload}`).digest('base64url');
    const token = `${header}.${payload}.${mac}`;
    for (const algorithms of [['RS256'], ['RS256', alg]]) {
      const verifier = createVerifier(policyFor([key], { algorithms }));
      assert.equal(verifier.signatureChecker, 'node:crypto');
      assert.throws(() => verifier.verify(token, { now: NOW }), (e) => e instanceof JwtError && ['unsupported_alg', 'key_mismatch', 'unknown_kid', 'invalid_key'].includes(e.code), `${alg} ${algorithms}`);
    }
  }
});

test('node:crypto decides EdDSA, not HMAC: a host saying "no" refuses valid EdDSA tokens only', async () => {
  for (const [alg, prefix, expected] of [['EdDSA', 'Ed', 'bad_signature'], ['HS384', 'HS', undefined]]) {
    const key = await keyFor(alg);
    // Honest on the self-test's probes (their messages), "no" to anything else.
    const host = nodeCrypto();
    const honest = host.verify;
    const probeMessages = new Set(['af82', Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First').toString('hex')]);
    host.verify = (a, h, input, sig) => (a.startsWith(prefix) && !probeMessages.has(Buffer.from(input).toString('hex')) ? false : honest(a, h, input, sig));
    const inner = new JsVerifier(JSON.stringify(policyFor([key])), host);
    assert.equal(inner.signatureChecker, 'node:crypto');
    const token = await sign(key);
    assert.equal(thrownCode(() => inner.verify(token, NOW, undefined))?.code, expected, alg);
  }
});
