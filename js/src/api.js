// The public API over the wasm module, shared by the Node and browser entry points.
// Argument conversion only: every verdict, claim check and HTTP answer is the core's.
import {
  JsVerifier,
  TokenInput,
  decode as wasmDecode,
  decodeInput,
  errorCodes,
  hostProbes,
  verifyJws as wasmVerifyJws,
  wasmMemory,
} from '../pkg/jwtgate.js';
import { JwtError, call } from './errors.js';
import { webCryptoHost } from './webcrypto.js';
import { KeyRefresher } from './keys.js';

let ready = false;
let hostCrypto;

/**
 * Called by the entry point once the wasm module is instantiated, with the
 * factory of the host's signature crypto, if the platform has a synchronous
 * one (node:crypto). Without one, `verifyAsync` uses WebCrypto.
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

const utf8 = new TextEncoder();

/**
 * The module's token buffer (src/js.rs, TokenInput): a token's UTF-8 goes
 * into the module's memory with one `encodeInto` (the bytes wasm-bindgen
 * would pass for the string), with no allocation per call. A token whose
 * UTF-8 does not fit in INPUT_BYTES is passed as a string instead.
 */
const INPUT_BYTES = 65536;
const tokenInput = { buffer: undefined, memory: undefined, view: new Uint8Array(0), at: 0, busy: false };

/**
 * Runs `withInput(buffer, len)` on `token` written into the token buffer, or
 * `withString()` when it does not fit or the buffer is in use (a call made
 * from inside another).
 */
function withToken(token, withInput, withString) {
  const input = tokenInput;
  if (input.busy || token.length > INPUT_BYTES) return withString();
  if (input.buffer === undefined) {
    input.buffer = new TokenInput();
    input.memory = wasmMemory();
    input.at = input.buffer.reserve(INPUT_BYTES);
  }
  if (input.view.byteLength === 0) {
    input.view = new Uint8Array(input.memory.buffer, input.at, INPUT_BYTES); // first use, or the memory grew
  }
  const { read, written } = utf8.encodeInto(token, input.view);
  if (read !== token.length) return withString();
  input.busy = true;
  try {
    return withInput(input.buffer, written);
  } finally {
    input.busy = false;
  }
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
  // The core's warnings, then the token's own header and payload JSON, which
  // the core just parsed strictly (src/js.rs, with_json_text): one JSON.parse.
  const now = seconds(options.now);
  const result = call(() =>
    withToken(token, (input, len) => decodeInput(input, len, now), () => wasmDecode(token, now)),
  );
  const [warnings, header, payload] = JSON.parse(result);
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
 * signatures are checked by node:crypto in Node (after the self-test), else in
 * pure Rust; for many tokens, a Verifier is faster.
 */
export function verifyJws(token, jwkOrJwks) {
  assertReady();
  text(token, 'token');
  if (typeof jwkOrJwks !== 'string' && (typeof jwkOrJwks !== 'object' || jwkOrJwks === null)) {
    throw new TypeError('jwtgate: the key must be a JWK or a JWK set, as an object or a JSON string');
  }
  const json = typeof jwkOrJwks === 'string' ? jwkOrJwks : JSON.stringify(jwkOrJwks);
  const { header, payload } = JSON.parse(call(() => wasmVerifyJws(token, json, hostCrypto?.())));
  return { header, payload: bytes(payload) };
}

/**
 * `keysByCaller(verifier)`: hands the verifier's key fetching to the caller
 * (createGuard, per request: js/src/edge-keys.js). From then on the verifier
 * starts no fetch and waits for none by itself (no kick, no wait, no timer);
 * returns its KeyRefresher, or undefined without remote keys. Not exported by
 * the entry points.
 */
export let keysByCaller;

/**
 * `mayWaitForKeys(verifier, code)`: whether a refusal with `code` may wait
 * for keys being fetched (the core's keyWait: a pending first fetch, or a
 * kid-miss refetch under way), where the verifier fetches its keys itself;
 * then `authorizeAsync` and `verifyAsync` wait for them. For the middleware;
 * not exported by the entry points.
 */
export let mayWaitForKeys;

/** Freezes a parsed JSON value and everything in it (a reused verdict is shared between calls). */
function deepFreeze(value) {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const key of Object.keys(value)) deepFreeze(value[key]);
    Object.freeze(value);
  }
  return value;
}

