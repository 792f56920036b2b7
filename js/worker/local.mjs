// Running the worker locally, for `make worker-demo`, the tests and the
// benchmarks: workerd (the npm package's binary) serving a capnp config on
// 127.0.0.1, an origin that echoes what it receives, and an HTTP/1.1 client
// that writes request targets byte for byte (fetch would normalize them).
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const WORKERD = fileURLToPath(new URL('../node_modules/.bin/workerd', import.meta.url));
export const CONFIG = fileURLToPath(new URL('./config.capnp', import.meta.url));

/**
 * An origin on 127.0.0.1 that answers every request with JSON:
 * { method, url, headers (raw [name, value, ...]), body }. `requests` lists them.
 */
export async function startOrigin() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const seen = { method: req.method, url: req.url, headers: req.rawHeaders, body };
      requests.push(seen);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(seen));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, requests, close: () => new Promise((r) => server.close(r)) };
}

/** A port that was free a moment ago (workerd takes addresses, not listening sockets, from the command line). */
async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether something accepts connections on the port. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/**
 * Starts `workerd serve <config>` with the policy in JWTGATE_POLICY, its
 * socket `http` on a free 127.0.0.1 port and its external service `origin`
 * at `originPort`. `env` adds environment variables (the config's
 * fromEnvironment bindings). Resolves once it accepts connections (checked
 * every `pollMs`), to
 * { port, stop(), log() }; rejects with workerd's output if it exits first.
 */
export async function startWorker({ policy, originPort, config = CONFIG, env = {}, args = [], pollMs = 25, sockets = ['http'], externals = {} }) {
  const ports = {};
  for (const name of sockets) ports[name] = await freePort();
  const port = ports[sockets[0]];
  const child = spawn(
    WORKERD,
    [
      'serve',
      config,
      ...sockets.map((name) => `--socket-addr=${name}=127.0.0.1:${ports[name]}`),
      `--external-addr=origin=127.0.0.1:${originPort}`,
      ...Object.entries(externals).map(([name, p]) => `--external-addr=${name}=127.0.0.1:${p}`),
      ...args,
    ],
    {
      env: { ...process.env, JWTGATE_POLICY: typeof policy === 'string' ? policy : JSON.stringify(policy), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (s) => (output += s));
  child.stderr.setEncoding('utf8').on('data', (s) => (output += s));
  let exited = null;
  const done = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exited = { code, signal }))));
  const stop = async () => {
    if (exited === null) child.kill('SIGTERM');
    await done;
  };
  const deadline = Date.now() + 30_000;
  while (!(await accepts(port))) {
    if (exited !== null) throw new Error(`workerd exited (${JSON.stringify(exited)}):\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`workerd did not listen on 127.0.0.1:${port} within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  for (const name of sockets.slice(1)) {
    while (!(await accepts(ports[name]))) await new Promise((r) => setTimeout(r, pollMs));
  }
  return { port, ports, stop, log: () => output, pid: child.pid };
}

/**
 * A store behind workerd's Cache API (a worker's `cacheApiOutbound`), in the
 * protocol workerd speaks to it: `PUT <key URL>` with the serialized HTTP
 * response as the body (kept for its Cache-Control max-age or s-maxage, not
 * at all with no-store or without either), `GET` answered with the stored
 * response and `Cf-Cache-Status: HIT` (or `MISS`), `PURGE` deleting (200, or
 * 404). Several workers and workerd processes pointed at it share one cache,
 * as the isolates of one Cloudflare data center share `caches.default`.
 * `ops` counts the requests by method; `snapshotKids()` lists the kids of
 * the key sets in the jwtgate key snapshots it holds (js/src/edge-keys.js).
 */
export async function startCacheStore() {
  const entries = new Map();
  const ops = { GET: 0, PUT: 0, PURGE: 0 };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      ops[req.method] = (ops[req.method] ?? 0) + 1;
      const key = `${req.headers.host}${req.url}`;
      if (req.method === 'PUT') {
        const raw = Buffer.concat(chunks);
        const split = raw.indexOf('\r\n\r\n');
        const [statusLine, ...lines] = raw.subarray(0, split).toString('latin1').split('\r\n');
        const headers = lines.map((l) => [l.slice(0, l.indexOf(':')).trim(), l.slice(l.indexOf(':') + 1).trim()]);
        const control = headers.find(([k]) => k.toLowerCase() === 'cache-control')?.[1] ?? '';
        const age = /(?:^|,)\s*s-maxage=(\d+)/i.exec(control) ?? /(?:^|,)\s*max-age=(\d+)/i.exec(control);
        if (age && !/no-store/i.test(control)) {
          const status = Number(statusLine.split(' ')[1]);
          entries.set(key, { status, headers, body: raw.subarray(split + 4), expires: Date.now() + Number(age[1]) * 1000 });
        }
        res.writeHead(204).end();
      } else if (req.method === 'GET') {
        const entry = entries.get(key);
        if (!entry || entry.expires <= Date.now()) {
          entries.delete(key);
          res.writeHead(504, { 'cf-cache-status': 'MISS' }).end();
        } else {
          res.writeHead(entry.status, [...entry.headers.flat(), 'cf-cache-status', 'HIT']).end(entry.body);
        }
      } else if (req.method === 'PURGE') {
        res.writeHead(entries.delete(key) ? 200 : 404).end();
      } else {
        res.writeHead(405).end();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const snapshotKids = () =>
    [...entries]
      .filter(([key]) => key.endsWith('/snapshot'))
      .flatMap(([, entry]) => JSON.parse(JSON.parse(entry.body.toString()).jwks).keys.map((jwk) => jwk.kid));
  return { port: server.address().port, ops, entries, snapshotKids, close: () => new Promise((r) => server.close(r)) };
}

/**
 * tests/jwks_server.py as a process (a JWKS and OIDC discovery server on
 * 127.0.0.1 that counts requests, rotates keys and goes down on request):
 * { port, base, control(body), count(path), close() }.
 */
export async function startJwksServer() {
  const script = fileURLToPath(new URL('../../tests/jwks_server.py', import.meta.url));
  const child = spawn('python3', [script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s) => {
      out += s;
      if (out.includes('\n')) resolve(out.slice(0, out.indexOf('\n')));
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`tests/jwks_server.py exited (${code})`)));
  });
  const { port } = JSON.parse(line);
  const base = `http://127.0.0.1:${port}`;
  const control = async (body) => {
    const r = await fetch(`${base}/_control`, { method: 'POST', body: JSON.stringify(body) });
    if (r.status !== 200) throw new Error(`jwks_server /_control: ${r.status} ${await r.text()}`);
  };
  const count = async (path = '/jwks') => (await (await fetch(`${base}/_stats`)).json()).counts[path] ?? 0;
  const close = () =>
    new Promise((resolve) => {
      child.once('exit', resolve);
      child.stdin.end();
    });
  return { port, base, control, count, close };
}

