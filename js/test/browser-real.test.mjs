// The package in a real browser: Debian's Chromium, headless, driven by
// playwright-core, loading js/ from a local node:http server. Checks that
//   - the browser entry (src/browser.js) gives the same answers as Node for the
//     same tokens (minted here by jose): one core, one answer, error codes included,
//     although Node checks RSA/ECDSA with node:crypto and the browser in pure Rust;
//   - examples/browser.html works when a person uses it (type, click, read);
//   - examples/worker.html + worker.mjs verify in a module worker.
// Chromium comes from `scripts/setup.sh apt` (`npx playwright install` cannot
// download browsers here). Without it this test fails: it never skips.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as jwtgate from 'jwtgate';
import { launchChromium, openPage as openChromiumPage, serve } from './chromium.mjs';
import { ALL_ALGS, NOW, b64json, claims, flipSignatureBit, jose, keyFor, policyFor, sign } from './helpers.mjs';

const JS_DIR = fileURLToPath(new URL('..', import.meta.url));
const SCREENSHOT = fileURLToPath(new URL('../../.build/browser-example.png', import.meta.url));
const EXAMPLE_POLICY = JSON.parse(readFileSync(new URL('../examples/policy.json', import.meta.url), 'utf8'));
// The private half of examples/policy.json's key: RFC 8037, appendix A.1.
const RFC8037_PRIVATE = {
  kty: 'OKP',
  crv: 'Ed25519',
  d: 'nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A',
  x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
};

// ---------------------------------------------------------------- static server

/** js/{pkg,src,full,examples} and the in-memory files `extra`. */
const serveJs = (extra) => serve(JS_DIR, { dirs: ['pkg', 'src', 'full', 'examples'], extra });

// ---------------------------------------------------------------- one runner, two platforms

/**
 * Runs `cases` against the package module `m` and returns plain, comparable
 * results. The same function runs in Node (the node entry) and in the page
 * (the browser entry, served as a module), so both get exactly the same calls.
 * verifyAsync gets verifiers of its own: after its first call a browser
 * verifier's signature checker is WebCrypto, and explain would say so.
 */
async function runCases(m, cases, policies) {
  const verifiers = new Map();
  const verifier = (i, kind = 'sync') => {
    const id = `${kind} ${i}`;
    if (!verifiers.has(id)) verifiers.set(id, m.createVerifier(policies[i]));
    return verifiers.get(id);
  };
  const failure = (e) => ({ ok: false, name: e?.name, isJwtError: e instanceof m.JwtError, code: e?.code, message: e?.message });
  const attempt = (fn) => {
    try {
      return { ok: true, value: fn() };
    } catch (e) {
      return failure(e);
    }
  };
  const results = [];
  for (const c of cases) results.push(await runOne(c));
  return {
    results,
    signatureCheckers: { sync: verifier(0).signatureChecker, async: verifier(0, 'async').signatureChecker },
  };

  async function runOne(c) {
    switch (c.op) {
      case 'verifyAsync':
        try {
          return { ok: true, value: await verifier(c.policy, 'async').verifyAsync(c.token, { now: c.now, path: c.path }) };
        } catch (e) {
          return failure(e);
        }
      case 'errorCodeList':
        return attempt(() => m.errorCodeList());
      case 'decode':
        return attempt(() => m.decode(c.token, { now: c.now }));
      case 'createVerifier':
        return attempt(() => ({ warnings: m.createVerifier(policies[c.policy]).warnings }));
      case 'verify':
        return attempt(() => verifier(c.policy).verify(c.token, { now: c.now, path: c.path }));
      case 'explain':
        return attempt(() => verifier(c.policy).explain(c.token, { now: c.now, path: c.path }));
      case 'authorize':
        return attempt(() => verifier(c.policy).authorize({ method: 'GET', path: c.path, headers: ['authorization', `Bearer ${c.token}`] }, { now: c.now }));
      case 'verifyJws':
        return attempt(() => {
          const { header, payload } = m.verifyJws(c.token, c.keys);
          return { header, payload: Array.from(payload), payloadIsUint8Array: payload instanceof Uint8Array };
        });
      default:
        throw new Error(`unknown op ${c.op}`);
    }
  }
}

