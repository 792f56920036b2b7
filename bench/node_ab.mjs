// Before/after in one process: the npm package of another checkout (`--baseline DIR`,
// its js/ directory with a built pkg/) against this one, beside jose's decodeJwt
// and fast-jwt, in alternating small batches (`--rounds`, default 15; median ns
// per call), so that load from other processes falls on both builds alike.
// Each ratio to its anchor is also taken round by round (the anchor's batch
// sits next to the case's): the median and the 10th to 90th percentile of
// those are printed as "ratio (low to high)".
//
//   taskset -c 1 node bench/node_ab.mjs --baseline ../other-checkout/js [--this DIR] [--rounds 15]
//
// `--this DIR` measures DIR (a js/ directory with pkg/ built) instead of this
// checkout's js/. src/node.js loads pkg/jwtgate_node_bg.wasm, the twin built for
// speed, or pkg/jwtgate_bg.wasm where there is none: to compare size-built
// modules (what browsers and workers run), give two copies of js/ (src/, pkg/)
// without the twin. "EdDSA rust" is the synchronous verify without a host
// (`hostCrypto: "webcrypto"`), so pure Rust checks the signature.
import { generateKeyPairSync, randomBytes, createSecretKey } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import * as jose from 'jose';
import { createVerifier as fastVerifier } from 'fast-jwt';

const args = process.argv.slice(2);
if (!args.includes('--baseline')) throw new Error('usage: node bench/node_ab.mjs --baseline DIR (a js/ directory with pkg/ built)');
const ROUNDS = args.includes('--rounds') ? Number(args[args.indexOf('--rounds') + 1]) : 15;
const A = await import(new URL('src/node.js', pathToFileURL(`${args[args.indexOf('--baseline') + 1]}/`)));
const THIS = args.includes('--this') ? pathToFileURL(`${args[args.indexOf('--this') + 1]}/`) : new URL('../js/', import.meta.url);
const B = await import(new URL('src/node.js', THIS));
const now = Math.floor(Date.now() / 1000);
const claims = { iss: 'https://idp.example.com', aud: 'orders-api', sub: 'user-123', iat: now, exp: now + 86400 * 3650, jti: 'bench-000001', scope: 'orders:read' };
const secret = randomBytes(64);
const hs = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'HS256', kid: 'k1', typ: 'JWT' }).sign(createSecretKey(secret));
const ed = generateKeyPairSync('ed25519');
const edt = await new jose.SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', kid: 'k1', typ: 'JWT' }).sign(ed.privateKey);
const pol = (alg, jwk, cache) => ({ providers: { idp: { issuer: claims.iss, audiences: [claims.aud], allow_hmac: alg === 'HS256', algorithms: [alg], jwks: { keys: [{ ...jwk, kid: 'k1' }] } } }, rules: [{ prefix: '/', requires: 'idp' }], cache: { enabled: cache } });
const hsJwk = { kty: 'oct', k: secret.toString('base64url') };
const edJwk = ed.publicKey.export({ format: 'jwk' });
const cases = {};
for (const [n, m] of [['baseline', A], ['this', B]]) {
  const hOff = m.createVerifier(pol('HS256', hsJwk, false)), hOn = m.createVerifier(pol('HS256', hsJwk, true)), eOff = m.createVerifier(pol('EdDSA', edJwk, false));
  const eRust = m.createVerifier(pol('EdDSA', edJwk, false), { hostCrypto: 'webcrypto' });
  cases[`${n} decode`] = () => m.decode(hs);
  cases[`${n} HS256 off`] = () => hOff.verify(hs, { path: '/o' });
  cases[`${n} HS256 on`] = () => hOn.verify(hs, { path: '/o' });
  cases[`${n} EdDSA off`] = () => eOff.verify(edt, { path: '/o' });
  cases[`${n} EdDSA rust`] = () => eRust.verify(edt, { path: '/o' });
}
cases['jose.decodeJwt'] = () => jose.decodeJwt(hs);
const fOff = fastVerifier({ key: secret, algorithms: ['HS256'], allowedIss: claims.iss, allowedAud: claims.aud, cache: false });
const fOn = fastVerifier({ key: secret, algorithms: ['HS256'], allowedIss: claims.iss, allowedAud: claims.aud, cache: true });
const fEd = fastVerifier({ key: ed.publicKey.export({ format: 'pem', type: 'spki' }), algorithms: ['EdDSA'], allowedIss: claims.iss, allowedAud: claims.aud, cache: false });
cases['fast-jwt HS256 off'] = () => fOff(hs);
cases['fast-jwt HS256 on'] = () => fOn(hs);
cases['fast-jwt EdDSA off'] = () => fEd(edt);
const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const N = (k) => (k.includes('EdDSA') ? 100 : 2000);
for (const [k, f] of Object.entries(cases)) for (let i = 0; i < N(k); i++) f();
for (let r = 0; r < ROUNDS; r++) {
  const keys = Object.keys(cases); if (r % 2) keys.reverse();
  for (const k of keys) { const f = cases[k]; const n = N(k); const t0 = process.hrtime.bigint(); for (let i = 0; i < n; i++) f(); samples[k].push(Number(process.hrtime.bigint() - t0) / n); }
}
const sorted = (x) => [...x].sort((p, q) => p - q);
const med = (x) => sorted(x)[x.length >> 1];
const m = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, med(v)]));
for (const [k, v] of Object.entries(m)) console.log(k.padEnd(22), Math.round(v), 'ns');
/** The anchor's time over the case's, round by round: median (10th to 90th percentile). */
function ratio(anchor, name) {
  const r = sorted(samples[anchor].map((t, i) => t / samples[name][i]));
  const at = (q) => r[Math.min(r.length - 1, Math.floor(q * r.length))].toFixed(2);
  return `${at(0.5)} (${at(0.1)} to ${at(0.9)})`;
}
for (const n of ['baseline', 'this']) {
  console.log(n, 'decode vs jose', ratio('jose.decodeJwt', `${n} decode`), '| HS256 off vs fast-jwt', ratio('fast-jwt HS256 off', `${n} HS256 off`),
    '| HS on', ratio('fast-jwt HS256 on', `${n} HS256 on`), '| EdDSA off', ratio('fast-jwt EdDSA off', `${n} EdDSA off`),
    '| EdDSA rust', ratio('fast-jwt EdDSA off', `${n} EdDSA rust`));
}
