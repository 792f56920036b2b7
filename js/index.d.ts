// Types of the npm package `jwtgate` (both entry points: Node and browser) and
// of `jwtgate/full`, the same API over the module with the pure-Rust RSA/ECDSA
// verifiers. The default module has none: in Node, node:crypto checks every
// signature; where no synchronous host crypto exists (browsers, workers) a
// synchronous RS*/PS*/ES* check is refused (`unsupported_alg`, naming
// `verifyAsync` and `jwtgate/full`), and `signature_verifier: "rust"` is
// refused at load (`invalid_config`). EdDSA and HMAC are pure Rust in both.
// The two are separate instances: a Verifier or JwtError of one is not the
// other's (compare errors by `code`).

/** The core's stable error codes (docs/ERRORS.md). Never renamed. */
export type ErrorCode =
  | 'missing'
  | 'malformed'
  | 'jwe_unsupported'
  | 'too_large'
  | 'unsupported_alg'
  | 'unsupported_crit'
  | 'unknown_kid'
  | 'key_mismatch'
  | 'too_many_keys'
  | 'bad_signature'
  | 'expired'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'too_old'
  | 'lifetime_too_long'
  | 'missing_claim'
  | 'invalid_claim'
  | 'wrong_issuer'
  | 'wrong_audience'
  | 'wrong_subject'
  | 'claim_rule_failed'
  | 'revoked'
  | 'invalid_key'
  | 'jwks_unavailable'
  | 'verifier_unavailable'
  | 'invalid_config'
  | 'invalid_path';

/** A token or policy was refused. */
export class JwtError extends Error {
  readonly name: 'JwtError';
  /** Stable machine code. */
  readonly code: ErrorCode;
}

export type JsonObject = { [key: string]: unknown };

/** Unix seconds, or a Date. Defaults to the current time. */
export type Now = Date | number;

export interface Decoded {
  header: JsonObject;
  payload: unknown;
  /** Things worth knowing that decoding does not refuse, e.g. that `exp` has passed. */
  warnings: string[];
}

export interface VerifyOptions {
  /** Request path: selects the policy rule (and so the providers and claim rules). */
  path?: string;
  /** The clock to judge time claims by. */
  now?: Now;
}

export interface Verified {
  /** Name of the policy provider that accepted the token. */
  provider: string;
  header: JsonObject;
  claims: JsonObject;
}

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
}

export interface Explanation {
  ok: boolean;
  /** Set when `ok` is false. */
  code?: ErrorCode;
  message?: string;
  provider?: string;
  /** Every check run, in order. */
  checks: Check[];
}

export interface HttpRequest {
  method: string;
  /**
   * The request target with its query string, as received: origin-form
   * (`/a?b`) or absolute-form (`http://host/a?b`). The core canonicalizes it
   * (or refuses it with 400 `invalid_path`) before choosing a rule.
   */
  path: string;
  /** Flat [name, value, name, value, ...] list, like Node's `req.rawHeaders`. */
  headers: string[];
  /** The application routes paths without case (Express's default): match rules without case too. */
  caseInsensitive?: boolean;
}

export interface Allow {
  allow: true;
  /** Absent when the policy let the request through without a token. */
  provider?: string | null;
  claims?: JsonObject | null;
  remove_headers: string[];
  /**
   * Headers to set, `[name, value]`. Claim header values are byte strings (one
   * character per UTF-8 byte, docs/POLICY.md "Claim headers"): Node's and Fetch's
   * header APIs send them as those bytes, as Envoy sends the claim's UTF-8 text.
   */
  set_headers: [string, string][];
  /** The canonical target to forward (and without the token's query parameter), when it differs from what arrived. */
  set_path: string | null;
  reason: string;
}

export interface Deny {
  allow: false;
  status: number;
  headers: [string, string][];
  body: string;
  code: ErrorCode;
  message: string;
}

export type Decision = Allow | Deny;