/** A verifier for one policy; build it once and reuse it (the key sets are parsed here). */
export class Verifier {
  #inner;
  /** The SubtleCrypto of verifyAsync, or undefined when verifyAsync is the synchronous path. */
  #subtle;
  /** Promise of the WebCrypto host once offered (undefined in it: the core uses pure Rust). */
  #webCrypto;
  /** Fetches remote keys (`remote_jwks`, `discovery`); undefined without them. */
  #keys;
  /** The caller performs the key fetches (keysByCaller): no kick, no wait here. */
  #byCaller = false;

  static {
    keysByCaller = (verifier) => {
      verifier.#byCaller = true;
      verifier.#keys?.close?.(); // a background timer, where the refresher has one
      return verifier.#keys;
    };
    mayWaitForKeys = (verifier, code) =>
      !verifier.#byCaller && code !== undefined && verifier.#keys?.keyWait(code) !== undefined;
  }

  /**
   * With the policy's cache on: verdicts of the core reused in JavaScript, by
   * token: { path, result, since, until, generation, bytes }. A verdict is
   * reused only for the same path, while since <= now < until (the core's
   * reuse window: exp plus skew, max_age, the freshness of fetched keys) and
   * while the core's key generation is unchanged; otherwise the core decides.
   * This is verify's cache, within the policy's cache.max_entries and
   * cache.max_bytes (counted as the core counts): the module's verify never
   * fills its own cache, which only authorize uses (src/js.rs).
   */
  #reuse;
  #reuseBytes = 0;
  #reuseLimits;

  /**
   * `options.hostCrypto`: "auto" (default): node:crypto where the platform has
   * it (Node), for verify and verifyAsync; elsewhere verify is pure Rust (RS*,
   * PS*, ES* in jwtgate/full only) and verifyAsync uses WebCrypto. "webcrypto": verifyAsync uses WebCrypto even in
   * Node, and verify is pure Rust (the browsers' behaviour, for tests).
   * `options.subtle`: the SubtleCrypto for WebCrypto (default `globalThis.crypto.subtle`).
   * Remote keys: `options.fetch` (default `globalThis.fetch`), `options.clock`
   * (Unix seconds, default the system clock), `options.onKeyEvent` (every fetch
   * result, for logs and metrics), `options.backgroundRefresh` (fetch on a
   * timer from the core's schedule; default on in Node, where the timer is
   * unref'd, off in browsers and workers; `close()` stops it). A call that finds
   * a fetch due starts it without waiting; `verifyAsync` and `authorizeAsync`
   * wait for a pending first fetch; `refreshKeys()` waits for the fetches due.
   */
  constructor(policy, options = {}) {
    assertReady();
    const json = typeof policy === 'string' ? policy : JSON.stringify(policy);
    if (json === undefined) throw new TypeError('jwtgate: the policy must be an object or a JSON string');
    const { hostCrypto: choice = 'auto', subtle } = options ?? {};
    if (choice !== 'auto' && choice !== 'webcrypto') {
      throw new TypeError('jwtgate: `hostCrypto` must be "auto" or "webcrypto"');
    }
    const syncHost = choice === 'auto' ? hostCrypto : undefined;
    this.#inner = call(() => new JsVerifier(json, syncHost?.()));
    this.#reuseLimits = this.#inner.cacheLimits;
    if (this.#reuseLimits !== undefined) this.#reuse = new Map();
    if (syncHost === undefined) this.#subtle = subtle ?? globalThis.crypto?.subtle ?? null;
    if (this.#inner.hasRemoteKeys) this.#keys = new KeyRefresher(this.#inner, options ?? {});
  }

  /** Runs `op`, after starting any key fetch that is due, and again after an unknown kid. */
  #withKeys(op) {
    this.#kick();
    try {
      return op();
    } catch (error) {
      if (error?.code === 'unknown_kid') this.#kick();
      throw error;
    }
  }

  /** Starts the key fetches that are due, unless the caller performs them. */
  #kick() {
    if (!this.#byCaller) this.#keys?.kick();
  }

  /** Waits for a pending first key fetch, unless the caller performs them. */
  async #ready() {
    if (!this.#byCaller) await this.#keys?.ready();
  }

  /**
   * After a refusal with `code`: when keys being fetched may answer it (the
   * core's keyWait: a kid-miss refetch this call's unknown kid started, or
   * one under way), waits for those fetches (each bounded by its timeout)
   * and returns true: decide again. False at once otherwise.
   */
  async #waitForKeys(code) {
    if (!mayWaitForKeys(this, code)) return false;
    await this.#keys.refresh();
    return true;
  }

