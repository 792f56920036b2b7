// The inspector's one script. Every verdict, check, warning and HTTP answer on
// the page comes from jwtgate's core (decode, explain, authorize, ruleFor); this
// file only reads the inputs, builds the request, and writes the answers into the
// page with textContent (never innerHTML: the token and policy are untrusted).
// It makes no request: the WebAssembly module's bytes come in wasm-bytes.js,
// a script of the page, and nothing is stored or put into the address.
import { init, decode, createVerifier, JwtError } from './src/browser.js';
import wasmBase64 from './pkg/wasm-bytes.js';

const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
const failure = (err) => (err instanceof JwtError ? { code: err.code, message: err.message } : { code: 'error', message: String(err?.message ?? err) });

// ------------------------------------------------------------------ formatting

/** "5 min", "2 h", "3 d": the largest whole unit, rounded down. */
function span(seconds) {
  const s = Math.abs(Math.trunc(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

const TIME_CLAIMS = {
  exp: (d) => (d > 0 ? `expires in ${span(d)}` : `expired ${span(d)} ago`),
  nbf: (d) => (d > 0 ? `not valid for another ${span(d)}` : `valid since ${span(d)} ago`),
  iat: (d) => (d > 0 ? `issued ${span(d)} in the future` : `issued ${span(d)} ago`),
  auth_time: (d) => (d > 0 ? `authenticated ${span(d)} in the future` : `authenticated ${span(d)} ago`),
};

const isoDate = (t) => {
  const date = new Date(t * 1000);
  return Number.isNaN(date.getTime()) ? 'not a date' : date.toISOString().replace('.000Z', 'Z');
};

/** base64url to text, leniently (padding and whitespace tolerated): for showing a broken token only. */
function lenientText(segment) {
  try {
    const b64 = segment.replace(/\s+/g, '').replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    return { bytes: binary.length, text: new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))) };
  } catch {
    return undefined;
  }
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

// ------------------------------------------------------------------ the inputs

/** What the second box holds: { kind: 'none'|'jwk'|'jwks'|'policy'|'pem'|'invalid', value?, message? }. */
function readKeys(text) {
  if (!text) return { kind: 'none' };
  if (/^-----BEGIN [A-Z0-9 ]+-----/.test(text)) return { kind: 'pem', value: text };
  let value;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { kind: 'invalid', message: `not JSON: ${err.message}` };
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    if ('providers' in value) return { kind: 'policy', value };
    if (Array.isArray(value.keys)) return { kind: 'jwks', value };
    if (typeof value.kty === 'string') return { kind: 'jwk', value: { keys: [value] }, single: true };
  }
  return { kind: 'invalid', message: 'not a JWK ({"kty":…}), a JWK set ({"keys":[…]}) or a jwtgate policy ({"providers":…})' };
}

/** What a pasted PEM key may verify (the core still requires the key to fit). */
const PEM_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

const KIND_NAMES = { none: 'nothing', jwk: 'a JWK', jwks: 'a JWK set', policy: 'a jwtgate policy', pem: 'a PEM key', invalid: 'not recognized' };

