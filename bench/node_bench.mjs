// Node benchmark: the jwtgate npm package against jose, fast-jwt, jsonwebtoken
// and jwt-decode, with node:crypto's bare signature check as the floor.
// Run by bench/run.sh (`make bench`) pinned to one CPU:
//
//   taskset -c 1 node bench/node_bench.mjs --out results.json [--quick] [--rounds N] [--batch-ms N]
//
// Method: every case is checked once (it must accept the token), warmed up,
// and calibrated to a batch of about BATCH_MS; then each round runs one batch
// of every case, in a rotated order, and the figure is the median ops/s over
// rounds. Async cases (jose.jwtVerify) are awaited one by one, as a request
// handler would.
import { createHmac, createSecretKey, generateKeyPairSync, randomBytes, timingSafeEqual, verify as cryptoVerify } from 'node:crypto';
import { writeFileSync, readFileSync } from 'node:fs';

import * as jose from 'jose';
import { createDecoder, createVerifier as fastVerifier } from 'fast-jwt';
import jsonwebtoken from 'jsonwebtoken';
import { jwtDecode } from 'jwt-decode';
import { createVerifier, decode } from 'jwtgate';
// The pure-Rust RSA/ECDSA rows (signature_verifier "rust") need jwtgate/full.
import { createVerifier as createFullVerifier } from 'jwtgate/full';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const OUT = args[args.indexOf('--out') + 1];
// `--batch-ms N`: shorter batches and more rounds interleave the cases more finely.
const BATCH_MS = args.includes('--batch-ms') ? Number(args[args.indexOf('--batch-ms') + 1]) : QUICK ? 50 : 150;
// `--rounds N` overrides the number of rounds (more rounds: steadier medians on a busy machine).
const ROUNDS = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : QUICK ? 3 : 7;
const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'orders-api';
const ALGS = ['RS256', 'ES256', 'EdDSA', 'HS256'];

// Read from node_modules directly: not every package exports ./package.json.
const versions = Object.fromEntries(
  ['jose', 'fast-jwt', 'jsonwebtoken', 'jwt-decode'].map((p) => [
    p, JSON.parse(readFileSync(new URL(`./node_modules/${p}/package.json`, import.meta.url))).version,
  ]),
);

const log = (msg) => process.stderr.write(`[node-bench] ${msg}\n`);

// ---------------------------------------------------------------- keys and tokens

function keyPair(alg) {
  switch (alg) {
    case 'RS256': return generateKeyPairSync('rsa', { modulusLength: 2048 });
    case 'ES256': return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'EdDSA': return generateKeyPairSync('ed25519');
    case 'HS256': {
      const secret = randomBytes(64);
      return { secret };
    }
  }
}

const now = Math.floor(Date.now() / 1000);
const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'user-123', iat: now, exp: now + 10 * 365 * 86400, jti: 'bench-000001', scope: 'orders:read' };

const setups = {};
for (const alg of ALGS) {
  const kp = keyPair(alg);
  const signKey = alg === 'HS256' ? kp.secret : kp.privateKey;
  const token = await new jose.SignJWT(claims).setProtectedHeader({ alg, kid: 'k1', typ: 'JWT' }).sign(signKey);
  const jwk = alg === 'HS256'
    ? { kty: 'oct', k: kp.secret.toString('base64url') }
    : kp.publicKey.export({ format: 'jwk' });
  Object.assign(jwk, { kid: 'k1', use: 'sig' });
  const verifyKey = alg === 'HS256' ? createSecretKey(kp.secret) : kp.publicKey;
  const pem = alg === 'HS256' ? kp.secret : kp.publicKey.export({ format: 'pem', type: 'spki' });
  setups[alg] = { token, jwk, verifyKey, pem };
}

function jwtgatePolicy(alg, jwk, extra = {}) {
  const provider = { issuer: ISSUER, audiences: [AUDIENCE], jwks: { keys: [jwk] }, algorithms: [alg] };
  if (alg === 'HS256') provider.allow_hmac = true;
  return { providers: { idp: provider }, rules: [{ prefix: '/', requires: 'idp' }], ...extra };
}

// ---------------------------------------------------------------- cases

const cases = []; // { group, alg, name, fn, async }
const add = (group, alg, name, fn, isAsync = false) => cases.push({ group, alg, name, fn, async: isAsync });
const notes = [];

const hsToken = setups.HS256.token;
add('decode', '-', 'jwtgate decode', () => decode(hsToken));
add('decode', '-', 'jwt-decode', () => jwtDecode(hsToken));
add('decode', '-', 'jose.decodeJwt', () => jose.decodeJwt(hsToken));
const fastDecode = createDecoder();
add('decode', '-', 'fast-jwt decoder', () => fastDecode(hsToken));
add('decode', '-', 'jsonwebtoken.decode', () => jsonwebtoken.decode(hsToken));