/**
 * The part of WebCrypto's `SubtleCrypto` that `verifyAsync` uses
 * (`globalThis.crypto.subtle` is one).
 */
export interface SubtleVerify {
  importKey(format: 'spki', keyData: any, algorithm: any, extractable: boolean, keyUsages: any[]): Promise<any>;
  verify(algorithm: any, key: any, signature: any, data: any): Promise<boolean>;
}

export interface VerifierOptions {
  /**
   * Which host crypto checks signatures. `"auto"` (default): node:crypto in
   * Node (RSA, ECDSA, Ed25519; HMAC in pure Rust, faster in wasm), for `verify` and `verifyAsync`;
   * elsewhere `verify` is pure Rust (RS*, PS*, ES* in `jwtgate/full` only) and
   * `verifyAsync` uses WebCrypto (RSA,
   * ECDSA, and Ed25519 where the runtime has it; HMAC in pure Rust). `"webcrypto"`: `verifyAsync`
   * uses WebCrypto even in Node and `verify` is pure Rust (the browsers'
   * behaviour, e.g. to test it in Node).
   */
  hostCrypto?: 'auto' | 'webcrypto';
  /** The SubtleCrypto `verifyAsync` uses where WebCrypto is used. Default: `globalThis.crypto.subtle`. */
  subtle?: SubtleVerify;
  /** Remote keys (`remote_jwks`, `discovery`): the fetch function. Default: `globalThis.fetch`. */
  fetch?: (url: string, init: { redirect: 'manual'; headers: Record<string, string>; signal: AbortSignal }) => Promise<Response>;
  /** Remote keys: the clock of the key sources, in Unix seconds. Default: the system clock. */
  clock?: () => number;
  /** Remote keys: called with every fetch result (for logs and metrics). */
  onKeyEvent?: (event: KeyEvent) => void;
  /**
   * Remote keys: refresh on a timer set from the core's schedule (refresh,
   * retry, cooldown), not only when a call finds a fetch due. Default: on where
   * timers can be `unref()`'d (Node, Bun), so the timer never keeps a process
   * alive; off in browsers and workers. `close()` stops it. Its delays come
   * from `clock`.
   */
  backgroundRefresh?: boolean;
}

/** A key fetch result of one provider (the core's `keys::Event`). */
export type KeyEvent = { provider: string } & (
  | { event: 'keys_changed'; added: string[]; removed: string[]; keys: number }
  | { event: 'keys_unchanged' }
  | { event: 'discovered'; jwks_uri: string }
  | { event: 'failed'; kind: 'timeout' | 'network' | 'redirect' | 'status' | 'too_large' | 'invalid_jwks' | 'invalid_discovery'; document: 'jwks' | 'discovery'; detail: string; retry_at: number }
  | { event: 'ignored' }
);

/** A remote key source's state and counters. */
export interface KeySource {
  provider: string;
  state: 'ready' | 'pending' | 'unavailable';
  fetched_at: number | null;
  valid_until: number | null;
  jwks_uri: string | null;
  /** The configured `remote_jwks.uri` (null with discovery). */
  uri: string | null;
  /** With `discovery: true`, the issuer whose discovery document is read; else null. */
  discovery: string | null;
  keys: number;
  stats: { fetches: number; successes: number; changes: number; kid_fetches: number; failures: Record<string, number> };
}