/** `name: value` lines to a flat [name, value, ...] list; lines without a colon are skipped. */
function readHeaders(text) {
  const flat = [];
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    flat.push(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return flat;
}

/** Where the provider of the rule for this request reads its token (the first location it lists). */
function tokenLocation(policy, ruleIndex) {
  const providers = policy.providers ?? {};
  const rule = ruleIndex === null ? undefined : policy.rules?.[ruleIndex];
  const required = rule?.requires;
  const name = (Array.isArray(required) ? required[0] : required) ?? Object.keys(providers)[0];
  const p = providers[name] ?? {};
  if (p.from_headers?.length) return { kind: 'header', name: p.from_headers[0].name, prefix: p.from_headers[0].value_prefix ?? '' };
  if (p.from_params?.length) return { kind: 'param', name: p.from_params[0] };
  if (p.from_cookies?.length) return { kind: 'cookie', name: p.from_cookies[0] };
  return { kind: 'header', name: 'authorization', prefix: 'Bearer ' };
}

/** The request as it arrives: { method, path, headers } with the token placed as asked. */
function buildRequest(policy, verifier, token) {
  const method = $('method').value;
  let path = $('path').value || '/';
  const headers = readHeaders($('headers').value);
  let ruleIndex = null;
  try {
    ruleIndex = verifier.ruleFor(method, path);
  } catch {
    // invalid_path: authorize answers 400 for it, with the reason.
  }
  const choice = $('token-location').value;
  let where = 'not sent';
  if (token && choice !== 'none') {
    const loc = choice === 'authorization' ? { kind: 'header', name: 'authorization', prefix: 'Bearer ' } : tokenLocation(policy, ruleIndex);
    if (loc.kind === 'header') {
      headers.unshift(loc.name, `${loc.prefix}${token}`);
      where = `the ${loc.name} header${loc.prefix ? ` after "${loc.prefix}"` : ''}`;
    } else if (loc.kind === 'param') {
      const [beforeHash, hash = ''] = path.split('#');
      path = `${beforeHash}${beforeHash.includes('?') ? '&' : '?'}${loc.name}=${token}${hash ? `#${hash}` : ''}`;
      where = `the query parameter ${loc.name}`;
    } else {
      headers.push('cookie', `${loc.name}=${token}`);
      where = `the cookie ${loc.name}`;
    }
  }
  return { method, path, headers, ruleIndex, where };
}

// ------------------------------------------------------------------ output

function setVerdict(kind, code, message) {
  const v = $('verdict');
  v.className = kind;
  v.dataset.code = code ?? '';
  v.replaceChildren();
  const label = { ok: 'Valid', fail: 'Refused', info: 'Note', allow: 'Allowed', deny: 'Denied' }[kind] ?? '';
  v.append(el('strong', { textContent: `${label}: ` }));
  if (code) v.append(el('code', { textContent: code }), ' ');
  v.append(message);
}

/** The visible mark, hidden from screen readers (they read pass/fail). */
function mark(symbol) {
  const node = el('span', { textContent: symbol });
  node.setAttribute('aria-hidden', 'true');
  return node;
}

function showChecks(checks, note) {
  $('checks-section').hidden = checks === undefined;
  $('checks-note').textContent = note ?? '';
  $('checks').tBodies[0].replaceChildren(
    ...(checks ?? []).map((c) =>
      el(
        'tr',
        { className: c.ok ? 'pass' : 'fail' },
        el('td', { className: 'mark' }, mark(c.ok ? '✓' : '✗'), el('span', { className: 'sr-only', textContent: c.ok ? 'pass' : 'fail' })),
        el('td', { textContent: c.check }),
        el('td', { textContent: c.detail }),
      ),
    ),
  );
}

/** The segments, times, warnings and URLs: from the core's decode, or leniently when it refused the token. */
function showToken(token, decoded, error) {
  $('token-section').hidden = !token;
  const parts = token.split('.');
  const failed = error ? (/\b(header|payload|signature) segment\b/.exec(error.message)?.[1] ?? /\b(header|payload)\b/.exec(error.message)?.[1]) : undefined;
  const segments = [
    ['header', 'header', parts[0]],
    ['payload', 'claims', parts[1]],
    ['signature', 'signature', parts[2]],
  ];
  for (const [name, pre, raw] of segments) {
    const box = $(`seg-${name}`);
    let text = '';
    let state = 'ok';
    if (decoded) {
      text = name === 'header' ? JSON.stringify(decoded.header, null, 2) : name === 'payload' ? JSON.stringify(decoded.payload, null, 2) : `${lenientText(raw)?.bytes ?? 0} bytes (${raw.length} base64url characters)`;
    } else if (raw === undefined) {
      state = 'missing';
      text = '(no such segment)';
    } else {
      const lenient = lenientText(raw);
      state = failed === name ? 'error' : 'partial';
      if (name === 'signature') text = lenient ? `${lenient.bytes} bytes (${raw.length} characters)` : `${raw.length} characters, not base64url`;
      else text = lenient ? pretty(lenient.text) : '(not base64url)';
    }
    box.dataset.state = state;
    $(`seg-${name}-error`).textContent = state === 'error' ? error.message : '';
    $(pre).textContent = text;
  }
  if (error && !failed) {
    // The problem is the token as a whole (segment count, size, JWE).
    $('seg-header-error').textContent = error.message;
    $('seg-header').dataset.state = 'error';
  }

  const claims = decoded?.payload ?? (() => {
    try {
      return JSON.parse(lenientText(parts[1] ?? '')?.text ?? '');
    } catch {
      return undefined;
    }
  })();
  const header = decoded?.header ?? (() => {
    try {
      return JSON.parse(lenientText(parts[0] ?? '')?.text ?? '');
    } catch {
      return undefined;
    }
  })();
  const now = Date.now() / 1000;
  const times = [];
  for (const [name, relative] of Object.entries(TIME_CLAIMS)) {
    const t = claims?.[name];
    if (typeof t !== 'number') continue;
    times.push(el('tr', { id: `time-${name}` }, el('th', { scope: 'row', textContent: name }), el('td', { textContent: isoDate(t) }), el('td', { textContent: relative(t - now) })));
  }
  $('times').tBodies[0].replaceChildren(...times);
  if (times.length === 0) $('times').tBodies[0].append(el('tr', {}, el('td', { colSpan: 3, className: 'muted', textContent: 'no exp, nbf, iat or auth_time' })));

  const warnings = decoded?.warnings ?? [];
  $('warnings').replaceChildren(...warnings.map((w) => el('li', { textContent: w })));
  if (!decoded) $('warnings').append(el('li', { className: 'muted', textContent: 'the core did not decode the token (see above)' }));
  else if (warnings.length === 0) $('warnings').append(el('li', { className: 'muted', textContent: 'none' }));

  const urls = [];
  for (const [where, name] of [[header, 'jku'], [header, 'x5u'], [claims, 'iss']]) {
    const value = where?.[name];
    if (typeof value === 'string' && /^[a-z][a-z0-9+.-]*:/i.test(value)) urls.push(el('li', {}, el('code', { textContent: name }), ` ${value}`));
  }
  $('urls').replaceChildren(...urls);
  if (urls.length === 0) $('urls').append(el('li', { className: 'muted', textContent: 'none' }));
}

function fact(name, value, id) {
  return [el('dt', { textContent: name }), el('dd', { textContent: value, ...(id ? { id } : {}) })];
}

/** The decision; `provider` is the one explain accepted the token for, if any. */
function showDecision(request, decision, policy, provider) {
  $('decision-section').hidden = decision === undefined;
  if (!decision) return;
  const rule = request.ruleIndex === null ? undefined : policy.rules?.[request.ruleIndex];
  const ruleText = rule ? `#${request.ruleIndex + 1} ${JSON.stringify(rule)}` : decision.code === 'invalid_path' ? 'none: the target is refused before any rule' : 'no rule matches';
  const facts = [];
  if (decision.allow) {
    const target = decision.set_path ?? request.path;
    facts.push(
      ...fact('Status', 'forwarded upstream', 'd-status'),
      ...fact('Reason', decision.reason, 'd-reason'),
      ...fact('Rule', ruleText, 'd-rule'),
      ...fact('Provider', decision.provider ?? '–', 'd-provider'),
      ...fact('Upstream target', `${request.method} ${target}${decision.set_path ? ' (canonical form)' : ' (unchanged)'}`, 'd-target'),
    );
    const removed = new Set(decision.remove_headers.map((h) => h.toLowerCase()));
    const set = new Map(decision.set_headers.map(([n, v]) => [n.toLowerCase(), [n, v]]));
    const lines = [];
    for (let i = 0; i < request.headers.length; i += 2) {
      const name = request.headers[i].toLowerCase();
      if (removed.has(name) || set.has(name)) continue;
      lines.push(`${request.headers[i]}: ${request.headers[i + 1]}`);
    }
    for (const [n, v] of set.values()) lines.push(`${n}: ${v}`);
    $('out-title').textContent = 'Upstream receives';
    $('out').textContent = [`${request.method} ${target}`, ...lines].join('\n') +
      (removed.size ? `\n\n(removed: ${[...removed].join(', ')})` : '');
  } else {
    const www = decision.headers.find(([n]) => n.toLowerCase() === 'www-authenticate')?.[1];
    facts.push(
      ...fact('Status', String(decision.status), 'd-status'),
      ...fact('Error', `${decision.code}: ${decision.message}`, 'd-error'),
      ...fact('Rule', ruleText, 'd-rule'),
      ...fact('Provider', provider ?? (rule?.requires ? `the rule requires ${[].concat(rule.requires).join(' or ')}` : '–'), 'd-provider'),
      ...fact('WWW-Authenticate', www ?? '–', 'd-www'),
      ...fact('Body', decision.body, 'd-body'),
    );
    $('out-title').textContent = 'Client receives (nothing goes upstream)';
    $('out').textContent = [`HTTP ${decision.status}`, ...decision.headers.map(([n, v]) => `${n}: ${v}`), '', decision.body].join('\n');
  }
  $('decision').replaceChildren(...facts);
  const sent = [`${request.method} ${request.path}`];
  for (let i = 0; i < request.headers.length; i += 2) sent.push(`${request.headers[i]}: ${request.headers[i + 1]}`);
  $('sent').textContent = sent.join('\n');
}

// ------------------------------------------------------------------ one pass

/** A verifier per policy text: the key sets are parsed once, not on every keystroke. */
let cached = { text: undefined, verifier: undefined, error: undefined };
function verifierFor(text, policy) {
  if (cached.text !== text) {
    cached = { text };
    try {
      cached.verifier = createVerifier(policy);
    } catch (err) {
      cached.error = failure(err);
    }
  }
  return cached;
}

function update() {
  const token = $('token').value.trim().replace(/^bearer\s+/i, '');
  const keys = readKeys($('keys').value.trim());
  $('keys-kind').textContent = KIND_NAMES[keys.kind];
  $('request').hidden = keys.kind !== 'policy';

  let decoded;
  let decodeError;
  if (token) {
    try {
      decoded = decode(token);
    } catch (err) {
      decodeError = failure(err);
    }
  }
  showToken(token, decoded, decodeError);
  showChecks(undefined);
  showDecision(undefined, undefined);
  $('location-used').textContent = '–';

  if (keys.kind === 'invalid') return setVerdict('fail', 'error', `Keys or policy: ${keys.message}`);
  if (keys.kind === 'policy') return runPolicy(token, keys.value, decoded, decodeError);
  if (!token) return setVerdict('info', '', 'Paste a token.');
  if (decodeError) return setVerdict('fail', decodeError.code, `Not a JWS: ${decodeError.message}`);
  if (keys.kind === 'none') return setVerdict('info', '', 'Decoded only, not verified: paste its JWK set or a policy.');
  return runKeys(token, keys, decoded);
}

/**
 * Keys only: the core's explain, with the keys as a provider whose issuer is
 * the token's own and that checks no audience: the signature, key, algorithm
 * and times are checked; issuer and audience need a policy.
 */
function runKeys(token, keys, decoded) {
  const iss = typeof decoded.payload?.iss === 'string' ? decoded.payload.iss : '(the token has no iss)';
  const provider = { issuer: iss };
  let what;
  let note = '';
  if (keys.kind === 'pem') {
    // A PEM key names no algorithm, and a gateway policy must pin one
    // (pem_keys[].alg or the provider's algorithms). Here every asymmetric
    // algorithm is allowed, so the core checks the one the key fits.
    provider.pem_keys = [{ pem: keys.value }];
    provider.algorithms = PEM_ALGORITHMS;
    what = 'PEM key';
    note = ' A PEM key names no algorithm: any the key fits was allowed here; in a policy, pin it (pem_keys[].alg or algorithms).';
  } else {
    provider.jwks = keys.value;
    provider.allow_hmac = keys.value.keys.some((k) => k && k.kty === 'oct');
    what = keys.single ? 'JWK' : 'JWK set';
  }
  const policy = { providers: { keys: provider }, rules: [{ prefix: '/', requires: 'keys' }] };
  const { verifier, error } = verifierFor(JSON.stringify(policy), policy);
  if (error) return setVerdict('fail', error.code, `The ${what}: ${error.message.replace(/^providers\.keys\.(jwks|pem_keys(\[0\])?)\b\.?\s*:?\s*/, '')}`);
  const report = verifier.explain(token);
  const notes = verifier.warnings.map((w) => ({ check: 'keys', ok: true, detail: `warning: ${w}` }));
  showChecks([...notes, ...report.checks], `Checked with the ${what} only: the issuer is taken from the token and no audience is required. Paste a policy to check them.${note}`);
  if (report.ok) {
    const { alg, kid } = decoded.header;
    return setVerdict('ok', '', `valid: signature (${alg}${kid ? `, key "${kid}"` : ''}) and times check out with the given keys.`);
  }
  return setVerdict('fail', report.code, report.message);
}

/** A policy: the core's authorize on the request line, and explain for the checks. */
function runPolicy(token, policy, decoded, decodeError) {
  const { verifier, error } = verifierFor($('keys').value.trim(), policy);
  if (error) return setVerdict('fail', error.code, `The policy: ${error.message}`);
  const request = buildRequest(policy, verifier, token);
  $('location-used').textContent = request.where;
  const decision = verifier.authorize({ method: request.method, path: request.path, headers: request.headers, caseInsensitive: $('case-insensitive').checked });
  const report = token && !decodeError ? verifier.explain(token, { path: $('path').value || '/' }) : undefined;
  showDecision(request, decision, policy, report?.provider);
  if (report) {
    const notes = verifier.warnings.map((w) => ({ check: 'policy', ok: true, detail: `warning: ${w}` }));
    showChecks([...notes, ...report.checks], report.provider ? `Checked for provider "${report.provider}".` : undefined);
  }
  if (decision.allow) {
    const target = decision.set_path ?? request.path;
    return setVerdict('allow', '', `${decision.reason}: forwarded upstream as ${request.method} ${target}${decision.provider ? ` (provider "${decision.provider}")` : ''}.`);
  }
  return setVerdict('deny', decision.code, `${decision.status}: ${decision.message}`);
}

// ------------------------------------------------------------------ wiring

let timer;
const schedule = () => {
  clearTimeout(timer);
  timer = setTimeout(run, 60);
};
/** One recomputation; the root element counts them and keeps the last one's milliseconds (for tests). */
function run() {
  const start = performance.now();
  try {
    update();
  } catch (err) {
    setVerdict('fail', 'error', `The inspector failed: ${failure(err).message}`);
  }
  const root = document.documentElement.dataset;
  root.ms = (performance.now() - start).toFixed(1);
  root.updated = String(Number(root.updated ?? 0) + 1);
}

for (const id of ['token', 'keys', 'method', 'path', 'token-location', 'headers', 'case-insensitive']) {
  $(id).addEventListener('input', schedule);
  $(id).addEventListener('change', schedule);
}
// A dropped file replaces the box's text (the browser inserts dropped text itself).
for (const id of ['token', 'keys']) {
  $(id).addEventListener('dragover', (e) => e.dataTransfer?.types.includes('Files') && e.preventDefault());
  $(id).addEventListener('drop', async (e) => {
    const file = e.dataTransfer?.files?.[0];
    if (!file) return;
    e.preventDefault();
    $(id).value = (await file.text()).trim();
    schedule();
  });
}

try {
  const binary = atob(wasmBase64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  await init(bytes);
  $('status').textContent = 'Ready. Everything below is computed in this page.';
  document.documentElement.dataset.ready = 'true';
  run();
} catch (err) {
  $('status').textContent = `Could not load the WebAssembly module: ${err.message}`;
  document.documentElement.dataset.ready = 'false';
}