  /** Performs the key fetches due now; resolves when they have landed or failed. */
  refreshKeys() {
    return this.#keys?.refresh() ?? Promise.resolve();
  }

  /**
   * Stops the background key refresh. The verifier still works: it fetches
   * keys when a call finds a fetch due, as with `backgroundRefresh: false`.
   */
  close() {
    this.#keys?.close();
  }

  /** The remote key sources: `[{ provider, state, fetched_at, valid_until, keys, stats, ... }]`. */
  get keySources() {
    return this.#keys?.status() ?? [];
  }

  /**
   * Who checks signatures: "node:crypto" (Node: RSA, ECDSA, Ed25519; HMAC is pure Rust's),
   * "WebCrypto" (after the first verifyAsync, where it is used: RSA, ECDSA and
   * Ed25519 where the runtime has it) or "pure Rust".
   */
  get signatureChecker() {
    return this.#inner.signatureChecker;
  }

  /** Problems found in the policy that did not stop it loading (e.g. skipped keys). */
  get warnings() {
    return JSON.parse(this.#inner.warnings());
  }

  /**
   * Verifies `token`; returns { provider, header, claims } or throws JwtError.
   * With the policy's cache on, the result is frozen and shared by the calls
   * that reuse the verdict (see #reuse).
   */
  verify(token, options = {}) {
    text(token, 'token');
    const now = seconds(options.now);
    const path = options.path;
    return this.#withKeys(() => this.#reused(token, path, now) ?? this.#verifyInCore(token, path, now));
  }

  /** A verdict of the core reusable for this token, path and time, or undefined. */
  #reused(token, path, now) {
    const entry = this.#reuse?.get(token);
    if (entry === undefined) return undefined;
    if (entry.path === path && entry.since <= now && now < entry.until && entry.generation === this.#inner.generation) {
      return entry.result;
    }
    this.#forget(token, entry);
    return undefined;
  }