/** What a case's result must be: 'ok' or an error code. */
function assertExpected(where, cases, results) {
  cases.forEach((c, i) => {
    const r = results[i];
    const label = `${where}: case ${i} ${c.op} ${c.name}`;
    if (c.expect === 'ok') {
      assert.ok(r.ok, `${label}: expected success, got ${r.code}: ${r.message}`);
      if (c.op === 'explain') assert.equal(r.value.ok, true, `${label}: ${JSON.stringify(r.value)}`);
      if (c.op === 'authorize') assert.equal(r.value.allow, true, `${label}: ${JSON.stringify(r.value)}`);
    } else if (c.op === 'explain') {
      assert.ok(r.ok, label);
      assert.equal(r.value.ok, false, label);
      assert.equal(r.value.code, c.expect, `${label}: ${r.value.message}`);
    } else if (c.op === 'authorize') {
      assert.ok(r.ok, label);
      assert.equal(r.value.allow, false, label);
      assert.match(r.value.body, new RegExp(`"error":"${c.expect}"`), label);
    } else {
      assert.equal(r.ok, false, `${label}: expected ${c.expect}, got success`);
      assert.equal(r.isJwtError, true, `${label}: a JwtError (${r.name}: ${r.message})`);
      assert.equal(r.name, 'JwtError', label);
      assert.equal(r.code, c.expect, `${label}: ${r.message}`);
    }
  });
}

