// Where the time of the npm package goes: the same calls as bench/node_bench.mjs,
// taken apart at the wasm boundary. Uses the generated bindings in js/pkg
// directly (not the package's public API) so each layer can be timed alone:
//
//   boundary floor   a wasm call that returns a short string (signatureChecker)
//   raw              the wasm export, token passed as a string: its result is
//                    one JSON text (verify: [provider, header, claims]; decode:
//                    [warnings, header, payload], the token's own JSON spliced in)
//   one JSON.parse   of that result alone, as the package does
//   public API       what users call (the token written into the module's
//                    buffer, the export, one JSON.parse, argument checks; with
//                    the cache on, a verdict reused in JS)
//
//   taskset -c 1 node bench/node_profile.mjs [--out file.json] [--js DIR]
//
// `--js DIR` loads DIR/src/node.js and DIR/pkg/ instead of js/ (an experimental
// build of the same sources, e.g. another opt-level; see bench/run.sh).
import { createSecretKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

import * as jose from 'jose';

const args = process.argv.slice(2);
const OUT = args.includes('--out') ? args[args.indexOf('--out') + 1] : null;
const JS = args.includes('--js') ? pathToFileURL(`${args[args.indexOf('--js') + 1]}/`) : new URL('../js/', import.meta.url);
const { createVerifier, decode } = await import(new URL('src/node.js', JS));
const { JsVerifier, decode: rawDecode } = await import(new URL('pkg/jwtgate.js', JS));
// signature_verifier "rust" for RS*/ES* needs the pure-Rust RSA/ECDSA: jwtgate/full
// (DIR/full/), where the build has one; an older build's only module has them.
const full = existsSync(new URL('full/src/node.js', JS)) ? await import(new URL('full/src/node.js', JS)) : { createVerifier };

const now = Math.floor(Date.now() / 1000);
const secret = randomBytes(64);
const token = await new jose.SignJWT({ iss: 'https://idp.example.com', aud: 'orders-api', sub: 'user-123', iat: now, exp: now + 3600, jti: 'bench-000001', scope: 'orders:read' })
  .setProtectedHeader({ alg: 'HS256', kid: 'k1', typ: 'JWT' })
  .sign(createSecretKey(secret));
const policy = (cache) => JSON.stringify({
  providers: { idp: { issuer: 'https://idp.example.com', audiences: ['orders-api'], allow_hmac: true, algorithms: ['HS256'], jwks: { keys: [{ kty: 'oct', k: secret.toString('base64url'), kid: 'k1' }] } } },
  rules: [{ prefix: '/', requires: 'idp' }],
  cache: { enabled: cache },
});

const rawOn = new JsVerifier(policy(true));
const rawOff = new JsVerifier(policy(false));
const apiOn = createVerifier(policy(true));
const apiOff = createVerifier(policy(false));
const verifiedText = rawOn.verify(token, now, '/orders');
const decodedText = rawDecode(token, now);

// Median of 5 batches of about 60 ms each, after a warm-up batch.
function ns(fn) {
  let n = 4;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    if (Number(process.hrtime.bigint() - t0) > 15e6) break;
    n *= 2;
  }
  n *= 4;
  const samples = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    samples.push(Number(process.hrtime.bigint() - t0) / n);
  }
  samples.sort((a, b) => a - b);
  return Math.round(samples[2]);
}

// Asymmetric signatures, cache off: node:crypto (`host`) or pure Rust.
async function asymmetric(alg, kind, options, verifier = 'rust') {
  const { privateKey, publicKey } = generateKeyPairSync(kind, options);
  const t = await new jose.SignJWT({ iss: 'https://idp.example.com', aud: 'orders-api', sub: 'user-123', iat: now, exp: now + 3600 })
    .setProtectedHeader({ alg, kid: 'k1' }).sign(privateKey);
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1' };
  const v = (verifier === 'rust' ? full.createVerifier : createVerifier)({
    providers: { idp: { issuer: 'https://idp.example.com', audiences: ['orders-api'], algorithms: [alg], jwks: { keys: [jwk] } } },
    rules: [{ prefix: '/', requires: 'idp' }], cache: { enabled: false }, signature_verifier: verifier,
  });
  return () => v.verify(t, { path: '/orders' });
}
const eddsa = await asymmetric('EdDSA', 'ed25519');
const eddsaHost = await asymmetric('EdDSA', 'ed25519', undefined, 'host');
const es256 = await asymmetric('ES256', 'ec', { namedCurve: 'P-256' });
const rs256 = await asymmetric('RS256', 'rsa', { modulusLength: 2048 });

const rows = [
  ['boundary floor: wasm call returning a short string', () => rawOn.signatureChecker],
  ['decode: raw wasm export (token as a string)', () => rawDecode(token, now)],
  ['decode: one JSON.parse of its result alone', () => JSON.parse(decodedText)],
  ['decode: public API', () => decode(token)],
  ['verify HS256 cache on: public API (verdict reused in JS)', () => apiOn.verify(token, { path: '/orders' })],
  ['verify HS256 cache off, pure Rust: raw wasm export', () => rawOff.verify(token, now, '/orders')],
  ['verify: one JSON.parse of its result alone', () => JSON.parse(verifiedText)],
  ['verify HS256 cache off, node:crypto: public API', () => apiOff.verify(token, { path: '/orders' })],
  ['verify EdDSA cache off, node:crypto: public API', eddsaHost],
  ['verify EdDSA cache off, pure Rust: public API', eddsa],
  ['verify ES256 cache off, signature_verifier rust: public API', es256],
  ['verify RS256 cache off, signature_verifier rust: public API', rs256],
  ['jose.decodeJwt (for scale)', () => jose.decodeJwt(token)],
].map(([name, fn]) => ({ name, ns: ns(fn) }));
for (const r of rows) process.stderr.write(`[node-profile] ${r.name.padEnd(56)} ${String(r.ns).padStart(7)} ns\n`);
if (OUT) writeFileSync(OUT, JSON.stringify({ js: JS.pathname, wasm_bytes: readFileSync(new URL('pkg/jwtgate_bg.wasm', JS)).length, token_bytes: token.length, result_bytes: verifiedText.length, decode_result_bytes: decodedText.length, rows }, null, 1));
