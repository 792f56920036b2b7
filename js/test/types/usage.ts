// Compiled (not run) by test/types.test.mjs: index.d.ts describes the API as used.
import { createVerifier, decode, errorCodeList, init, initSync, JwtError, jwtgateMiddleware, verifyJws, createGuard } from 'jwtgate';
import type { JWK } from 'jose';
import type { Decision, ErrorCode, Explanation, Verified, VerifiedJws, VerifierOptions, Guard } from 'jwtgate';
import http from 'node:http';

await init();
initSync();

const verifier = createVerifier({ providers: {} });
createVerifier('{"providers":{}}');
const verified: Verified = verifier.verify('t', { path: '/x', now: new Date() });
const sub: unknown = verified.claims.sub;
const report: Explanation = verifier.explain('t', { now: 1767225600 });
const failed: ErrorCode | undefined = report.code;
const names: string[] = report.checks.map((c) => `${c.check} ${c.ok} ${c.detail}`);
const warnings: readonly string[] = verifier.warnings;
const checker: string = verifier.signatureChecker;
const later: Promise<Verified> = verifier.verifyAsync('t', { path: '/x', now: 1767225600 });
const options: VerifierOptions = { hostCrypto: 'webcrypto', subtle: globalThis.crypto.subtle };
createVerifier({ providers: {} }, options);
createVerifier({ providers: {} }, { hostCrypto: 'auto' });
createVerifier({ providers: {} }, { backgroundRefresh: false }).close();
// @ts-expect-error: true or false
createVerifier({ providers: {} }, { backgroundRefresh: 'auto' });
// @ts-expect-error: "auto" or "webcrypto"
createVerifier({ providers: {} }, { hostCrypto: 'openssl' });
const codes: ErrorCode[] = errorCodeList();

const decision: Decision = verifier.authorize({ method: 'GET', path: '/', headers: ['authorization', 'Bearer t'] });
if (decision.allow) {
  const removed: string[] = decision.remove_headers;
} else {
  const status: number = decision.status;
  const body: string = decision.body;
}

const { header, payload, warnings: decodeWarnings } = decode('t');

const jwk: JWK = { kty: 'oct', k: 'c2VjcmV0' };
const jws: VerifiedJws = verifyJws('t', jwk);
const jwsBytes: Uint8Array = verifyJws('t', { keys: [jwk, { kty: 'OKP', crv: 'Ed25519', x: 'AA' }] }).payload;
const jwsAlg: unknown = verifyJws('t', '{"kty":"oct","k":"c2VjcmV0"}').header.alg;
// @ts-expect-error: the key is a JWK, a JWK set or JSON text
verifyJws('t', 42);

try {
  verifier.verify('t');
} catch (err) {
  if (err instanceof JwtError) {
    const code: ErrorCode = err.code;
    // @ts-expect-error: not one of the codes
    if (err.code === 'token_expired') throw err;
  }
}

// @ts-expect-error: now must be a Date or a number
verifier.verify('t', { now: 'yesterday' });
// @ts-expect-error: the verifier is built by createVerifier
new (Object.getPrototypeOf(verifier).constructor as typeof import('jwtgate').Verifier)();

const guard = jwtgateMiddleware(verifier);
http.createServer((req, res) => guard(req, res, () => res.end()));

const edge: Guard = createGuard({ providers: {} }, { caseInsensitive: true, hostCrypto: 'webcrypto' });
const sameVerifier: Guard = createGuard(verifier);
const memoryOnly: Guard = createGuard({ providers: {} }, { keyCache: null });
async function workerFetch(request: Request, ctx: { waitUntil(p: Promise<unknown>): void }): Promise<Response> {
  const r = await memoryOnly(request, ctx);
  return r instanceof Response ? r : fetch(r);
}
async function edgeFetch(request: Request): Promise<Response> {
  const r = await edge(request, { now: new Date() });
  if (r instanceof Response) return r;
  return fetch(r);
}
const decided: Promise<Decision> = edge.verifier.authorizeAsync({ method: 'GET', path: '/', headers: [] });
// @ts-expect-error: the guard takes a Request, not a URL string
edge('https://example.com/');

export { edgeFetch, workerFetch, sameVerifier, decided, later, sub, failed, names, warnings, checker, codes, header, payload, decodeWarnings, jws, jwsBytes, jwsAlg };