for (const alg of ALGS) {
  const { token, jwk, verifyKey, pem } = setups[alg];
  const [h, p, s] = token.split('.');
  const input = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');

  // Floor: node:crypto's bare check over pre-split buffers.
  if (alg === 'HS256') {
    add('verify', alg, 'node:crypto floor', () => {
      const mac = createHmac('sha256', verifyKey).update(input).digest();
      if (!timingSafeEqual(mac, sig)) throw new Error('bad');
    });
  } else {
    const hash = alg === 'EdDSA' ? null : 'sha256';
    const key = alg === 'ES256' ? { key: verifyKey, dsaEncoding: 'ieee-p1363' } : verifyKey;
    add('verify', alg, 'node:crypto floor', () => {
      if (!cryptoVerify(hash, input, key, sig)) throw new Error('bad');
    });
  }

  // jwtgate: verify() and authorize() (the middleware's call), with the policy's
  // verified-token cache off (every call checks the signature) and on; and the
  // pure-Rust signature path (signature_verifier "rust").
  const off = { cache: { enabled: false } };
  const v = createVerifier(jwtgatePolicy(alg, jwk, off));
  // signatureChecker names who checks signatures (node:crypto for every alg in Node).
  add('verify', alg, `jwtgate verify (${v.signatureChecker})`, () => v.verify(token, { path: '/orders' }));
  const vr = createFullVerifier(jwtgatePolicy(alg, jwk, { ...off, signature_verifier: 'rust' }));
  add('verify', alg, `jwtgate verify (${vr.signatureChecker})`, () => vr.verify(token, { path: '/orders' }));
  const headers = ['host', 'api.example.com', 'authorization', `Bearer ${token}`];
  add('verify', alg, 'jwtgate authorize', () => {
    if (!v.authorize({ method: 'GET', path: '/orders', headers }).allow) throw new Error('denied');
  });
  const vOn = createVerifier(jwtgatePolicy(alg, jwk));
  add('cache', alg, 'jwtgate verify, cache on', () => vOn.verify(token, { path: '/orders' }));
  add('cache', alg, 'jwtgate authorize, cache on', () => {
    if (!vOn.authorize({ method: 'GET', path: '/orders', headers }).allow) throw new Error('denied');
  });

  // jose with a local JWKS (async).
  // jose's JWKS sets hold asymmetric keys only: HS256 gets the secret itself.
  const jwks = alg === 'HS256' ? verifyKey : jose.createLocalJWKSet({ keys: [{ ...jwk, alg }] });
  add('verify', alg, 'jose.jwtVerify', () => jose.jwtVerify(token, jwks, { issuer: ISSUER, audience: AUDIENCE, algorithms: [alg] }), true);

  // fast-jwt, cache off and on.
  const fOpts = { key: pem, algorithms: [alg], allowedIss: ISSUER, allowedAud: AUDIENCE };
  const fOff = fastVerifier({ ...fOpts, cache: false });
  const fOn = fastVerifier({ ...fOpts, cache: true });
  add('verify', alg, 'fast-jwt', () => fOff(token));
  add('cache', alg, 'fast-jwt, cache on', () => fOn(token));

  // jsonwebtoken (no EdDSA support in 9.x: recorded as n/a).
  try {
    jsonwebtoken.verify(token, verifyKey, { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE });
    add('verify', alg, 'jsonwebtoken', () => jsonwebtoken.verify(token, verifyKey, { algorithms: [alg], issuer: ISSUER, audience: AUDIENCE }));
  } catch (e) {
    notes.push(`jsonwebtoken ${versions.jsonwebtoken} cannot verify ${alg}: ${e.message}`);
  }
}

// ---------------------------------------------------------------- timing

async function check(c) {
  // Every case throws when the token is not accepted (or not decoded).
  const r = c.async ? await c.fn() : c.fn();
  if (c.group === 'decode' && !(r && (r.sub ?? r.payload?.sub))) throw new Error('no claims decoded');
}

async function runBatch(c, n) {
  const t0 = process.hrtime.bigint();
  if (c.async) {
    for (let i = 0; i < n; i++) await c.fn();
  } else {
    for (let i = 0; i < n; i++) c.fn();
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

for (const c of cases) {
  try {
    await check(c);
  } catch (e) {
    throw new Error(`${c.group} ${c.alg} ${c.name}: the check failed: ${e.message}`);
  }
  // Warm-up and calibration: grow n until a batch takes about BATCH_MS.
  let n = 8;
  let secs = await runBatch(c, n);
  while (secs < BATCH_MS / 4000) {
    n *= 2;
    secs = await runBatch(c, n);
  }
  c.n = Math.max(1, Math.round(n * (BATCH_MS / 1000) / secs));
  await runBatch(c, c.n);
  c.samples = [];
}
log(`${cases.length} cases checked and warmed up`);

for (let round = 0; round < ROUNDS; round++) {
  const k = (round * 5) % cases.length;
  const order = cases.slice(k).concat(cases.slice(0, k));
  if (round % 2) order.reverse();
  for (const c of order) c.samples.push(c.n / (await runBatch(c, c.n)));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const results = cases.map((c) => ({ group: c.group, alg: c.alg, name: c.name, ops: median(c.samples), samples: c.samples.map(Math.round) }));
for (const r of results) log(`${r.group.padEnd(7)} ${r.alg.padEnd(6)} ${r.name.padEnd(34)} ${Math.round(r.ops).toString().padStart(9)} ops/s`);

const wasm = new URL('../js/pkg/jwtgate_bg.wasm', import.meta.url);
const jwtgatePkg = JSON.parse(readFileSync(new URL('../js/package.json', import.meta.url)));
writeFileSync(OUT, JSON.stringify({
  node: process.version,
  quick: QUICK,
  batch_ms: BATCH_MS,
  rounds: ROUNDS,
  versions: { ...versions, jwtgate: jwtgatePkg.version },
  token_bytes: Object.fromEntries(ALGS.map((a) => [a, setups[a].token.length])),
  wasm_path: wasm.pathname,
  notes,
  results,
}, null, 1));
log(`wrote ${OUT}`);
