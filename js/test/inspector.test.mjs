// The inspector (js/inspector/), built by its build script and used as a person
// would, in Debian's Chromium (playwright-core), from a local static server.
// Tokens and keys are minted by jose; the expectations come from the policy and
// the RFCs (times, RFC 6750's WWW-Authenticate, RFC 3986's dot segments), not
// from the core's output. Also pinned: no request after load, no storage,
// nothing in the address, every control labelled and reachable by Tab.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';
import * as jwtgate from 'jwtgate';
import { launchChromium, openPage, serve } from './chromium.mjs';
import { ISS, NOW, b64json, claims, flipSignatureBit, keyFor, policyFor, sign } from './helpers.mjs';

const DIST = fileURLToPath(new URL('../inspector/dist/', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('../inspector/artifacts/', import.meta.url));

let browser;
let site;
let key; // ES256, kid es256-1
let jwks;

before(async () => {
  const build = spawnSync(process.execPath, [fileURLToPath(new URL('../inspector/build.mjs', import.meta.url))], { encoding: 'utf8' });
  assert.equal(build.status, 0, `inspector build failed: ${build.stderr}`);
  browser = await launchChromium();
  site = await serve(DIST);
  key = await keyFor('ES256');
  jwks = JSON.stringify({ keys: [key.jwk] });
});

after(async () => {
  await browser?.close();
  site?.server.close();
});

/** The page at NOW, with every request it makes recorded, ready to use. */
async function open(t, { width = 1280 } = {}) {
  const { page, problems } = await openPage(browser.context, t, undefined, { now: NOW });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.setViewportSize({ width, height: 900 });
  await page.goto(`${site.base}/index.html`);
  await page.waitForSelector('html[data-ready="true"]');
  const loaded = requests.length;
  return { page, problems, requests, afterLoad: () => requests.slice(loaded) };
}

/** Sets several inputs at once (one recomputation), then waits for it. */
async function set(page, values) {
  const before = Number(await page.locator('html').getAttribute('data-updated'));
  await page.evaluate((values) => {
    for (const [id, value] of Object.entries(values)) {
      const input = document.getElementById(id);
      if (input.type === 'checkbox') input.checked = value;
      else input.value = value;
      input.dispatchEvent(new Event('input', { bubbles: true }));
    }
  }, values);
  await page.waitForFunction((n) => Number(document.documentElement.dataset.updated) > n, before);
}

const verdict = async (page) => ({
  kind: await page.locator('#verdict').getAttribute('class'),
  code: await page.locator('#verdict').getAttribute('data-code'),
  text: await page.locator('#verdict').innerText(),
});
const text = (page, sel) => page.locator(sel).innerText();
const checks = (page) =>
  page.locator('#checks tbody tr').evaluateAll((trs) => trs.map((tr) => ({ ok: tr.className === 'pass', check: tr.cells[1].textContent, detail: tr.cells[2].textContent })));

/** A policy for `key` with an admin-only path, a public one and a claim header. */
const POLICY = () =>
  JSON.stringify(
    policyFor([key], { claim_to_headers: [{ claim: 'sub', header: 'x-user' }] }, {
      rules: [
        { prefix: '/health', bypass: true },
        { prefix: '/admin', requires: 'main', claim_rules: [{ claim: 'roles', contains: 'admin' }] },
        { prefix: '/', requires: 'main' },
      ],
      response: { realm: 'orders' },
    }),
    null,
    2,
  );

test('Verifier.ruleFor (the page\'s "which rule"): the index for the canonical target, null, or invalid_path', () => {
  const verifier = jwtgate.createVerifier(POLICY());
  assert.equal(verifier.ruleFor('GET', '/health'), 0);
  assert.equal(verifier.ruleFor('GET', '/health/../admin/x?y=1'), 1, 'RFC 3986 §5.2.4: the dot segment is removed');
  assert.equal(verifier.ruleFor('POST', 'http://api.example/orders'), 2, 'absolute-form: its path');
  assert.throws(() => verifier.ruleFor('GET', '/health%2F..%2Fadmin'), (e) => e instanceof jwtgate.JwtError && e.code === 'invalid_path');
  const methods = jwtgate.createVerifier(policyFor([key], {}, { rules: [{ path: '/x', methods: ['POST'], requires: 'main' }] }));
  assert.equal(methods.ruleFor('GET', '/x'), null, 'no rule for GET');
  assert.equal(methods.ruleFor('post', '/x/'), 0, 'methods without case; one trailing slash');
});

test('the built page: a strict CSP (connect-src none), and what it loads', async (t) => {
  const { page, problems, requests } = await open(t);
  const csp = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  assert.match(csp, /(^|;)\s*default-src 'none'/);
  assert.match(csp, /(^|;)\s*connect-src 'none'/);
  assert.doesNotMatch(csp, /'unsafe-inline'|'unsafe-eval'|\*/, 'no inline script, no eval, no wildcard');
  // Loading fetched only the page's own files (the wasm bytes are a script), all same-origin.
  const paths = requests.map((u) => new URL(u)).map((u) => (assert.equal(u.origin, site.base), u.pathname));
  for (const p of ['/index.html', '/inspector.css', '/inspector.js', '/src/browser.js', '/pkg/jwtgate.js', '/pkg/wasm-bytes.js']) {
    assert.ok(paths.includes(p), `loads ${p}`);
  }
  for (const p of paths) assert.match(p, /^\/(index\.html|inspector\.(css|js)|src\/[a-z-]+\.js|pkg\/(jwtgate|wasm-bytes)\.js)$/, 'only the page\'s own files');
  assert.ok(!paths.some((p) => p.endsWith('.wasm')), 'the module is not fetched');
  assert.equal(await verdict(page).then((v) => v.text), 'Note: Paste a token.');
  assert.deepEqual(problems, []);
});

test('a valid token and its JWK set: "valid", the claims, the times, every check passed', async (t) => {
  const { page, problems } = await open(t);
  const token = await sign(key, claims({ iat: NOW - 90, exp: NOW + 300 }));
  await set(page, { token, keys: jwks });
  const v = await verdict(page);
  assert.equal(v.kind, 'ok', v.text);
  assert.match(v.text, /valid: signature \(ES256, key "es256-1"\)/);
  assert.equal(await text(page, '#keys-kind'), 'a JWK set');
  assert.deepEqual(JSON.parse(await text(page, '#claims')), claims({ iat: NOW - 90, exp: NOW + 300 }));
  assert.deepEqual(JSON.parse(await text(page, '#header')), { alg: 'ES256', kid: 'es256-1', typ: 'JWT' });
  assert.equal(await text(page, '#time-exp td:nth-child(2)'), new Date((NOW + 300) * 1000).toISOString().replace('.000Z', 'Z'));
  assert.equal(await text(page, '#time-exp td:nth-child(3)'), 'expires in 5 min');
  assert.equal(await text(page, '#time-iat td:nth-child(3)'), 'issued 1 min ago');
  const rows = await checks(page);
  assert.ok(rows.length >= 3 && rows.every((r) => r.ok), JSON.stringify(rows));
  assert.ok(rows.some((r) => r.check === 'signature'), 'the signature was checked');
  // The iss URL is listed, and was not fetched (no request after load: see the last test).
  assert.match(await text(page, '#urls'), new RegExp(`iss ${ISS.replace(/\./g, '\\.')}`));
  // A dropped file replaces the box's text.
  const before = Number(await page.locator('html').getAttribute('data-updated'));
  const drop = await page.evaluateHandle((text) => {
    const data = new DataTransfer();
    data.items.add(new File([`Bearer ${text}\n`], 'token.txt', { type: 'text/plain' }));
    return data;
  }, await sign(key, claims({ sub: 'dropped' })));
  await page.dispatchEvent('#token', 'drop', { dataTransfer: drop });
  await page.waitForFunction((n) => Number(document.documentElement.dataset.updated) > n, before);
  assert.equal(JSON.parse(await text(page, '#claims')).sub, 'dropped');
  assert.equal((await verdict(page)).kind, 'ok');
  // One JWK alone is accepted too.
  await set(page, { keys: JSON.stringify(key.jwk) });
  assert.equal(await text(page, '#keys-kind'), 'a JWK');
  assert.equal((await verdict(page)).kind, 'ok');
  assert.deepEqual(problems, []);
});

test('expired, tampered, wrong key, a PEM key: the reason, and how long ago', async (t) => {
  const { page, problems } = await open(t);
  await set(page, { token: await sign(key, claims({ iat: NOW - 3 * 3600, exp: NOW - 2 * 3600 })), keys: jwks });
  let v = await verdict(page);
  assert.equal(v.kind, 'fail');
  assert.equal(v.code, 'expired', v.text);
  assert.equal(await text(page, '#time-exp td:nth-child(3)'), 'expired 2 h ago');
  assert.ok((await checks(page)).some((r) => !r.ok), 'a failed check is listed');
  assert.ok((await page.locator('#warnings li').allInnerTexts()).some((w) => /expired/.test(w)), 'decode warns');

  const token = await sign(key);
  await set(page, { token: flipSignatureBit(token) });
  v = await verdict(page);
  assert.equal(v.code, 'bad_signature', v.text);
  assert.deepEqual((await checks(page)).find((r) => r.check === 'signature')?.ok, false);

  // Payload changed after signing: same signature, other claims.
  const [h, , s] = token.split('.');
  await set(page, { token: `${h}.${b64json(claims({ sub: 'admin' }))}.${s}` });
  assert.equal((await verdict(page)).code, 'bad_signature');

  await set(page, { token, keys: JSON.stringify({ keys: [(await keyFor('ES256')).jwk] }) });
  assert.equal((await verdict(page)).code, 'bad_signature');

  // A PEM key (SPKI, exported by jose): the same verdicts as its JWK.
  const pem = await jose.exportSPKI(key.publicKey);
  await set(page, { token, keys: pem });
  v = await verdict(page);
  assert.equal(v.kind, 'ok', v.text);
  await set(page, { token: flipSignatureBit(token) });
  assert.equal((await verdict(page)).code, 'bad_signature');
  await set(page, { keys: '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----' });
  v = await verdict(page);
  assert.equal(v.kind, 'fail');
  assert.equal(v.code, 'invalid_config', v.text);
  assert.match(v.text, /The PEM key/);
  assert.deepEqual(problems, []);
});

test('a broken token: what can be decoded, and the problem next to its segment', async (t) => {
  const { page, problems } = await open(t);
  const token = await sign(key);
  const [h, p, s] = token.split('.');
  // Padding in the header segment: refused (RFC 7515 §2: base64url without padding).
  await set(page, { token: `${h}=.${p}.${s}` });
  let v = await verdict(page);
  assert.equal(v.code, 'malformed', v.text);
  assert.match(await text(page, '#seg-header-error'), /header segment is not strict base64url/);
  assert.equal(await page.locator('#seg-header').getAttribute('data-state'), 'error');
  assert.equal(await page.locator('#seg-payload-error').innerText(), '');
  assert.deepEqual(JSON.parse(await text(page, '#header')), { alg: 'ES256', kid: 'es256-1', typ: 'JWT' });
  assert.deepEqual(JSON.parse(await text(page, '#claims')), claims(), 'the claims are still shown');
  assert.equal(await text(page, '#time-exp td:nth-child(3)'), 'expires in 1 h');

  // A payload that is not JSON: the header decodes, the payload names the problem.
  await set(page, { token: `${h}.${Buffer.from('{"sub": ').toString('base64url')}.${s}` });
  v = await verdict(page);
  assert.equal(v.code, 'malformed', v.text);
  assert.match(await text(page, '#seg-payload-error'), /payload/);
  assert.deepEqual(JSON.parse(await text(page, '#header')), { alg: 'ES256', kid: 'es256-1', typ: 'JWT' });

  // Two segments: the whole token is the problem.
  await set(page, { token: `${h}.${p}` });
  assert.equal((await verdict(page)).code, 'malformed');
  assert.match(await text(page, '#seg-header-error'), /3 segments/);
  assert.equal(await text(page, '#signature'), '(no such segment)');
  assert.deepEqual(problems, []);
});

test('a policy and a request: the status, WWW-Authenticate, and what the upstream receives', async (t) => {
  const { page, problems } = await open(t);
  const token = await sign(key);
  await set(page, { token, keys: POLICY(), path: '/orders?page=2', headers: 'x-user: mallory\nx-request-id: 42' });
  assert.equal(await text(page, '#keys-kind'), 'a jwtgate policy');
  assert.ok(await page.locator('#request').isVisible());
  const ms = async () => page.locator('html').getAttribute('data-ms');
  t.diagnostic(`recomputation with a new policy (createVerifier, decode, ruleFor, authorize, explain): ${await ms()} ms`);
  await set(page, { path: '/orders?page=3' });
  t.diagnostic(`recomputation on a keystroke, same policy (decode, ruleFor, authorize, explain): ${await ms()} ms`);
  await set(page, { path: '/orders?page=2' });
  let v = await verdict(page);
  assert.equal(v.kind, 'allow', v.text);
  assert.equal(await text(page, '#location-used'), 'the authorization header after "Bearer "');
  assert.match(await text(page, '#d-rule'), /^#3 \{"prefix":"\/","requires":"main"\}$/);
  assert.equal(await text(page, '#d-provider'), 'main');
  assert.match(await text(page, '#d-target'), /^GET \/orders\?page=2 /);
  let upstream = (await text(page, '#out')).split('\n');
  assert.equal(upstream[0], 'GET /orders?page=2');
  assert.ok(upstream.includes('x-user: user-1'), `the claim header replaces the client's: ${upstream}`);
  assert.ok(!upstream.includes('x-user: mallory'));
  assert.ok(upstream.includes('x-request-id: 42'));
  assert.ok(!upstream.some((l) => /^authorization:/i.test(l)), 'the token is not forwarded (forward: false)');

  // No token: 401 with a challenge and no error attribute (RFC 6750 §3.1).
  await set(page, { 'token-location': 'none' });
  v = await verdict(page);
  assert.equal(v.kind, 'deny');
  assert.equal(await text(page, '#d-status'), '401');
  assert.match(await text(page, '#d-www'), /^Bearer realm="orders"$/);
  assert.match(await text(page, '#out-title'), /nothing goes upstream/);

  // Expired: 401 invalid_token; authentic but not admin: 403 insufficient_scope.
  await set(page, { 'token-location': 'auto', token: await sign(key, claims({ exp: NOW - 600 })) });
  assert.equal(await text(page, '#d-status'), '401');
  assert.match(await text(page, '#d-www'), /^Bearer realm="orders", error="invalid_token"/);
  assert.equal(JSON.parse(await text(page, '#d-body')).error, 'expired');
  await set(page, { token, path: '/admin/users' });
  assert.equal(await text(page, '#d-status'), '403');
  assert.match(await text(page, '#d-www'), /error="insufficient_scope"/);
  assert.equal(await text(page, '#d-provider'), 'the rule requires main');
  assert.match(await text(page, '#d-rule'), /^#2 /);

  // The public path needs no token.
  await set(page, { path: '/health', 'token-location': 'none' });
  v = await verdict(page);
  assert.equal(v.kind, 'allow');
  assert.equal(await text(page, '#d-reason'), 'bypass');
  assert.deepEqual(problems, []);
});

test('non-canonical targets: the rule is chosen on the canonical path the upstream receives, or 400', async (t) => {
  const { page, problems } = await open(t);
  const admin = await sign(key, claims({ roles: ['admin'] }));
  const user = await sign(key);
  // RFC 3986 §5.2.4: /health/../admin is /admin, not the public /health.
  await set(page, { token: user, keys: POLICY(), path: '/health/../admin' });
  assert.equal(await text(page, '#d-status'), '403');
  assert.match(await text(page, '#d-rule'), /^#2 .*"\/admin"/);
  await set(page, { token: admin, path: '/health/%2e%2e//admin?x=1' });
  assert.equal((await verdict(page)).kind, 'allow');
  assert.match(await text(page, '#d-target'), /^GET \/admin\?x=1 \(canonical form\)$/);
  assert.equal((await text(page, '#out')).split('\n')[0], 'GET /admin?x=1');
  // An encoded slash: ambiguous, refused before any rule.
  await set(page, { path: '/health%2F..%2Fadmin' });
  assert.equal(await text(page, '#d-status'), '400');
  assert.equal((await verdict(page)).code, 'invalid_path');
  assert.match(await text(page, '#d-rule'), /refused before any rule/);
  assert.deepEqual(problems, []);
});

test('the token goes where the policy provider reads it', async (t) => {
  const { page, problems } = await open(t);
  const token = await sign(key);
  const policy = (provider) => JSON.stringify(policyFor([key], provider, { rules: [{ prefix: '/', requires: 'main' }] }));
  await set(page, { token, keys: policy({ from_params: ['jwt'] }), path: '/a?b=1' });
  assert.equal(await text(page, '#location-used'), 'the query parameter jwt');
  assert.equal((await text(page, '#sent')).split('\n')[0], `GET /a?b=1&jwt=${token}`);
  assert.equal((await verdict(page)).kind, 'allow');
  assert.equal((await text(page, '#out')).split('\n')[0], 'GET /a?b=1', 'the token is taken out of the query');
  await set(page, { keys: policy({ from_headers: [{ name: 'x-jwt', value_prefix: '' }] }) });
  assert.equal(await text(page, '#location-used'), 'the x-jwt header');
  assert.equal((await verdict(page)).kind, 'allow');
  await set(page, { keys: policy({ from_cookies: ['session'] }) });
  assert.equal(await text(page, '#location-used'), 'the cookie session');
  assert.ok((await text(page, '#sent')).split('\n').includes(`cookie: session=${token}`));
  assert.equal((await verdict(page)).kind, 'allow');
  await set(page, { keys: policy({ from_headers: [{ name: 'x-jwt', value_prefix: '' }] }) });
  // Authorization, although the provider reads x-jwt: no token found, 401.
  await set(page, { 'token-location': 'authorization' });
  assert.equal(await text(page, '#d-status'), '401');
  assert.deepEqual(problems, []);
});

test('typing recomputes; nothing leaves the page: no request, no storage, nothing in the address', async (t) => {
  const { page, problems, afterLoad } = await open(t);
  const urlAtLoad = page.url();
  const token = await sign(key, claims({ iss: 'https://idp.example/discovery' }), { jku: 'https://attacker.example/jwks.json', x5u: 'https://attacker.example/cert.pem' });
  await page.fill('#keys', POLICY());
  await page.fill('#token', token);
  await page.locator('#path').fill('');
  await page.locator('#path').pressSequentially('/admin', { delay: 5 }); // keystrokes, debounced
  await page.waitForFunction(() => document.getElementById('d-rule')?.textContent.startsWith('#2'));
  assert.match(await text(page, '#urls'), /jku https:\/\/attacker\.example\/jwks\.json/);
  assert.match(await text(page, '#urls'), /x5u https:\/\/attacker\.example\/cert\.pem/);
  assert.match(await text(page, '#urls'), /iss https:\/\/idp\.example\/discovery/);
  assert.ok((await page.locator('#warnings li').allInnerTexts()).some((w) => /jku/.test(w)), 'decode warns about jku');
  // Every mode once more, then the count.
  await set(page, { keys: jwks });
  await set(page, { token: 'a.b' });
  await set(page, { keys: '' });
  assert.deepEqual(afterLoad(), [], 'no request after load');
  assert.equal(page.url(), urlAtLoad, 'nothing in the address');
  const storage = await page.evaluate(async () => ({
    local: localStorage.length,
    session: sessionStorage.length,
    cookie: document.cookie,
    idb: (await indexedDB.databases()).length,
    caches: (await caches.keys()).length,
  }));
  assert.deepEqual(storage, { local: 0, session: 0, cookie: '', idb: 0, caches: 0 });
  assert.deepEqual(problems, []);
});

test('accessibility: every control labelled, reachable by Tab in order; screenshots narrow and wide', async (t) => {
  const { page, problems } = await open(t, { width: 390 });
  await set(page, { token: await sign(key, claims({ roles: ['reader'] })), keys: POLICY(), path: '/orders' });
  const controls = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea, button')]
      .filter((e) => e.offsetParent !== null)
      .map((e) => ({ id: e.id, labels: [...(e.labels ?? [])].map((l) => l.textContent.trim()).filter(Boolean) })),
  );
  assert.ok(controls.length >= 7, JSON.stringify(controls));
  for (const c of controls) assert.ok(c.labels.length > 0, `control #${c.id} has a label`);
  assert.equal(await page.locator('#verdict').getAttribute('aria-live'), 'polite');
  assert.equal(await page.locator('[tabindex]:not([tabindex="0"]):not([tabindex="-1"])').count(), 0, 'no positive tabindex');
  // Tab from the top: every control, in document order.
  await page.evaluate(() => document.activeElement?.blur());
  const focused = [];
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate(() => document.activeElement?.id);
    if (!id || focused.includes(id)) break;
    focused.push(id);
  }
  const order = focused.filter((id) => controls.some((c) => c.id === id));
  assert.deepEqual(order, controls.map((c) => c.id), `tab order: ${focused}`);
  // By keyboard alone: the next method in the list (HEAD), the request follows.
  await page.focus('#method');
  await page.keyboard.press('ArrowDown');
  await page.waitForFunction(() => document.getElementById('sent').textContent.startsWith('HEAD '));

  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}/inspector-390.png`, fullPage: true });
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.screenshot({ path: `${ARTIFACTS}/inspector-1280.png`, fullPage: true });
  // The README's picture (js/inspector/screenshot.png is a copy): the request, the verdict, the answer.
  await set(page, { method: 'GET', path: '/admin/users', headers: 'x-user: mallory' });
  await page.evaluate(() => window.scrollTo(0, 0)); // boxes in page coordinates
  const top = await page.locator('#request').boundingBox();
  const end = await page.locator('#checks-section').boundingBox();
  await page.screenshot({ path: `${ARTIFACTS}/inspector-readme.png`, fullPage: true, clip: { x: 0, y: top.y - 8, width: 1280, height: end.y - top.y + 8 } });
  await page.emulateMedia({ colorScheme: 'dark' });
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(dark, 'rgb(255, 255, 255)', 'dark colours');
  await page.screenshot({ path: `${ARTIFACTS}/inspector-1280-dark.png`, fullPage: true });
  assert.ok(statSync(`${ARTIFACTS}/inspector-390.png`).size > 10_000);
  assert.ok(readFileSync(`${ARTIFACTS}/inspector-1280.png`).subarray(1, 4).toString() === 'PNG');
  assert.deepEqual(problems, []);
});