  #forget(token, entry) {
    this.#reuse.delete(token);
    this.#reuseBytes -= entry.bytes;
  }

  /** The core's verification; with the cache on, its verdict is kept for reuse. */
  #verifyInCore(token, path, now) {
    // The provider, then the token's own header and claims JSON, which the
    // core parsed strictly before accepting it (src/js.rs, with_json_text).
    const inner = this.#inner;
    const text = call(() =>
      withToken(token, (input, len) => inner.verifyInput(input, len, now, path), () => inner.verify(token, now, path)),
    );
    const [provider, header, claims] = JSON.parse(text);
    const result = { provider, header, claims };
    if (this.#reuse === undefined) return result;
    deepFreeze(result);
    const until = this.#inner.reuseUntil;
    if (until === undefined) return result;
    const [maxEntries, maxBytes] = this.#reuseLimits;
    // About what the core's cache counts: the token, and its claims once more.
    const bytes = 2 * token.length + 128;
    if (bytes > maxBytes || maxEntries === 0) return result;
    const old = this.#reuse.get(token);
    if (old !== undefined) this.#forget(token, old);
    for (const [oldest, entry] of this.#reuse) {
      if (this.#reuse.size < maxEntries && this.#reuseBytes + bytes <= maxBytes) break;
      this.#forget(oldest, entry); // oldest first: a Map iterates in insertion order
    }
    this.#reuse.set(token, { path, result, since: now, until, generation: this.#inner.generation, bytes });
    this.#reuseBytes += bytes;
    return result;
  }

  /**
   * Verifies `token` like verify(), with WebCrypto for RSA and ECDSA signatures
   * where there is no node:crypto (in Node it is verify(), unless the verifier
   * was built with `hostCrypto: "webcrypto"`). Resolves to { provider, header,
   * claims } or rejects with JwtError. The first call offers WebCrypto to the
   * core (self-test; with `"signature_verifier": "host"` a failure rejects
   * this and every later call with invalid_config). With remote keys it waits
   * for a pending first fetch, and after an unknown_kid refusal for the
   * kid-miss refetch that starts (the core's keyWait), then verifies again.
   */
  async verifyAsync(token, options = {}) {
    text(token, 'token');
    await this.#ready();
    const now = seconds(options.now);
    const path = options.path;
    const once = () =>
      this.#withWebCrypto(
        () => this.verify(token, { now, path }),
        () => this.#inner.signatureRequests(token, now, path),
      );
    try {
      return await once();
    } catch (error) {
      if (!(error instanceof JwtError) || !(await this.#waitForKeys(error.code))) throw error;
      return once();
    }
  }

  /**
   * Decides an HTTP request like authorize(), with WebCrypto for RSA and
   * ECDSA signatures where there is no node:crypto (in Node it is
   * authorize(), unless the verifier was built with `hostCrypto:
   * "webcrypto"`). Resolves to the same decision; the edge worker's call.
   * Waits for a pending first key fetch (at most its timeout) before deciding,
   * and after an unknown_kid refusal for the kid-miss refetch that starts.
   */
  async authorizeAsync(request, options = {}) {
    const { method, path, headers, caseInsensitive } = httpRequest(request);
    await this.#ready();
    const now = seconds(options.now);
    const once = () =>
      this.#withWebCrypto(
        () => this.authorize(request, { now }),
        () => this.#inner.authorizeSignatureRequests(method, path, headers, caseInsensitive, now),
      );
    const decision = await once();
    return !decision.allow && (await this.#waitForKeys(decision.code)) ? once() : decision;
  }

  /**
   * The one way WebCrypto takes part: `run` is the synchronous verification
   * (verify or authorize, its clock fixed), `requests` returns the core's
   * signature requests for it as JSON.
   */
  async #withWebCrypto(run, requests) {
    const host = this.#subtle !== undefined && (await (this.#webCrypto ??= this.#offerWebCrypto()));
    if (!host) return run();
    // A first synchronous run settles what needs no RSA/ECDSA check (cached,
    // refused early, EdDSA, HMAC, no token) without waiting for WebCrypto.
    const first = host.attempt(run);
    if (!first.asked) {
      if (first.ok) return first.value;
      throw first.error;
    }
    // The checks the core will ask for, answered by WebCrypto, then the one
    // synchronous verification path, which finds the answers.
    const answers = await host.answer(
      JSON.parse(requests()).map((r) => ({
        alg: r.alg,
        handle: r.handle,
        input: utf8.encode(r.signing_input),
        signature: bytes(r.signature),
      })),
    );
    return host.withAnswers(answers, run);
  }

  /** Answers the core's self-test probes with WebCrypto, then offers the host. */
  async #offerWebCrypto() {
    if (!this.#inner.hostCryptoAllowed) return undefined; // "signature_verifier": "rust"
    const host = webCryptoHost(this.#subtle ?? undefined);
    const probeList = JSON.parse(hostProbes());
    const ed25519 = probeList.find((p) => p.kind === 'OKP Ed25519');
    if (ed25519 && this.#subtle) await host.detectEd25519(bytes(ed25519.spki));
    const probes = probeList.flatMap((p) => {
      const handle = host.prepare(bytes(p.spki), p.kind); // the self-test prepares the same key: same handle
      if (handle === undefined) return []; // declined: the self-test skips it, pure Rust checks such keys
      const input = bytes(p.message);
      return [p.good, p.bad].map((s) => ({ alg: p.alg, handle, input, signature: bytes(s) }));
    });
    const answers = await host.answer(probes);
    const checker = host.withAnswers(answers, () => call(() => this.#inner.offerAsyncHost(host)));
    return checker === host.name ? host : undefined;
  }

  /**
   * The index in the policy's `rules` of the rule a request gets (`target` as
   * it arrived, matched on its canonical path), or null when no rule matches.
   * Throws JwtError invalid_path for a target that cannot be canonicalized.
   */
  ruleFor(method, target) {
    text(method, 'method');
    text(target, 'target');
    return call(() => this.#inner.ruleFor(method, target)) ?? null;
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
  authorize(request, options = {}) {
    const { method, path, headers, caseInsensitive } = httpRequest(request);
    const decision = this.#withKeys(() =>
      JSON.parse(this.#inner.authorize(method, path, headers, caseInsensitive, seconds(options.now))),
    );
    if (decision.code === 'unknown_kid') this.#kick();
    return decision;
  }
}

/** authorize()'s request argument, checked and converted for the core. */
function httpRequest({ method, path, headers, caseInsensitive = false }) {
  text(method, 'method');
  text(path, 'path');
  if (!Array.isArray(headers)) throw new TypeError('jwtgate: headers must be a flat [name, value, ...] array');
  return { method, path, headers: headers.map(String), caseInsensitive: caseInsensitive === true };
}

/**
 * Builds a Verifier from a policy object or JSON string; throws JwtError
 * invalid_config. `options`: see the Verifier constructor (`hostCrypto`, `subtle`).
 */
export function createVerifier(policy, options) {
  return new Verifier(policy, options);
}

export { JwtError };
