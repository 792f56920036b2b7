// verifyAsync: WebCrypto answers the core's signature checks ahead of time, and
// the verdict comes from the one synchronous verification path. In Node it is
// the synchronous node:crypto path unless the verifier is built with
// `hostCrypto: "webcrypto"`, which these tests use to run the browsers' path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createVerifier } from 'jwtgate';
// What needs the pure-Rust RSA/ECDSA (a synchronous verify with no sync host,
// "signature_verifier": "rust", the fallback after a failed self-test) runs
// on jwtgate/full; the default module's refusals there: module-full-*.test.mjs
// and the last test here.
import * as full from 'jwtgate/full';
import { ALL_ALGS, ASYMMETRIC, NOW, claims, flipSignatureBit, keyFor, policyFor, sign } from './helpers.mjs';

const WEBCRYPTO = { hostCrypto: 'webcrypto' };
/** The algorithms WebCrypto checks (Node's WebCrypto has Ed25519); HMAC stays in pure Rust. */
const native = (alg) => /^(RS|PS|ES)/.test(alg) || alg === 'EdDSA';

/**
 * A SubtleCrypto that counts its calls and may rewrite verify's answer;
 * `ed25519: false` plays a runtime without Ed25519 (importKey refuses it).
 */
function spy(rewrite = (valid) => valid, { ed25519 = true } = {}) {
  const calls = { importKey: 0, verify: 0 };
  const subtle = {
    importKey: (...args) => {
      calls.importKey++;
      if (!ed25519 && args[2]?.name === 'Ed25519') return Promise.reject(new DOMException('Unrecognized name.', 'NotSupportedError'));
      return crypto.subtle.importKey(...args);
    },
    verify: async (params, key, signature, data) => {
      calls.verify++;
      return rewrite(await crypto.subtle.verify(params, key, signature, data), data);
    },
  };
  return { subtle, calls };
}

const rejectsWith = (promise, code) => assert.rejects(promise, (err) => err?.name === 'JwtError' && err.code === code);

for (const alg of ALL_ALGS) {
  test(`${alg} verifyAsync with WebCrypto: a jose token verifies; one flipped signature bit does not`, async () => {
    const key = await keyFor(alg);
    const verifier = createVerifier(policyFor([key]), WEBCRYPTO);
    assert.equal(verifier.signatureChecker, 'pure Rust', 'WebCrypto is offered at the first verifyAsync');
    const payload = claims({ scope: 'read' });
    const token = await sign(key, payload);
    const verified = await verifier.verifyAsync(token, { now: NOW });
    assert.equal(verifier.signatureChecker, 'WebCrypto');
    assert.deepEqual(verified, verifier.verify(token, { now: NOW }), 'the same answer as the synchronous (pure-Rust) path');
    assert.deepEqual(verified.claims, payload);
    await rejectsWith(verifier.verifyAsync(flipSignatureBit(token), { now: NOW }), 'bad_signature');
    await rejectsWith(verifier.verifyAsync(token, { now: NOW + 7200 }), 'expired');
  });
}

test('in Node, verifyAsync is the synchronous node:crypto path by default', async () => {
  const key = await keyFor('RS256');
  const verifier = createVerifier(policyFor([key]));
  assert.equal(verifier.signatureChecker, 'node:crypto');
  const token = await sign(key);
  const pending = verifier.verifyAsync(token, { now: NOW });
  assert.ok(pending instanceof Promise);
  assert.deepEqual(await pending, verifier.verify(token, { now: NOW }));
  await rejectsWith(verifier.verifyAsync(flipSignatureBit(token), { now: NOW }), 'bad_signature');
  await assert.rejects(verifier.verifyAsync(42), TypeError);
  assert.equal(verifier.signatureChecker, 'node:crypto');
});

for (const cache of [true, false]) {
  test(`WebCrypto checks RSA, ECDSA and Ed25519 only, imports each key once per alg, and is asked once per token (cache ${cache ? 'on' : 'off'})`, async () => {
    const keys = await Promise.all(ALL_ALGS.map((alg) => keyFor(alg)));
    const { subtle, calls } = spy();
    const verifier = createVerifier(policyFor(keys, {}, { cache: { enabled: cache } }), { ...WEBCRYPTO, subtle });
    const tokens = await Promise.all(keys.map((k) => sign(k)));
    for (const round of [1, 2]) {
      for (const [i, key] of keys.entries()) {
        const before = { ...calls };
        assert.equal((await verifier.verifyAsync(tokens[i], { now: NOW })).header.alg, key.alg);
        // The first call also answers the self-test's probes (3 keys, 6 signatures;
        // one more import finds out whether Ed25519 is there); a token the
        // cache holds needs no check.
        const first = before.verify === 0;
        const checked = native(key.alg) && (round === 1 || !cache) ? 1 : 0;
        assert.equal(calls.verify - before.verify, checked + (first ? 6 : 0), `${key.alg}: WebCrypto checks (round ${round})`);
        const imported = round === 1 ? checked : 0;
        assert.equal(calls.importKey - before.importKey, imported + (first ? 4 : 0), `${key.alg}: keys imported (round ${round})`);
      }
    }
    const rsaOrEc = ASYMMETRIC.filter(native).length;
    assert.equal(calls.verify, 6 + (cache ? 1 : 2) * rsaOrEc);
  });
}

