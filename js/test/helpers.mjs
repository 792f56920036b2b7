// Test fixtures: keys and tokens minted by `jose` (an independent JWT library),
// never by jwtgate, and policies built around them.
import assert from 'node:assert/strict';
import * as jose from 'jose';

/** The fixed clock of the tests: 2026-01-01T00:00:00Z. */
export const NOW = 1767225600;
export const ISS = 'https://issuer.example';
export const AUD = 'api';

export const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
export const HMAC = ['HS256', 'HS384', 'HS512'];
export const ALL_ALGS = [...ASYMMETRIC, ...HMAC];

/**
 * The error code `fn` throws (a JwtError, else the test fails), or 'ok' when it
 * returns. By name, so that this module never loads the package itself.
 */
export function errorCode(fn) {
  return jwtErrorOf(fn)?.code ?? 'ok';
}

/** The JwtError `fn` throws (checked by name), or undefined when it returns. */
export function jwtErrorOf(fn) {
  try {
    fn();
  } catch (e) {
    assert.equal(e?.name, 'JwtError', String(e));
    return e;
  }
  return undefined;
}

/** A signing key and its public JWK (with kid and alg), for `alg`. */
export async function keyFor(alg, kid = `${alg.toLowerCase()}-1`) {
  if (HMAC.includes(alg)) {
    const secret = await jose.generateSecret(alg, { extractable: true });
    return { alg, kid, signingKey: secret, jwk: { ...(await jose.exportJWK(secret)), kid, alg } };
  }
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { alg, kid, signingKey: privateKey, publicKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** Claims valid at NOW for ISS/AUD, with `extra` merged over them. */
export function claims(extra = {}) {
  return { iss: ISS, aud: AUD, sub: 'user-1', iat: NOW - 60, exp: NOW + 3600, ...extra };
}

/** Signs `payload` with `key` (from keyFor); `header` is merged over { alg, kid, typ }. */
export function sign(key, payload = claims(), header = {}) {
  return new jose.SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.signingKey);
}

/** A one-provider policy named "main" trusting `keys`; `provider` and `rest` are merged in. */
export function policyFor(keys, provider = {}, rest = {}) {
  const algs = keys.map((k) => k.alg);
  return {
    providers: {
      main: {
        issuer: ISS,
        audiences: [AUD],
        jwks: { keys: keys.map((k) => k.jwk) },
        algorithms: algs,
        allow_hmac: algs.some((a) => HMAC.includes(a)),
        ...provider,
      },
    },
    ...rest,
  };
}

/** The token with one bit of its signature flipped (same length, still canonical base64url). */
export function flipSignatureBit(token) {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[0] ^= 0x01;
  return `${h}.${p}.${sig.toString('base64url')}`;
}

export const b64json = (obj) => Buffer.from(JSON.stringify(obj)).toString('base64url');

export { jose };