export class Verifier {
  private constructor();
  /** Problems found in the policy that did not stop it loading (e.g. skipped keys). */
  readonly warnings: string[];
  /**
   * Who checks signatures: "node:crypto" in Node, RSA, ECDSA and Ed25519
   * (HMAC stays pure Rust's, faster in wasm; unless the policy says
   * `"signature_verifier": "rust"`), "WebCrypto" after the first
   * `verifyAsync` where WebCrypto is used (RSA, ECDSA, Ed25519 where the
   * runtime has it), else "pure Rust". A host is used only after it passed
   * the core's known-answer self-test.
   */
  readonly signatureChecker: 'node:crypto' | 'WebCrypto' | 'pure Rust';
  /**
   * Verifies a token. Throws JwtError. With the policy's cache on, the core's
   * verdict is reused for the same token and path until the core's reuse
   * window ends (`exp` plus clock skew, `max_age`, the freshness of fetched
   * keys) or the keys change; the result is then frozen (deeply) and shared
   * by those calls. At most `cache.max_entries` such verdicts are kept, in
   * about `cache.max_bytes`; `verify` does not fill the module's cache, which
   * keeps `authorize`'s verdicts within the same limits.
   */
  verify(token: string, options?: VerifyOptions): Verified;
  /**
   * Verifies a token with the same checks and answers as `verify`, letting
   * WebCrypto check RSA, ECDSA and Ed25519 signatures where node:crypto is absent
   * (browsers, workers). In Node it is `verify` unless the verifier was built
   * with `hostCrypto: "webcrypto"`. Rejects with JwtError; the first call
   * offers WebCrypto to the core, and under `"signature_verifier": "host"` a
   * failed self-test rejects it (and every later call) with `invalid_config`.
   * With remote keys it waits for a pending first fetch, and after an
   * `unknown_kid` refusal for the kid-miss refetch it starts (each at most its
   * timeout), then verifies again; `verify` never waits.
   */
  verifyAsync(token: string, options?: VerifyOptions): Promise<Verified>;
  /** Runs the verification and reports every check. Never throws for a bad token. */
  explain(token: string, options?: VerifyOptions): Explanation;
  /**
   * The index in the policy's `rules` of the rule a request gets (`target` as it
   * arrived, matched on its canonical path), or null when no rule matches.
   * Throws JwtError `invalid_path` for a target that cannot be canonicalized.
   */
  ruleFor(method: string, target: string): number | null;
  /** Decides an HTTP request exactly as the Envoy filter does. */
  authorize(request: HttpRequest, options?: { now?: Now }): Decision;
  /** Remote keys: performs the fetches due now; resolves when they have landed or failed. */
  refreshKeys(): Promise<void>;
  /**
   * Remote keys: stops the background refresh (`backgroundRefresh`). The
   * verifier keeps working, fetching when a call finds a fetch due.
   */
  close(): void;
  /** Remote keys: each source's state and counters (empty without remote keys). */
  readonly keySources: KeySource[];
  /**
   * Decides an HTTP request like `authorize`, letting WebCrypto check RSA and
   * ECDSA signatures where node:crypto is absent (the guard's call). In Node
   * it is `authorize` unless the verifier was built with `hostCrypto: "webcrypto"`.
   * Waits for a pending first key fetch (at most its timeout) before deciding,
   * and, after an `unknown_kid` refusal, for the kid-miss refetch it starts (at
   * most its timeout) before deciding again.
   */
  authorizeAsync(request: HttpRequest, options?: { now?: Now }): Promise<Decision>;
}

/** Builds a verifier from a policy (object or JSON string). Throws JwtError `invalid_config`. */
export function createVerifier(policy: JsonObject | string, options?: VerifierOptions): Verifier;

/** Decodes a token WITHOUT verifying it. Throws JwtError for anything that is not a compact JWS. */
export function decode(token: string, options?: { now?: Now }): Decoded;

export interface VerifiedJws {
  /** The protected header. */
  header: JsonObject;
  /** The payload bytes, exactly as signed (any content, not necessarily JSON). */
  payload: Uint8Array;
}

/**
 * Verifies a compact JWS (any payload) against one JWK or a JWK set
 * (`{ keys: [...] }`), as an object or JSON text, with the core's JWS operation:
 * the same parsing, header, key selection and algorithm rules as JWT
 * verification, without claim checks. HMAC (`oct`) keys are accepted: the caller
 * passes the keys explicitly. Keys are parsed on every call and signatures are
 * checked by node:crypto in Node (after its self-test), else in pure Rust
 * (RS*, PS*, ES* in `jwtgate/full` only); build a Verifier
 * for hot paths. Throws JwtError (`invalid_key` when no key is usable).
 */