test('the WebCrypto answers are what the core uses (a host saying "no" refuses valid tokens)', async () => {
  // The self-test's messages: the RSA/ECDSA probe's, and RFC 8032 §7.1 TEST 3's (Ed25519).
  const probes = [new TextEncoder().encode('jwtgate host crypto probe'), Uint8Array.of(0xaf, 0x82)];
  const sameBytes = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  // Honest on the self-test's probes, "no" to everything else.
  const { subtle } = spy((valid, data) => valid && probes.some((p) => sameBytes(new Uint8Array(data), p)));
  for (const alg of ['RS256', 'PS384', 'ES512', 'EdDSA', 'HS256']) {
    const key = await keyFor(alg);
    const verifier = full.createVerifier(policyFor([key]), { ...WEBCRYPTO, subtle });
    const token = await sign(key);
    if (native(alg)) {
      await rejectsWith(verifier.verifyAsync(token, { now: NOW }), 'bad_signature');
    } else {
      assert.equal((await verifier.verifyAsync(token, { now: NOW })).provider, 'main', 'HMAC stays in pure Rust');
    }
    assert.equal(verifier.signatureChecker, 'WebCrypto');
    assert.equal(verifier.verify(token, { now: NOW }).provider, 'main', 'verify() asks no host answers: pure Rust');
  }
});

test('"signature_verifier": "rust": verifyAsync never calls WebCrypto', async () => {
  const key = await keyFor('ES256');
  const { subtle, calls } = spy();
  const verifier = full.createVerifier(policyFor([key], {}, { signature_verifier: 'rust' }), { ...WEBCRYPTO, subtle });
  const token = await sign(key);
  assert.equal((await verifier.verifyAsync(token, { now: NOW })).provider, 'main');
  await rejectsWith(verifier.verifyAsync(flipSignatureBit(token), { now: NOW }), 'bad_signature');
  assert.equal(verifier.signatureChecker, 'pure Rust');
  assert.deepEqual(calls, { importKey: 0, verify: 0 });
});

test('a WebCrypto that fails the self-test: "host" rejects with invalid_config, "auto" warns and uses pure Rust', async () => {
  const key = await keyFor('RS256');
  const token = await sign(key);
  const liar = spy(() => true).subtle; // says yes to everything
  const missing = {}; // no SubtleCrypto at all (e.g. an insecure browser context)
  for (const subtle of [liar, missing]) {
    const strict = full.createVerifier(policyFor([key], {}, { signature_verifier: 'host' }), { ...WEBCRYPTO, subtle });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(strict.verifyAsync(token, { now: NOW }), (err) => {
        assert.ok(err instanceof full.JwtError && err.code === 'invalid_config', String(err));
        assert.match(err.message, /WebCrypto.*self-test/);
        return true;
      });
    }
    const lenient = full.createVerifier(policyFor([key]), { ...WEBCRYPTO, subtle });
    assert.equal((await lenient.verifyAsync(token, { now: NOW })).provider, 'main');
    await rejectsWith(lenient.verifyAsync(flipSignatureBit(token), { now: NOW }), 'bad_signature');
    assert.equal(lenient.signatureChecker, 'pure Rust');
    assert.ok(lenient.warnings.some((w) => /WebCrypto.*self-test.*using pure Rust/.test(w)), lenient.warnings.join('\n'));
  }
});

test('concurrent verifyAsync calls each get their own answers', async () => {
  const rs = await keyFor('RS256');
  const es = await keyFor('ES256');
  const verifier = createVerifier(policyFor([rs, es]), WEBCRYPTO);
  const cases = [];
  for (let i = 0; i < 20; i++) {
    const key = i % 2 ? rs : es;
    const token = await sign(key, claims({ n: i }));
    cases.push({ token: i % 3 ? token : flipSignatureBit(token), ok: i % 3 !== 0, n: i });
  }
  const results = await Promise.allSettled(cases.map((c) => verifier.verifyAsync(c.token, { now: NOW })));
  for (const [i, r] of results.entries()) {
    if (cases[i].ok) assert.equal(r.value?.claims.n, cases[i].n, `case ${i}`);
    else assert.equal(r.reason?.code, 'bad_signature', `case ${i}`);
  }
});