/** Tokens minted by jose and the calls to make with them, each with its expected verdict. */
async function buildCases() {
  const keys = await Promise.all(ALL_ALGS.map((alg) => keyFor(alg)));
  const byAlg = Object.fromEntries(keys.map((k) => [k.alg, k]));
  const policies = [
    // 0: every algorithm; /admin needs a role
    policyFor(keys, {}, {
      rules: [
        { prefix: '/admin', requires: 'main', claim_rules: [{ claim: 'roles', contains: 'admin' }] },
        { prefix: '/', requires: 'main' },
      ],
    }),
    // 1: invalid: a rule names an unknown provider
    policyFor([byAlg.ES256], {}, { rules: [{ prefix: '/', requires: 'nobody' }] }),
    // 2: one unusable key (use: enc) next to a good one: loads, with a warning
    policyFor([byAlg.EdDSA, { ...byAlg.ES256, jwk: { ...byAlg.ES256.jwk, use: 'enc' } }]),
    // 3: no usable key at all
    policyFor([{ ...byAlg.ES256, jwk: { ...byAlg.ES256.jwk, use: 'enc' } }]),
  ];
  const cases = [];
  const add = (name, op, expect, fields) => cases.push({ name, op, expect, ...fields });

  add('error codes', 'errorCodeList', 'ok', {});
  add('policy: every algorithm', 'createVerifier', 'ok', { policy: 0 });
  add('policy: unknown provider', 'createVerifier', 'invalid_config', { policy: 1 });
  add('policy: one unusable key', 'createVerifier', 'ok', { policy: 2 });
  add('policy: no usable key', 'createVerifier', 'invalid_config', { policy: 3 });

  const allKeys = { keys: keys.map((k) => k.jwk) };
  for (const key of keys) {
    const token = await sign(key);
    const at = { policy: 0, now: NOW, path: '/orders' };
    add(`${key.alg} decode`, 'decode', 'ok', { token, now: NOW });
    add(`${key.alg} valid`, 'verify', 'ok', { token, ...at });
    add(`${key.alg} valid`, 'explain', 'ok', { token, ...at });
    add(`${key.alg} flipped signature bit`, 'verify', 'bad_signature', { token: flipSignatureBit(token), ...at });
    add(`${key.alg} flipped signature bit`, 'explain', 'bad_signature', { token: flipSignatureBit(token), ...at });
    add(`${key.alg} verifyJws, its JWK`, 'verifyJws', 'ok', { token, keys: key.jwk });
    add(`${key.alg} verifyJws, the set as JSON text`, 'verifyJws', 'ok', { token, keys: JSON.stringify(allKeys) });
  }

  const es = byAlg.ES256;
  const at = { policy: 0, now: NOW, path: '/orders' };
  const expired = await sign(es, claims({ iat: NOW - 7200, exp: NOW - 3600 }));
  add('expired', 'decode', 'ok', { token: expired, now: NOW });
  add('expired', 'verify', 'expired', { token: expired, ...at });
  add('expired', 'explain', 'expired', { token: expired, ...at });
  add('not yet valid', 'verify', 'not_yet_valid', { token: await sign(es, claims({ nbf: NOW + 3600 })), ...at });
  add('issued in the future', 'verify', 'issued_in_future', { token: await sign(es, claims({ iat: NOW + 3600 })), ...at });
  add('wrong audience', 'verify', 'wrong_audience', { token: await sign(es, claims({ aud: 'another-api' })), ...at });
  add('wrong issuer', 'explain', 'wrong_issuer', { token: await sign(es, claims({ iss: 'https://evil.example' })), ...at });
  add('exp as a string', 'verify', 'invalid_claim', { token: await sign(es, claims({ exp: String(NOW + 60) })), ...at });
  add('unknown kid', 'verify', 'unknown_kid', { token: await sign(es, claims(), { kid: 'nope' }), ...at });
  const hsUnderRsaKid = await new jose.SignJWT(claims())
    .setProtectedHeader({ alg: 'HS256', kid: byAlg.RS256.kid })
    .sign(new TextEncoder().encode('the RSA public key is no secret'));
  add('HS256 token naming an RSA key', 'verify', 'key_mismatch', { token: hsUnderRsaKid, ...at });
  const none = `${b64json({ alg: 'none', typ: 'JWT' })}.${b64json(claims())}.`;
  add('alg none', 'verify', 'unsupported_alg', { token: none, ...at });
  // jose refuses to sign an unknown crit, and the core refuses it before the signature.
  const critHeader = b64json({ alg: 'ES256', kid: es.kid, crit: ['exp'], exp: 1 });
  add('crit', 'verify', 'unsupported_crit', { token: `${critHeader}.${b64json(claims())}.${(await sign(es)).split('.')[2]}`, ...at });
  add('not a JWS', 'decode', 'malformed', { token: 'not.a-token' });
  add('padded base64url', 'verify', 'malformed', { token: (await sign(es)).replace('.', '=.'), ...at });
  add('JWE', 'decode', 'jwe_unsupported', { token: 'a.b.c.d.e' });
  add('too large', 'verify', 'too_large', { token: await sign(es, claims({ blob: 'x'.repeat(10_000) })), ...at });
  add('admin without the role', 'verify', 'claim_rule_failed', { token: await sign(es), ...at, path: '/admin' });
  add('admin with the role', 'verify', 'ok', { token: await sign(es, claims({ roles: ['admin'] })), ...at, path: '/admin' });
  add('authorize: accepted', 'authorize', 'ok', { token: await sign(es), ...at });
  add('authorize: refused with 403', 'authorize', 'claim_rule_failed', { token: await sign(es), ...at, path: '/admin' });
  add('authorize: refused with 401', 'authorize', 'expired', { token: expired, ...at });
  add('policy with a skipped key still verifies', 'verify', 'ok', { token: await sign(byAlg.EdDSA), policy: 2, now: NOW });

  const ed = byAlg.EdDSA;
  const binary = await new jose.CompactSign(new Uint8Array([0, 1, 2, 0xfe, 0xff, 0x7b]))
    .setProtectedHeader({ alg: 'EdDSA', kid: ed.kid })
    .sign(ed.signingKey);
  add('verifyJws: non-JSON payload', 'verifyJws', 'ok', { token: binary, keys: ed.jwk });
  add('verifyJws: wrong key', 'verifyJws', 'bad_signature', { token: binary, keys: (await keyFor('EdDSA', ed.kid)).jwk });
  add('verifyJws: no usable key', 'verifyJws', 'invalid_key', { token: binary, keys: { keys: [{ ...ed.jwk, use: 'enc' }] } });
  add('verifyJws: HMAC key', 'verifyJws', 'ok', { token: await sign(byAlg.HS384), keys: byAlg.HS384.jwk });

  // verifyAsync (WebCrypto for RSA/ECDSA in the browser) must agree with verify on every token.
  for (const c of cases.filter((c) => c.op === 'verify')) cases.push({ ...c, op: 'verifyAsync' });
  return { cases, policies };
}

