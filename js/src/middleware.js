// Express/Connect middleware: hands the request to the core's authorize() and
// carries out its decision. The status, headers and body of a refusal are the
// core's, byte for byte the same as the Envoy filter's. The core canonicalizes
// the target; this shell only makes sure the application routes on exactly
// what the core decided on, and never sees a header the core removed.
import { mayWaitForKeys } from './api.js';

/** Flat [name, value, ...] headers of a Node request (raw when available, so duplicates reach the core). */
function flatHeaders(req) {
  if (Array.isArray(req.rawHeaders)) return req.rawHeaders;
  const flat = [];
  for (const [name, value] of Object.entries(req.headers ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) flat.push(name, String(v));
  }
  return flat;
}

/** Express routes without case unless `case sensitive routing` is enabled. */
function routesWithoutCase(req) {
  const app = req.app;
  return typeof app?.enabled === 'function' && !app.enabled('case sensitive routing');
}

/**
 * Applies the header edits to every view Node offers of them: `req.headers`,
 * `req.rawHeaders` and `req.headersDistinct` (which Node caches once read).
 */
function applyHeaders(req, remove, set) {
  const drop = new Set([...remove, ...set.map(([name]) => name)].map((n) => n.toLowerCase()));
  if (drop.size === 0) return;
  const raw = flatHeaders(req);
  const kept = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!drop.has(raw[i].toLowerCase())) kept.push(raw[i], raw[i + 1]);
  }
  for (const [name, value] of set) kept.push(name, value);
  for (const name of drop) delete req.headers[name];
  for (const [name, value] of set) req.headers[name.toLowerCase()] = value;
  req.rawHeaders = kept;
  const distinct = Object.create(null);
  for (let i = 0; i + 1 < kept.length; i += 2) {
    (distinct[kept[i].toLowerCase()] ??= []).push(kept[i + 1]);
  }
  Object.defineProperty(req, 'headersDistinct', {
    value: distinct,
    configurable: true,
    enumerable: true,
    writable: true,
  });
}

/**
 * The URL the application routes on after the core's target change. Mounted
 * under `req.baseUrl` (`app.use('/api', mw)`), `req.url` is relative to it:
 * the canonical target must still be under it, or `null` (refused).
 */
function relativeUrl(target, baseUrl) {
  if (!baseUrl) return target;
  if (!target.startsWith(baseUrl)) return null;
  const rest = target.slice(baseUrl.length);
  if (rest === '') return '/';
  if (rest.startsWith('/')) return rest;
  if (rest.startsWith('?')) return `/${rest}`;
  return null;
}

/** Express 4 parses `req.query` once, before any middleware: parse it again. */
function refreshQuery(req, target) {
  const parse = req.app?.get?.('query parser fn');
  const own = Object.getOwnPropertyDescriptor(req, 'query');
  if (typeof parse !== 'function' || !own || !('value' in own)) return;
  const q = target.indexOf('?');
  req.query = parse(q < 0 ? '' : target.slice(q + 1));
}

function refuse(res, decision) {
  res.statusCode = decision.status;
  for (const [name, value] of decision.headers) res.setHeader(name, value);
  res.end(decision.body);
}

/**
 * `app.use(jwtgateMiddleware(verifier))`. On success sets `req.auth` to the
 * verified claims (unset when the policy lets the request through without a
 * token), applies the header edits, and rewrites `req.url` (and
 * `req.originalUrl`) to the canonical target the rule was chosen on.
 *
 * A request refused with `jwks_unavailable` while a provider's first key
 * fetch is pending waits for that fetch (at most its `timeout_seconds`, two
 * with discovery) and is then decided again: 503 `jwks_unavailable` if there
 * are still no keys, never a pass.
 *
 * `options.caseSensitive`: how the application matches paths. By default it
 * follows Express's `case sensitive routing` setting (off unless enabled), and
 * for plain `node:http` the policy's `paths.case_sensitive`.
 */
export function jwtgateMiddleware(verifier, options = {}) {
  return function jwtgate(req, res, next) {
    const request = {
      method: req.method,
      path: req.originalUrl ?? req.url,
      headers: flatHeaders(req),
      caseInsensitive: options.caseSensitive != null ? !options.caseSensitive : routesWithoutCase(req),
    };
    let decision;
    try {
      decision = verifier.authorize(request);
    } catch (err) {
      next(err);
      return;
    }
    if (!decision.allow && mayWaitForKeys(verifier, decision.code)) {
      // authorizeAsync waits for the keys being fetched (a pending first
      // fetch, or the kid-miss refetch this token's kid started), then decides again.
      verifier.authorizeAsync(request).then((later) => {
        // The client left during the wait: nothing to answer, nothing to run.
        if (!res.destroyed && !res.writableEnded) carryOut(req, res, next, later);
      }, next);
      return;
    }
    carryOut(req, res, next, decision);
  };
}

/** Answers a refusal, or adapts the request and hands it to `next`. */
function carryOut(req, res, next, decision) {
  if (!decision.allow) {
    refuse(res, decision);
    return;
  }
  if (decision.set_path != null) {
    const url = relativeUrl(decision.set_path, req.originalUrl != null ? req.baseUrl : '');
    if (url == null) {
      refuse(res, {
        status: 400,
        headers: [['content-type', 'application/json']],
        body: JSON.stringify({
          error: 'invalid_path',
          message: 'the canonical path is outside the path the middleware is mounted at',
        }),
      });
      return;
    }
    req.url = url;
    if (req.originalUrl != null) req.originalUrl = decision.set_path;
    refreshQuery(req, decision.set_path);
  }
  applyHeaders(req, decision.remove_headers, decision.set_headers);
  if (decision.claims != null) req.auth = decision.claims;
  next();
}
