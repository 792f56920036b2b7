// The examples stay runnable: the example policy loads cleanly and the example
// server answers as the policy says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { createVerifier } from 'jwtgate';

test('examples/policy.json loads without warnings', () => {
  const verifier = createVerifier(readFileSync(new URL('../examples/policy.json', import.meta.url), 'utf8'));
  assert.deepEqual(verifier.warnings, []);
});

test('examples/node-server.mjs: /health is open, /orders wants a token', async (t) => {
  const server = spawn(process.execPath, [new URL('../examples/node-server.mjs', import.meta.url).pathname], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => server.kill());
  const [line] = await once(server.stdout, 'data');
  const base = String(line).match(/listening on (http:\S+)/)[1];

  const health = await fetch(`${base}/health`, { headers: { 'x-user': 'spoofed' } });
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { path: '/health', user: null, claims: null });

  const orders = await fetch(`${base}/orders`);
  assert.equal(orders.status, 401);
  assert.equal(orders.headers.get('www-authenticate'), 'Bearer realm="orders"');
});