// ---------------------------------------------------------------- the browser

let browser; // Chromium on a new, empty user-data-dir
let site;
let fixtures;

before(async () => {
  browser = await launchChromium();
  fixtures = await buildCases();
  site = await serveJs({
    '/test/blank.html': '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>jwtgate test page</title>',
    '/test/run-cases.mjs': `export default ${runCases.toString()};\n`,
  });
});

after(async () => {
  await browser?.close();
  site?.server.close();
});

/** A new page that records uncaught errors, console errors and warnings, and failed requests. */
const openPage = (t, url, options) => openChromiumPage(browser.context, t, `${site.base}${url}`, options);

/** A token for examples/policy.json, signed with RFC 8037's key, valid at `now` (Unix seconds). */
async function exampleToken(now, extra = {}, header = {}) {
  const key = await jose.importJWK(RFC8037_PRIVATE, 'EdDSA');
  const body = { iss: 'https://idp.example.com', aud: 'orders-api', sub: 'alice', iat: now - 60, exp: now + 3630, ...extra };
  return new jose.SignJWT(body).setProtectedHeader({ alg: 'EdDSA', kid: 'rfc8037', typ: 'JWT', ...header }).sign(key);
}

test('the server answers .wasm as application/wasm and .js/.mjs as text/javascript', async () => {
  for (const [file, type] of [
    ['/pkg/jwtgate_bg.wasm', 'application/wasm'],
    ['/pkg/jwtgate.js', 'text/javascript; charset=utf-8'],
    ['/src/browser.js', 'text/javascript; charset=utf-8'],
    ['/examples/worker.mjs', 'text/javascript; charset=utf-8'],
  ]) {
    const res = await fetch(`${site.base}${file}`);
    assert.equal(res.status, 200, file);
    assert.equal(res.headers.get('content-type'), type, file);
    await res.arrayBuffer();
  }
  assert.equal((await fetch(`${site.base}/node_modules/jose/package.json`)).status, 404);
  assert.equal((await fetch(`${site.base}/examples/../package.json`)).status, 404);
});

test('in Chromium, the browser entry of jwtgate/full gives the same answers as Node (one core, one answer)', { timeout: 60_000 }, async (t) => {
  const { cases, policies } = fixtures;
  const node = await runCases(jwtgate, cases, policies);
  assertExpected('node', cases, node.results);
  assert.deepEqual(node.signatureCheckers, { sync: 'node:crypto', async: 'node:crypto' }, 'Node hands RSA/ECDSA to node:crypto');

  const { page, problems } = await openPage(t, '/test/blank.html');
  const inBrowser = await page.evaluate(
    async ({ cases, policies }) => {
      const m = await import('/full/src/browser.js');
      let early;
      try {
        m.decode('a.b.c');
      } catch (e) {
        early = e.message;
      }
      await m.init();
      const { default: run } = await import('/test/run-cases.mjs');
      return { early, userAgent: navigator.userAgent, ...(await run(m, cases, policies)) };
    },
    { cases, policies },
  );
  t.diagnostic(`${cases.length} calls; ${inBrowser.userAgent}`);
  assert.match(inBrowser.early, /call `await init\(\)` first/);
  assert.deepEqual(inBrowser.signatureCheckers, { sync: 'pure Rust', async: 'WebCrypto' }, 'browser: verify in pure Rust, verifyAsync with WebCrypto');
  assertExpected('chromium', cases, inBrowser.results);
  // The one allowed difference: explain names who checked the signature.
  const checkers = new Set();
  const sameAnswer = (r) => {
    if (!r.ok || !Array.isArray(r.value?.checks)) return r;
    const checks = r.value.checks.map((c) => {
      const m = c.check === 'signature' && / by (pure Rust|node:crypto)$/.exec(c.detail);
      if (!m) return c;
      checkers.add(m[1]);
      return { ...c, detail: c.detail.slice(0, m.index) + ' by <signature checker>' };
    });
    return { ...r, value: { ...r.value, checks } };
  };
  for (let i = 0; i < cases.length; i++) {
    assert.deepEqual(sameAnswer(inBrowser.results[i]), sameAnswer(node.results[i]), `case ${i} ${cases[i].op} ${cases[i].name}: Chromium and Node differ`);
  }
  assert.deepEqual([...checkers].sort(), ['node:crypto', 'pure Rust'], 'explain names the checker on each side');
  // The module came over the wire as application/wasm (streaming compilation, no fallback warning).
  assert.ok(site.log.some((r) => r.path === '/full/pkg/jwtgate_bg.wasm' && r.type === 'application/wasm'));
  assert.deepEqual(problems, []);
});