export function verifyJws(token: string, jwkOrJwks: object | string): VerifiedJws;

/** Every error code of the core, in documentation order. */
export function errorCodeList(): ErrorCode[];

/** Minimal request/response shapes (Node's http, Express, Connect). */
export interface MiddlewareRequest {
  method?: string;
  url?: string;
  originalUrl?: string;
  headers: { [name: string]: string | string[] | undefined };
  rawHeaders?: string[];
  auth?: JsonObject;
}
export interface MiddlewareResponse {
  statusCode: number;
  setHeader(name: string, value: string): unknown;
  end(body?: string): unknown;
}

export interface MiddlewareOptions {
  /**
   * How the application matches paths. Default: Express's `case sensitive
   * routing` setting (off unless enabled); for plain node:http, the policy's
   * `paths.case_sensitive`.
   */
  caseSensitive?: boolean;
}

/**
 * Express/Connect middleware: sets `req.auth` to the claims and `req.url` to
 * the canonical target, or answers 400/401/403/503 as the Envoy filter does.
 * A request that arrives during a provider's first key fetch, or whose new kid
 * starts a kid-miss refetch, waits for that fetch (at most its timeout), then
 * is decided.
 */
export function jwtgateMiddleware(
  verifier: Verifier,
  options?: MiddlewareOptions,
): (req: MiddlewareRequest, res: MiddlewareResponse, next: (err?: unknown) => void) => void;

export interface GuardOptions extends VerifierOptions {
  /** The origin routes paths without case: match the policy's rules without case too. Default false. */
  caseInsensitive?: boolean;
  /**
   * Where isolates share fetched remote keys (the core's snapshot, and a
   * lease so that about one isolate fetches): a Cache, by default
   * `caches.default` where the runtime has one (Cloudflare Workers, workerd);
   * `null` keeps keys in the isolate's memory only.
   */
  keyCache?: { match(url: string): Promise<Response | undefined>; put(url: string, response: Response): Promise<void>; delete(url: string): Promise<boolean> } | null;
}

/** A guard call's options; a Workers `ctx` can be passed as it is. */
export interface GuardCallOptions {
  now?: Now;
  /** Runs key refreshes after the answer (a Workers `ctx.waitUntil`); without it they run unawaited. */
  waitUntil?(promise: Promise<unknown>): void;
}

/**
 * A guard for fetch-style runtimes (Cloudflare Workers, workerd, Deno, Bun,
 * browsers, Node's fetch). Resolves to a `Response` when the request is
 * refused (400/401/403 with the core's status, headers and JSON body, as the
 * Envoy filter answers), or to the `Request` to send to the origin: the
 * canonical target the rule was chosen on, claim headers set, client copies
 * of them removed, the token removed when the provider's `forward` is false.
 */
export interface Guard {
  (request: Request, options?: GuardCallOptions): Promise<Response | Request>;
  /** The verifier the guard decides with. */
  readonly verifier: Verifier;
}

/**
 * `const guard = createGuard(policy)`, then
 * `const r = await guard(request, ctx); if (r instanceof Response) return r; return fetch(r);`.
 * `policy` is a policy (object or JSON text) or a Verifier (the guard then
 * performs its remote key fetches, per request). Throws JwtError `invalid_config`.
 */
export function createGuard(policy: JsonObject | string | Verifier, options?: GuardOptions): Guard;

/**
 * Loads the WebAssembly module. Required once before use in browsers and workers
 * (fetches `jwtgate_bg.wasm` next to the glue unless given a URL, Response,
 * bytes or a WebAssembly.Module); a no-op in Node.
 */
export function init(
  moduleOrPath?: string | URL | Response | BufferSource | WebAssembly.Module | Promise<Response>,
): Promise<void>;

/** Loads the module synchronously from bytes or a compiled module (a no-op in Node). */
export function initSync(module?: BufferSource | WebAssembly.Module): void;