/**
 * Sends one HTTP/1.1 request with `target` written as is, on its own
 * connection, with `Host: host`. `headers` is a list of [name, value]. Resolves to
 * { status, headers: [[lower-case name, value]], text, json }.
 */
export function send(port, { method = 'GET', target, headers = [], body = '', host = 'app.test' }) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const lines = [`${method} ${target} HTTP/1.1`, `Host: ${host}`, 'Connection: close'];
    for (const [name, value] of headers) lines.push(`${name}: ${value}`);
    if (body) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
    socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
    const chunks = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const data = Buffer.concat(chunks).toString('latin1');
      const split = data.indexOf('\r\n\r\n');
      const [statusLine, ...headerLines] = data.slice(0, split).split('\r\n');
      const responseHeaders = headerLines.map((l) => {
        const i = l.indexOf(':');
        return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
      });
      let rest = data.slice(split + 4);
      if (responseHeaders.some(([k, v]) => k === 'transfer-encoding' && /chunked/i.test(v))) {
        let out = '';
        for (;;) {
          const nl = rest.indexOf('\r\n');
          const size = parseInt(rest.slice(0, nl), 16);
          if (!size) break;
          out += rest.slice(nl + 2, nl + 2 + size);
          rest = rest.slice(nl + 2 + size + 2);
        }
        rest = out;
      }
      const text = Buffer.from(rest, 'latin1').toString('utf8');
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers: responseHeaders, text, json });
    });
  });
}

/** A response header's value (the first), or undefined. */
export function header(response, name) {
  return response.headers.find(([k]) => k === name.toLowerCase())?.[1];
}
