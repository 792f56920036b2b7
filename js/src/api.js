// The public API over the wasm module, shared by the Node and browser entry points.
// Argument conversion only: every verdict, claim check and HTTP answer is the core's.
import { JsVerifier, decode as wasmDecode, errorCodes, verifyJws as wasmVerifyJws } from '../pkg/jwtgate.js';
import { JwtError, call } from './errors.js';

let ready = false;
let hostCrypto;

/**
 * Called by the entry point once the wasm module is instantiated, with the
 * factory of the host's signature crypto, if the platform has a synchronous one.
 */
export function markReady(hostCryptoFactory) {
  ready = true;
  hostCrypto = hostCryptoFactory;
}

function assertReady() {
  if (!ready) {
    throw new Error('jwtgate: the WebAssembly module is not loaded yet; call `await init()` first');
  }
}

/** `now` as Unix seconds: a Date, a number of seconds, or (default) the current time. */
function seconds(now) {
  if (now === undefined) return Math.floor(Date.now() / 1000);
  if (now instanceof Date) return Math.floor(now.getTime() / 1000);
  if (typeof now === 'number' && Number.isFinite(now)) return Math.floor(now);
  throw new TypeError('jwtgate: `now` must be a Date or a number of Unix seconds');
}

function text(value, what) {
  if (typeof value !== 'string') throw new TypeError(`jwtgate: ${what} must be a string`);
  return value;
}

/** Every stable error code of the core, in documentation order. */
export function errorCodeList() {
  assertReady();
  return JSON.parse(errorCodes());
}

/**
 * Decodes a token's header and payload WITHOUT verifying anything.
 * Throws JwtError (malformed, jwe_unsupported, too_large, ...) when it is not a JWS.
 */
export function decode(token, options = {}) {
  assertReady();
  text(token, 'token');
  const { header, payload, warnings } = JSON.parse(call(() => wasmDecode(token, seconds(options.now))));
  return { header, payload, warnings };
}

/** Unpadded base64url (from the core) to bytes, with `atob`: Node and browsers alike. */
function bytes(base64url) {
  const binary = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/**
 * Verifies a compact JWS whose payload may be anything, with the core's JWS
 * operation (the one JWT verification is built on): `jwkOrJwks` is one JWK or a
 * JWK set, as an object or JSON text. HMAC (`oct`) keys are accepted, since the
 * caller passes the keys. Returns { header, payload } with `payload` the bytes
 * (Uint8Array), or throws JwtError. The keys are parsed on every call, and
 * signatures are checked in pure Rust; for many tokens, a Verifier is faster.
 */
export function verifyJws(token, jwkOrJwks) {
  assertReady();
  text(token, 'token');
  if (typeof jwkOrJwks !== 'string' && (typeof jwkOrJwks !== 'object' || jwkOrJwks === null)) {
    throw new TypeError('jwtgate: the key must be a JWK or a JWK set, as an object or a JSON string');
  }
  const json = typeof jwkOrJwks === 'string' ? jwkOrJwks : JSON.stringify(jwkOrJwks);
  const { header, payload } = JSON.parse(call(() => wasmVerifyJws(token, json)));
  return { header, payload: bytes(payload) };
}

/** A verifier for one policy; build it once and reuse it (the key sets are parsed here). */
export class Verifier {
  #inner;

  constructor(policy) {
    assertReady();
    const json = typeof policy === 'string' ? policy : JSON.stringify(policy);
    if (json === undefined) throw new TypeError('jwtgate: the policy must be an object or a JSON string');
    this.#inner = call(() => new JsVerifier(json, hostCrypto?.()));
  }

  /** Who checks RSA and ECDSA signatures: "node:crypto" (Node) or "pure Rust". */
  get signatureChecker() {
    return this.#inner.signatureChecker;
  }

  /** Problems found in the policy that did not stop it loading (e.g. skipped keys). */
  get warnings() {
    return JSON.parse(this.#inner.warnings());
  }

  /** Verifies `token`; returns { provider, header, claims } or throws JwtError. */
  verify(token, options = {}) {
    text(token, 'token');
    return JSON.parse(call(() => this.#inner.verify(token, seconds(options.now), options.path)));
  }

  /** Runs every check and reports each one: { ok, code?, message?, provider?, checks }. */
  explain(token, options = {}) {
    text(token, 'token');
    return JSON.parse(this.#inner.explain(token, seconds(options.now), options.path));
  }

  /**
   * Decides an HTTP request as the Envoy filter would.
   * `headers` is a flat [name, value, ...] list like Node's `req.rawHeaders`.
   */
  authorize({ method, path, headers }, options = {}) {
    text(method, 'method');
    text(path, 'path');
    return JSON.parse(this.#inner.authorize(method, path, headers.map(String), seconds(options.now)));
  }
}

/** Builds a Verifier from a policy object or JSON string; throws JwtError invalid_config. */
export function createVerifier(policy) {
  return new Verifier(policy);
}

export { JwtError };