test('in Chromium, the default module gives Node\'s answers, except a synchronous RS*/PS*/ES* check: refused, naming verifyAsync and jwtgate/full', { timeout: 60_000 }, async (t) => {
  const { cases, policies } = fixtures;
  const node = await runCases(jwtgate, cases, policies);
  const { page, problems } = await openPage(t, '/test/blank.html');
  const inBrowser = await page.evaluate(
    async ({ cases, policies }) => {
      const m = await import('/src/browser.js');
      await m.init();
      const { default: run } = await import('/test/run-cases.mjs');
      return run(m, cases, policies);
    },
    { cases, policies },
  );
  assert.deepEqual(inBrowser.signatureCheckers, { sync: 'pure Rust', async: 'WebCrypto' });
  const headerAlg = (token) => {
    try {
      return JSON.parse(Buffer.from(token.split('.')[0], 'base64url')).alg;
    } catch {
      return undefined;
    }
  };
  const refusal = (r) => {
    if (r.ok && r.value?.ok === false) return { code: r.value.code, message: r.value.message };
    if (r.ok && r.value?.allow === false) return { code: /"error":"(\w+)"/.exec(r.value.body)?.[1], message: r.value.body };
    return r.ok ? undefined : { code: r.code, message: r.message };
  };
  // explain names who checked the signature: the one allowed difference.
  const bySomeChecker = (r) => {
    if (!r.ok || !Array.isArray(r.value?.checks)) return r;
    const checks = r.value.checks.map((c) => (c.check === 'signature' ? { ...c, detail: c.detail.replace(/ by (pure Rust|node:crypto)$/, '') } : c));
    return { ...r, value: { ...r.value, checks } };
  };
  let refused = 0;
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i];
    const label = `case ${i} ${c.op} ${c.name}`;
    const needsHost = ['verify', 'explain', 'authorize', 'verifyJws'].includes(c.op) && /^(RS|PS|ES)/.test(headerAlg(c.token ?? '') ?? '');
    const [b, n] = [inBrowser.results[i], node.results[i]];
    if (needsHost && (node.results[i].ok && node.results[i].value?.ok !== false && node.results[i].value?.allow !== false)) {
      const r = refusal(b);
      assert.equal(r?.code, 'unsupported_alg', `${label}: refused, never passed`);
      assert.match(r.message, /verifyAsync/, label);
      assert.match(r.message, /jwtgate\/full/, label);
      refused++;
    } else if (!needsHost) {
      assert.deepEqual(bySomeChecker(b), bySomeChecker(n), `${label}: Chromium and Node differ`);
    } else {
      assert.equal(refusal(b)?.code !== undefined, true, `${label}: refused in both`);
    }
  }
  assert.ok(refused >= 9, `${refused} synchronous RS*/PS*/ES* acceptances refused`);
  assert.ok(cases.some((c) => c.op === 'verifyAsync' && /^(RS|PS|ES)/.test(headerAlg(c.token) ?? '') && c.expect === 'ok'), 'verifyAsync covers RS*/PS*/ES*');
  assert.deepEqual(problems, []);
});

