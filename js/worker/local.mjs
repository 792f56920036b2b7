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
export async function startWorker({ policy, originPort, config = CONFIG, env = {}, args = [], pollMs = 25 }) {
  const port = await freePort();
  const child = spawn(
    WORKERD,
    ['serve', config, `--socket-addr=http=127.0.0.1:${port}`, `--external-addr=origin=127.0.0.1:${originPort}`, ...args],
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
  return { port, stop, log: () => output, pid: child.pid };
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
