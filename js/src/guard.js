// The edge guard: a WHATWG `Request` in; out, either the `Response` that
// refuses it (the core's status, headers and body, as the Envoy filter sends
// them) or the `Request` to send to the origin (the canonical target, claim
// headers set, client copies and the token removed as the policy says).
// For Cloudflare-style workers, Deno, Bun and fetch-style Node servers.
import { Verifier, createVerifier, keysByCaller } from './api.js';
import { EdgeKeys } from './edge-keys.js';

/** The request's headers as the flat [name, value, ...] list the core reads. */
function flatHeaders(headers) {
  const flat = [];
  for (const [name, value] of headers) flat.push(name, value);
  return flat;
}

/**
 * The request target as it arrived. workerd builds `request.url` as the
 * scheme, `://`, the Host header as sent, then the raw target, so the target
 * is what follows the Host (which may hold a `/` or a `\`: where the
 * authority ends cannot be read from the URL). Where the URL is not built
 * that way (runtimes that parse it), it is handed to the core as it is, in
 * absolute-form.
 */
function requestTarget(request) {
  const { url } = request;
  const host = request.headers.get('host');
  if (host !== null) {
    for (const scheme of ['http://', 'https://']) {
      const prefix = scheme + host;
      if (url.length > prefix.length && url.startsWith(prefix) && '/?'.includes(url[prefix.length])) {
        return url.slice(prefix.length);
      }
    }
  }
  return url;
}

/** The refusal as a Response: the core's status, headers and JSON body, unchanged. */
function refusal(decision) {
  return new Response(decision.body, { status: decision.status, headers: decision.headers });
}

/**
 * The request to forward: to the canonical target the rule was chosen on,
 * with the core's header edits applied (every `remove_headers` name deleted,
 * then every `set_headers` pair set), the method and body of the original,
 * and redirects handed back to the client rather than followed.
 */
function forwarded(request, target, decision) {
  const headers = new Headers(request.headers);
  for (const name of decision.remove_headers) headers.delete(name);
  for (const [name, value] of decision.set_headers) headers.set(name, value);
  const init = { method: request.method, headers, redirect: 'manual' };
  if (request.body !== null) {
    init.body = request.body;
    init.duplex = 'half'; // a streamed body (required by Node's fetch, ignored elsewhere)
  }
  // The URL's origin as the WHATWG parser reads it, then the canonical target
  // (which parses as itself): never a path taken from the client's Host.
  // (set_path is null only when the target arrived canonical, in origin-form).
  const path = decision.set_path ?? target;
  return new Request(new URL(request.url).origin + path, init);
}

/** Runs `promise` after the answer: through `waitUntil` when the caller gives one (a Workers ctx). */
function inBackground(callOptions) {
  return (promise) => {
    const settled = promise.catch(() => {});
    if (typeof callOptions.waitUntil === 'function') callOptions.waitUntil(settled);
  };
}

/**
 * `createGuard(policy, options)`: returns `guard(request, { now, waitUntil })`,
 * which resolves to a `Response` (refused: answer it) or a `Request` (allowed:
 * send it to the origin). `policy` is a policy (object or JSON text) or a
 * Verifier. The second argument may be a Workers `ctx` itself (its `waitUntil`).
 *
 * The core decides on the request target exactly as it arrived (workerd
 * builds `request.url` from the raw target without normalizing it), and the
 * guard forwards the canonical target the core returns, so the origin
 * receives the path the rule was chosen on. A URL whose origin does not parse
 * (an invalid Host) rejects with a TypeError.
 *
 * `options.caseInsensitive`: the origin routes paths without case, so rules
 * are matched without case too. `options.hostCrypto`, `options.subtle`,
 * `options.fetch`, `options.clock` and `options.onKeyEvent` are
 * createVerifier's. RSA and ECDSA signatures are checked by WebCrypto where
 * there is no node:crypto (`authorizeAsync`), after the core's self-test.
 *
 * Remote keys (`remote_jwks`, `discovery`) are fetched per request
 * (js/src/edge-keys.js): a request waits only for a first fetch or the
 * kid-miss refetch its unknown kid started (at most the fetch's timeout), and
 * only on I/O it started itself (or polling another isolate's result);
 * scheduled refreshes run after the answer, through `waitUntil`. `options.keyCache`: the Cache through which
 * isolates share fetched keys (default `caches.default` where the runtime
 * has it; `null`: memory only). The guard takes over the key fetching of a
 * Verifier it is given.
 */
export function createGuard(policy, options = {}) {
  const { caseInsensitive = false, keyCache = globalThis.caches?.default ?? null, ...verifierOptions } = options ?? {};
  const verifier = policy instanceof Verifier ? policy : createVerifier(policy, verifierOptions);
  const refresher = keysByCaller(verifier);
  const keys = refresher && new EdgeKeys(refresher, keyCache);
  async function guard(request, callOptions = {}) {
    const background = inBackground(callOptions ?? {});
    await keys?.beforeDecision(background);
    const target = requestTarget(request);
    const input = { method: request.method, path: target, headers: flatHeaders(request.headers), caseInsensitive };
    const decide = () => verifier.authorizeAsync(input, { now: callOptions?.now });
    let generation = keys?.generation();
    let decision = await decide();
    // Refused for want of keys, or of the token's kid: another isolate may have fetched them since.
    if (await keys?.adoptAfter(decision, generation)) {
      generation = keys.generation();
      decision = await decide();
    }
    // Still refused so: wait for the refetch the token's kid started (at most its timeout).
    if (await keys?.waitAfter(decision, generation)) decision = await decide();
    keys?.afterDecision(decision, background);
    return decision.allow ? forwarded(request, target, decision) : refusal(decision);
  }
  guard.verifier = verifier;
  return guard;
}