test('examples/browser.html: decode, verify with the example policy, with a JWK set, and refusals', { timeout: 30_000 }, async (t) => {
  // The page's clock is frozen at NOW, so its report is comparable with Node's to the second.
  const { page, problems } = await openPage(t, '/examples/browser.html', { now: NOW });
  await page.waitForSelector('html[data-ready="true"]');
  const text = (sel) => page.locator(sel).innerText();
  const verdict = async () => ({
    className: await page.locator('#verdict').getAttribute('class'),
    code: await page.locator('#verdict').getAttribute('data-code'),
    text: await text('#verdict'),
  });
  const inspect = async (token, keys) => {
    await page.fill('#token', token);
    if (keys !== undefined) await page.fill('#keys', keys);
    await page.click('#go');
    await page.waitForSelector('#result:not([hidden])');
    return verdict();
  };

  // 1. Decode only.
  const token = await exampleToken(NOW, { roles: ['reader'] });
  const decoded = jwtgate.decode(token, { now: NOW });
  let v = await inspect(token, '');
  assert.equal(v.className, 'info');
  assert.match(v.text, /Decoded only/);
  assert.deepEqual(JSON.parse(await text('#header')), decoded.header);
  assert.deepEqual(JSON.parse(await text('#claims')), decoded.payload);
  assert.match(await text('#times'), new RegExp(`exp\\s+${new Date(decoded.payload.exp * 1000).toISOString().replace('.000Z', 'Z')}`));

  // 2. The example policy (button), at /orders: every check passes.
  await page.click('#example');
  await page.waitForFunction(() => document.getElementById('keys').value.includes('"providers"'));
  assert.equal(await page.inputValue('#path'), '/orders');
  v = await inspect(token);
  assert.equal(v.className, 'ok', v.text);
  assert.match(v.text, /accepted by provider "example" for \/orders/);
  // The browser's synchronous path is pure Rust: so is Node's with hostCrypto "webcrypto".
  const report = jwtgate.createVerifier(EXAMPLE_POLICY, { hostCrypto: 'webcrypto' }).explain(token, { path: '/orders', now: NOW });
  const rows = await page.locator('#checks tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(rows, report.checks.map((c) => [c.ok ? '✓' : '✗', c.check, c.detail]), 'the page shows the core report');
  mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });

  // 3. The same token at /admin: authentic, but the claim rule fails.
  await page.fill('#path', '/admin');
  v = await inspect(token);
  assert.equal(v.className, 'fail');
  assert.equal(v.code, 'claim_rule_failed');
  await page.fill('#path', '/orders');

  // 4. Expired: refused, and decode's warnings are listed.
  const expired = await exampleToken(NOW, { iat: NOW - 7200, exp: NOW - 3600 });
  v = await inspect(expired);
  assert.equal(v.code, 'expired', v.text);
  const warnings = await page.locator('#warnings li').allInnerTexts();
  assert.ok(warnings.length > 0, 'an expired token has a warning');
  assert.deepEqual(warnings, jwtgate.decode(expired, { now: NOW }).warnings);

  // 5. A JWK set instead of a policy: the signature only.
  const jwks = JSON.stringify(EXAMPLE_POLICY.providers.example.jwks);
  v = await inspect(expired, jwks);
  assert.equal(v.className, 'ok', v.text);
  assert.match(v.text, /Signature valid \(EdDSA, key "rfc8037"\)/);
  v = await inspect(flipSignatureBit(token), jwks);
  assert.equal(v.code, 'bad_signature', v.text);

  // 6. Not a token; a policy the core refuses.
  v = await inspect('not a token', '');
  assert.equal(v.code, 'malformed', v.text);
  v = await inspect(token, JSON.stringify({ providers: { p: { issuer: 'x', jwks: { keys: [] } } } }));
  assert.equal(v.code, 'invalid_config', v.text);

  assert.deepEqual(problems, []);
});