test('a token for the wrong key, or not a JWS, never reaches WebCrypto', async () => {
  const rs = await keyFor('RS256');
  const other = await keyFor('RS256', 'rs256-1');
  const { subtle, calls } = spy();
  const verifier = createVerifier(policyFor([rs]), { ...WEBCRYPTO, subtle });
  await rejectsWith(verifier.verifyAsync('not.a.jws', { now: NOW }), 'malformed');
  const probes = calls.verify;
  await rejectsWith(verifier.verifyAsync(await sign(other), { now: NOW }), 'bad_signature');
  assert.equal(calls.verify, probes + 1, 'same kid: one check, which fails');
  await rejectsWith(verifier.verifyAsync(await sign(other, claims(), { kid: 'nope' }), { now: NOW }), 'unknown_kid');
  await rejectsWith(verifier.verifyAsync(await sign(await keyFor('ES256', rs.kid)), { now: NOW }), 'unsupported_alg');
  assert.equal(calls.verify, probes + 1);
});

test('the browser entry point: verifyAsync uses WebCrypto, verify stays pure Rust', async () => {
  const key = await keyFor('ES256');
  const policy = policyFor([key]);
  const token = await sign(key);
  // A child process: this file already loaded the Node entry point.
  const script = `
    import { readFileSync } from 'node:fs';
    import { initSync, createVerifier } from './src/browser.js';
    initSync(readFileSync('./pkg/jwtgate_bg.wasm'));
    const [policy, token, now] = JSON.parse(process.argv[1]);
    const v = createVerifier(policy);
    const before = v.signatureChecker;
    const verified = await v.verifyAsync(token, { now });
    const bad = await v.verifyAsync(token.slice(0, -2) + (token.endsWith('AA') ? 'AQ' : 'AA'), { now }).catch((e) => e.code);
    console.log(JSON.stringify({ before, after: v.signatureChecker, sub: verified.claims.sub, bad, sync: v.verify(token, { now }).provider }));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify([policy, token, NOW])], {
    cwd: new URL('..', import.meta.url),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { before: 'pure Rust', after: 'WebCrypto', sub: 'user-1', bad: 'bad_signature', sync: 'main' });
});

test('hostCrypto must be "auto" or "webcrypto"', () => {
  assert.throws(() => createVerifier({ providers: {} }, { hostCrypto: 'openssl' }), TypeError);
});

test('a WebCrypto without Ed25519: EdDSA in pure Rust, RSA and ECDSA still with WebCrypto', async () => {
  const ed = await keyFor('EdDSA');
  const rs = await keyFor('RS256');
  const { subtle, calls } = spy(undefined, { ed25519: false });
  for (const signature_verifier of ['auto', 'host']) {
    const verifier = createVerifier(policyFor([ed, rs], {}, { signature_verifier }), { ...WEBCRYPTO, subtle });
    const edToken = await sign(ed);
    const before = calls.verify;
    assert.equal((await verifier.verifyAsync(edToken, { now: NOW })).claims.sub, 'user-1');
    // Only the RSA and ECDSA probes were asked (4 signatures), nothing for the EdDSA token.
    assert.equal(calls.verify - before, 4);
    assert.equal(verifier.signatureChecker, 'WebCrypto');
    await rejectsWith(verifier.verifyAsync(flipSignatureBit(edToken), { now: NOW }), 'bad_signature');
    const rsToken = await sign(rs);
    assert.equal((await verifier.verifyAsync(rsToken, { now: NOW })).provider, 'main');
    assert.equal(calls.verify - before, 5, 'the RS256 token was checked by WebCrypto');
    assert.deepEqual(verifier.warnings, []);
  }
});

test('a WebCrypto wrong about Ed25519 alone fails the self-test (RFC 8032 probe)', async () => {
  const key = await keyFor('EdDSA');
  const token = await sign(key);
  // Right about RSA and ECDSA, "yes" to every Ed25519 signature.
  const { subtle } = spy();
  const liar = {
    ...subtle,
    verify: async (params, k, signature, data) => (params.name === 'Ed25519' ? true : subtle.verify(params, k, signature, data)),
  };
  const strict = full.createVerifier(policyFor([key], {}, { signature_verifier: 'host' }), { ...WEBCRYPTO, subtle: liar });
  await assert.rejects(strict.verifyAsync(token, { now: NOW }), (err) => {
    assert.equal(err.code, 'invalid_config');
    assert.match(err.message, /WebCrypto accepted a bad EdDSA signature/);
    return true;
  });
  const lenient = full.createVerifier(policyFor([key]), { ...WEBCRYPTO, subtle: liar });
  await rejectsWith(lenient.verifyAsync(flipSignatureBit(token), { now: NOW }), 'bad_signature');
  assert.equal(lenient.signatureChecker, 'pure Rust');
});

test('the default module has no pure Rust to fall back to: a WebCrypto failing the self-test is refused under "auto" too', async () => {
  const key = await keyFor('RS256');
  const liar = spy(() => true).subtle;
  const verifier = createVerifier(policyFor([key]), { ...WEBCRYPTO, subtle: liar });
  await assert.rejects(verifier.verifyAsync(await sign(key), { now: NOW }), (err) => {
    assert.equal(err.code, 'invalid_config');
    assert.match(err.message, /WebCrypto.*self-test.*no pure-Rust RSA\/ECDSA to fall back to; import "jwtgate\/full"/);
    return true;
  });
});
