// A Node HTTP server guarded by jwtgate (the same middleware works with Express:
// `app.use(jwtgateMiddleware(verifier))`).
//   node examples/node-server.mjs [policy.json]     (PORT=8080 by default)
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createVerifier, jwtgateMiddleware } from 'jwtgate';

const policyFile = process.argv[2] ?? new URL('./policy.json', import.meta.url);
const verifier = createVerifier(readFileSync(policyFile, 'utf8'));
for (const warning of verifier.warnings) console.warn(`policy: ${warning}`);
const guard = jwtgateMiddleware(verifier);

const server = http.createServer((req, res) => {
  guard(req, res, (err) => {
    if (err) {
      res.statusCode = 500;
      res.end();
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, user: req.headers['x-user'] ?? null, claims: req.auth ?? null }));
  });
});
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
