// The edge guard: a WHATWG `Request` in; out, either the `Response` that
// refuses it (the core's status, headers and body, as the Envoy filter sends
// them) or the `Request` to send to the origin (the canonical target, claim
// headers set, client copies and the token removed as the policy says).
// For Cloudflare-style workers, Deno, Bun and fetch-style Node servers.
import { Verifier, createVerifier } from './api.js';

/** The request's headers as the flat [name, value, ...] list the core reads. */
function flatHeaders(headers) {
  const flat = [];
  for (const [name, value] of headers) flat.push(name, value);
  return flat;
}

/** `scheme://authority` of an absolute URL (the core has parsed it: it is there). */
function authority(url) {
  return /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(url)?.[0] ?? '';
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
function forwarded(request, decision) {
  const headers = new Headers(request.headers);
  for (const name of decision.remove_headers) headers.delete(name);
  for (const [name, value] of decision.set_headers) headers.set(name, value);
  const init = { method: request.method, headers, redirect: 'manual' };
  if (request.body !== null) {
    init.body = request.body;
    init.duplex = 'half'; // a streamed body (required by Node's fetch, ignored elsewhere)
  }
  // The core always sets set_path here: the target it saw was absolute-form.
  return new Request(authority(request.url) + decision.set_path, init);
}

/**
 * `createGuard(policy, options)`: returns `guard(request, { now })`, which
 * resolves to a `Response` (refused: answer it) or a `Request` (allowed: send
 * it to the origin). `policy` is a policy (object or JSON text) or a Verifier.
 *
 * The core decides on the request target exactly as it arrived: the guard
 * hands it `request.url` (absolute-form, which workerd builds from the raw
 * target without normalizing it) and forwards the canonical target the core
 * returns, so the origin receives the path the rule was chosen on.
 *
 * `options.caseInsensitive`: the origin routes paths without case, so rules
 * are matched without case too. `options.hostCrypto` and `options.subtle` are
 * createVerifier's. RSA and ECDSA signatures are checked by WebCrypto where
 * there is no node:crypto (`authorizeAsync`), after the core's self-test.
 */
export function createGuard(policy, options = {}) {
  const { caseInsensitive = false, ...verifierOptions } = options ?? {};
  const verifier = policy instanceof Verifier ? policy : createVerifier(policy, verifierOptions);
  async function guard(request, callOptions = {}) {
    const decision = await verifier.authorizeAsync(
      { method: request.method, path: request.url, headers: flatHeaders(request.headers), caseInsensitive },
      { now: callOptions.now },
    );
    return decision.allow ? forwarded(request, decision) : refusal(decision);
  }
  guard.verifier = verifier;
  return guard;
}
