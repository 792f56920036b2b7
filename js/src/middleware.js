// Express/Connect middleware: hands the request to the core's authorize() and
// carries out its decision. The status, headers and body of a refusal are the
// core's, byte for byte the same as the Envoy filter's.

/** Flat [name, value, ...] headers of a Node request (raw when available, so duplicates reach the core). */
function flatHeaders(req) {
  if (Array.isArray(req.rawHeaders)) return req.rawHeaders;
  const flat = [];
  for (const [name, value] of Object.entries(req.headers ?? {})) {
    for (const v of Array.isArray(value) ? value : [value]) flat.push(name, String(v));
  }
  return flat;
}

/**
 * `app.use(jwtgateMiddleware(verifier))`. On success sets `req.auth` to the
 * verified claims (unset when the policy lets the request through without a
 * token) and applies the header and path changes the policy asks for.
 */
export function jwtgateMiddleware(verifier) {
  return function jwtgate(req, res, next) {
    let decision;
    try {
      decision = verifier.authorize({
        method: req.method,
        path: req.originalUrl ?? req.url,
        headers: flatHeaders(req),
      });
    } catch (err) {
      next(err);
      return;
    }
    if (!decision.allow) {
      res.statusCode = decision.status;
      for (const [name, value] of decision.headers) res.setHeader(name, value);
      res.end(decision.body);
      return;
    }
    for (const name of decision.remove_headers) delete req.headers[name.toLowerCase()];
    for (const [name, value] of decision.set_headers) req.headers[name.toLowerCase()] = value;
    if (decision.set_path != null) req.url = decision.set_path;
    if (decision.claims != null) req.auth = decision.claims;
    next();
  };
}