test('examples/worker.html + worker.mjs: a module worker verifies the token and posts the answer back', { timeout: 30_000 }, async (t) => {
  const { page, problems } = await openPage(t, '/examples/worker.html');
  await page.waitForSelector('#go:not([disabled])');
  assert.equal(await page.locator('#out').innerText(), 'worker ready (signatures: pure Rust)');
  let lastId = 1; // the page's first message (id 1) was the policy
  const ask = async (token, path) => {
    await page.fill('#token', token);
    await page.fill('#path', path);
    await page.click('#go');
    await page.waitForSelector(`#out[data-answered="${++lastId}"]`);
    return JSON.parse(await page.locator('#out').innerText());
  };
  const verifier = jwtgate.createVerifier(EXAMPLE_POLICY);

  // Workers keep the real clock: tokens relative to it, mid-minute, so that a
  // second's delay cannot change the relative times in the core's messages.
  const now = Math.floor(Date.now() / 1000);
  const token = await exampleToken(now, { roles: ['admin'] });
  const expected = verifier.verify(token, { path: '/orders' });
  const answer = await ask(token, '/orders');
  // verifyAsync offered WebCrypto (RSA, ECDSA, and Ed25519 where Chromium has it).
  assert.deepEqual(answer, { id: 2, ok: true, ...expected, signatureChecker: 'WebCrypto' });

  const expired = await exampleToken(now, { iat: now - 7230, exp: now - 3630 });
  const refusal = await ask(expired, '/orders');
  const nodeError = (() => {
    try {
      verifier.verify(expired, { path: '/orders' });
    } catch (e) {
      return e;
    }
  })();
  assert.ok(nodeError instanceof jwtgate.JwtError);
  assert.deepEqual(refusal, { id: 3, ok: false, code: 'expired', message: nodeError.message });
  assert.deepEqual(problems, []);
});

test('in Chromium, verifyAsync checks Ed25519 with WebCrypto where the browser has it (RFC 8032 probe), else in pure Rust', { timeout: 60_000 }, async (t) => {
  const key = await keyFor('EdDSA');
  const token = await sign(key);
  const bad = flipSignatureBit(token);
  const policy = policyFor([key], {}, { signature_verifier: 'host' });
  const { page, problems } = await openPage(t, '/test/blank.html');
  const seen = await page.evaluate(
    async ({ policy, token, bad, now }) => {
      const m = await import('/src/browser.js');
      await m.init();
      // Does this browser's WebCrypto have Ed25519 at all? (asked directly, not through jwtgate)
      const x = Uint8Array.from(atob(policy.providers.main.jwks.keys[0].x.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
      const native = await crypto.subtle.importKey('raw', x, { name: 'Ed25519' }, false, ['verify']).then(() => true, () => false);
      const calls = [];
      const subtle = {
        importKey: (...a) => crypto.subtle.importKey(...a),
        verify: (params, ...rest) => {
          calls.push(params.name);
          return crypto.subtle.verify(params, ...rest);
        },
      };
      const v = m.createVerifier(policy, { subtle });
      const ok = await v.verifyAsync(token, { now });
      const refused = await v.verifyAsync(bad, { now }).then(() => 'accepted', (e) => e.code);
      return { native, sub: ok.claims.sub, refused, checker: v.signatureChecker, ed25519Calls: calls.filter((n) => n === 'Ed25519').length };
    },
    { policy, token, bad, now: NOW },
  );
  t.diagnostic(JSON.stringify(seen));
  assert.equal(seen.sub, 'user-1');
  assert.equal(seen.refused, 'bad_signature');
  assert.equal(seen.checker, 'WebCrypto');
  // With Ed25519: the self-test's good and bad probe, then the two tokens. Without: none at all.
  assert.equal(seen.ed25519Calls, seen.native ? 4 : 0);
  assert.deepEqual(problems, []);
});
