// What the real-browser tests share: Debian's Chromium driven by playwright-core
// (never a downloaded browser), and a static file server on 127.0.0.1.
import http from 'node:http';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.JWTGATE_CHROMIUM ?? '/usr/bin/chromium';
// --headless and --no-sandbox are also added by playwright-core; listed for clarity.
// Without the background-networking flags Chromium dials Google's hosts, which
// this machine's closed network refuses.
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

/**
 * Serves the files of `root` (only those under one of `dirs`, when given) and
 * the in-memory files `extra` on 127.0.0.1, a random port. `log` lists every
 * request answered.
 */
export async function serve(root, { dirs, extra = {} } = {}) {
  const log = [];
  const server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const reply = (status, type, body) => {
      log.push({ path: pathname, status, type });
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      return body;
    };
    if (extra[pathname] !== undefined) {
      res.end(reply(200, CONTENT_TYPES[path.extname(pathname)], extra[pathname]));
      return;
    }
    const file = path.join(root, pathname === '/' ? 'index.html' : pathname);
    const inside = (dirs ?? ['']).some((d) => file.startsWith(path.resolve(root, d) + path.sep));
    if (!inside || !existsSync(file) || !statSync(file).isFile()) {
      res.end(reply(404, 'text/plain', 'not found'));
      return;
    }
    reply(200, CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream');
    createReadStream(file).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, log, base: `http://127.0.0.1:${server.address().port}` };
}

/**
 * Chromium on a new, empty user-data-dir; `close()` ends it and removes the
 * folder. Fails (never skips) when Chromium is not installed.
 */
export async function launchChromium(options = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}. Install it with \`scripts/setup.sh apt\` (Debian package chromium; ` +
        '`make test` does this), or point JWTGATE_CHROMIUM at a Chromium binary. The real-browser tests do not skip.',
    );
  }
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'jwtgate-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    timeout: 30_000,
    viewport: { width: 1100, height: 900 },
    ...options,
  });
  context.setDefaultTimeout(10_000);
  return {
    context,
    async close() {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * A new page of `context` that records uncaught errors, console errors and
 * warnings, and failed requests into `problems`; `now` (Unix seconds) freezes
 * the page's clock. Closed after the test `t`.
 */
export async function openPage(context, t, url, { now } = {}) {
  const page = await context.newPage();
  if (now !== undefined) await page.clock.setFixedTime(new Date(now * 1000)); // the page's Date.now()
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`);
  });
  page.on('response', (res) => res.status() >= 400 && problems.push(`HTTP ${res.status()}: ${res.url()}`));
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`));
  page.on('worker', (worker) => worker.on('console', (msg) => msg.type() === 'error' && problems.push(`worker console: ${msg.text()}`)));
  t.after(() => page.close());
  if (url !== undefined) await page.goto(url);
  return { page, problems };
}
