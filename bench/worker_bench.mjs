// The edge worker in workerd (bench/run.sh; or alone:
// `node bench/worker_bench.mjs [--quick] [--out f.json] [--doc docs/BENCHMARKS.md] [--from f.json]`;
// --from writes the section from an earlier run's JSON without measuring).
//
// - Bundle: the modules js/worker/config.capnp loads (what wrangler uploads,
//   unminified), raw and gzip -9, against Cloudflare's published size limits.
// - CPU per request: workerd's own CPU time (its threads' run time, from
//   /proc/<pid>/task/*/schedstat, in ns). The guard alone: a worker
//   (bench/worker/loop.js) runs it N times in one request, minus a request
//   running it 0 times. Whole requests: N sequential requests on one
//   keep-alive connection, the `/login` bypass cell being the floor. Timers
//   inside a Worker are frozen while it runs (a Spectre mitigation), so the
//   worker cannot time itself.
// - Startup: from spawning workerd to the first answer, the jwtgate worker
//   (module evaluation, wasm instantiation, policy parse on the first
//   request) against a worker with nothing to load.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import * as jose from 'jose';
import { CONFIG, send, startOrigin, startWorker } from '../js/worker/local.mjs';

const args = process.argv.slice(2);
const QUICK = args.includes('--quick');
const opt = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const N = QUICK ? 300 : 1500;
const WARMUP = QUICK ? 50 : 200;
const STARTUP_ROUNDS = QUICK ? 5 : 15;
const HELLO = fileURLToPath(new URL('./worker/hello.capnp', import.meta.url));
const STEPS = fileURLToPath(new URL('./worker/steps.capnp', import.meta.url));
const LOOP = fileURLToPath(new URL('./worker/loop.capnp', import.meta.url));
const LOOP_N = QUICK ? 200 : 1000;
const LOOP_ROUNDS = QUICK ? 3 : 5;

/** CPU milliseconds the process has used: the scheduler's run time of each of its threads (ns, /proc/<pid>/task/<tid>/schedstat). */
function cpuMs(pid) {
  let ns = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended in between
    }
  }
  return ns / 1e6;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ---------------------------------------------------------------- bundle
function bundle() {
  const config = readFileSync(CONFIG, 'utf8');
  const files = [...config.matchAll(/\(name = "[^"]+", (?:esModule|wasm) = embed "([^"]+)"\)/g)].map((m) => new URL(m[1], `file://${CONFIG}`));
  const rows = files.map((url) => {
    const bytes = readFileSync(url);
    return { file: fileURLToPath(url).replace(/.*\/js\//, 'js/'), raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  const total = { file: 'total', raw: rows.reduce((a, r) => a + r.raw, 0), gzip: rows.reduce((a, r) => a + r.gzip, 0) };
  return { rows, total };
}

// ---------------------------------------------------------------- CPU per request
async function keys() {
  const out = {};
  for (const alg of ['RS256', 'ES256', 'EdDSA', 'HS256']) {
    const kid = alg.toLowerCase();
    if (alg === 'HS256') {
      const secret = await jose.generateSecret(alg, { extractable: true });
      out[alg] = { alg, kid, key: secret, jwk: { ...(await jose.exportJWK(secret)), kid, alg } };
    } else {
      const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
      out[alg] = { alg, kid, key: privateKey, jwk: { ...(await jose.exportJWK(publicKey)), kid, alg } };
    }
  }
  return out;
}

function policy(k, cache) {
  return {
    providers: {
      idp: {
        issuer: 'https://idp.example.com',
        audiences: ['orders-api'],
        jwks: { keys: Object.values(k).map((x) => x.jwk) },
        algorithms: Object.keys(k),
        allow_hmac: true,
        claim_to_headers: [{ claim: 'sub', header: 'x-jwt-sub' }],
      },
    },
    rules: [
      { prefix: '/login', bypass: true },
      { prefix: '/', requires: 'idp' },
    ],
    cache: { enabled: cache },
  };
}

/** N sequential GETs on one keep-alive connection: { cpu µs/request, wall µs median and p99 }. */
async function cell(worker, path, headers) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise((resolve, reject) => {
      const t0 = process.hrtime.bigint();
      const req = http.get({ host: '127.0.0.1', port: worker.port, path, headers, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, us: Number(process.hrtime.bigint() - t0) / 1000 }));
      });
      req.on('error', reject);
    });
  for (let i = 0; i < WARMUP; i++) await get();
  const walls = [];
  const cpu0 = cpuMs(worker.pid);
  const statuses = new Set();
  for (let i = 0; i < N; i++) {
    const r = await get();
    statuses.add(r.status);
    walls.push(r.us);
  }
  const cpu = ((cpuMs(worker.pid) - cpu0) * 1000) / N;
  agent.destroy();
  walls.sort((a, b) => a - b);
  return { cpu_us: cpu, wall_median_us: median(walls), wall_p99_us: walls[Math.floor(walls.length * 0.99)], statuses: [...statuses] };
}

async function cpuCells(origin) {
  const k = await keys();
  const now = Math.floor(Date.now() / 1000);
  const token = (alg) =>
    new jose.SignJWT({ iss: 'https://idp.example.com', aud: 'orders-api', sub: 'alice', iat: now, exp: now + 3600 })
      .setProtectedHeader({ alg, kid: k[alg].kid, typ: 'JWT' })
      .sign(k[alg].key);
  const out = [];
  for (const cache of [true, false]) {
    const worker = await startWorker({ policy: policy(k, cache), originPort: origin.port });
    try {
      const floor = await cell(worker, '/login', {});
      out.push({ cell: 'floor: /login bypass, no token', cache, ...floor });
      for (const alg of Object.keys(k)) {
        const r = await cell(worker, '/orders', { authorization: `Bearer ${await token(alg)}` });
        out.push({ cell: alg, cache, ...r });
      }
    } finally {
      await worker.stop();
    }
  }
  return out;
}

/**
 * The guard alone: CPU of a request running it LOOP_N times minus that of a
 * request running it 0 times, over LOOP_N; the smallest of LOOP_ROUNDS.
 */
async function loopCells(origin) {
  const k = await keys();
  const now = Math.floor(Date.now() / 1000);
  const out = [];
  for (const cache of [true, false]) {
    const worker = await startWorker({ policy: policy(k, cache), originPort: origin.port, config: LOOP });
    try {
      for (const alg of Object.keys(k)) {
        const token = await new jose.SignJWT({ iss: 'https://idp.example.com', aud: 'orders-api', sub: 'alice', iat: now, exp: now + 3600 })
          .setProtectedHeader({ alg, kid: k[alg].kid, typ: 'JWT' })
          .sign(k[alg].key);
        const headers = [['authorization', `Bearer ${token}`]];
        const run = async (n) => {
          const c0 = cpuMs(worker.pid);
          const r = await send(worker.port, { target: `/?n=${n}`, headers });
          if (r.json?.allowed !== n) throw new Error(`${alg}: ${r.text}`);
          return { cpu: cpuMs(worker.pid) - c0, checker: r.json.checker };
        };
        await run(20); // warm-up (and the WebCrypto self-test)
        const per = [];
        let checker;
        for (let i = 0; i < LOOP_ROUNDS; i++) {
          const empty = await run(0);
          const full = await run(LOOP_N);
          checker = full.checker;
          per.push(((full.cpu - empty.cpu) * 1000) / LOOP_N);
        }
        out.push({ alg, cache, guard_cpu_us: Math.min(...per), median_us: median(per), checker });
      }
    } finally {
      await worker.stop();
    }
  }
  return out;
}

// ---------------------------------------------------------------- startup
/**
 * One cold start: wall time from spawning workerd to its socket accepting and
 * to the answer of the first request, and workerd's CPU time (all threads:
 * V8 compiles wasm on helper threads) up to listening and for that request.
 */
async function firstAnswer(config, policyJson, originPort, env = {}) {
  const t0 = process.hrtime.bigint();
  const worker = await startWorker({ policy: policyJson, originPort, config, env, pollMs: 2 });
  const listening = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpuListening = cpuMs(worker.pid);
  const r = await send(worker.port, { target: '/orders' });
  const first = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpuFirst = cpuMs(worker.pid) - cpuListening;
  const t1 = process.hrtime.bigint();
  await send(worker.port, { target: '/orders' });
  const second = Number(process.hrtime.bigint() - t1) / 1e6;
  await worker.stop();
  return { listening, first, second, cpuListening, cpuFirst, status: r.status };
}

/** The workers of the startup table: the floor, the steps of bench/worker/steps.js, and js/worker as shipped. */
const STARTUP_CASES = [
  { id: 'hello', config: HELLO, what: 'nothing to load (bench/worker/hello.js)' },
  { id: 'load', config: STEPS, env: { STEP: 'load' }, what: 'jwtgate modules evaluated, wasm instantiated' },
  { id: 'guard', config: STEPS, env: { STEP: 'guard' }, what: '+ createGuard (policy parsed, keys loaded)' },
  { id: 'full', config: STEPS, env: { STEP: 'full' }, what: '+ first decision (401), WebCrypto offered (self-test)' },
  { id: 'shipped', config: CONFIG, what: 'js/worker as shipped (config.capnp), first request a 401' },
];

async function startup(origin) {
  const k = await keys();
  const p = JSON.stringify(policy(k, true));
  const runs = Object.fromEntries(STARTUP_CASES.map((c) => [c.id, []]));
  for (let i = 0; i < STARTUP_ROUNDS; i++) {
    // Interleaved, so that the machine's load falls on every case alike.
    for (const c of STARTUP_CASES) runs[c.id].push(await firstAnswer(c.config, p, origin.port, c.env));
  }
  const summary = (xs) => ({
    listening_ms: median(xs.map((x) => x.listening)),
    first_request_ms: median(xs.map((x) => x.first - x.listening)),
    second_request_ms: median(xs.map((x) => x.second)),
    cpu_listening_ms: median(xs.map((x) => x.cpuListening)),
    cpu_first_ms: median(xs.map((x) => x.cpuFirst)),
    cpu_total_ms: median(xs.map((x) => x.cpuListening + x.cpuFirst)),
  });
  const cases = STARTUP_CASES.map((c) => ({ id: c.id, what: c.what, ...summary(runs[c.id]) }));
  // The same steps in Node's V8 (the engine workerd embeds), one by one.
  const { initSync, createVerifier } = await import('../js/src/browser.js');
  const bytes = readFileSync(new URL('../js/pkg/jwtgate_bg.wasm', import.meta.url));
  let t = process.hrtime.bigint();
  const module = new WebAssembly.Module(bytes);
  const compile = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  initSync(module);
  const instantiate = Number(process.hrtime.bigint() - t) / 1e6;
  t = process.hrtime.bigint();
  createVerifier(p);
  const verifier = Number(process.hrtime.bigint() - t) / 1e6;
  return { rounds: STARTUP_ROUNDS, cases, node_v8: { compile_ms: compile, instantiate_ms: instantiate, create_verifier_ms: verifier } };
}

// ---------------------------------------------------------------- report
function markdown(r) {
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const us = (n) => `${n.toFixed(n < 100 ? 1 : 0)} µs`;
  const ms = (n) => `${n.toFixed(1)} ms`;
  const lines = [];
  lines.push('<!-- worker-bench: written by bench/worker_bench.mjs; do not edit by hand -->');
  lines.push('## Edge worker (workerd)');
  lines.push('');
  lines.push(`${r.when}, ${r.machine}; workerd ${r.workerd}, ${QUICK ? 'quick run' : 'full run'} (${N} requests per cell after ${WARMUP} warm-up). The worker is js/worker/ as shipped (js/worker/config.capnp), in front of a Node echo origin on 127.0.0.1.`);
  lines.push('');
  lines.push('**Bundle** (the modules config.capnp loads, i.e. what a deployment uploads, unminified):');
  lines.push('');
  lines.push('| module | raw | gzip -9 |');
  lines.push('|---|---|---|');
  for (const row of [...r.bundle.rows, r.bundle.total]) lines.push(`| ${row.file} | ${kb(row.raw)} | ${kb(row.gzip)} |`);
  lines.push('');
  lines.push(`Cloudflare's published limit on a Worker's size, after compression: 3 MB on the Free plan, 10 MB on paid plans; the bundle is ${((r.bundle.total.gzip / (3 * 1024 * 1024)) * 100).toFixed(0)}% of the Free plan's.`);
  lines.push('');
  lines.push(`**CPU per request, the guard alone**: a worker (bench/worker/loop.js, the same modules) runs \`guard(request)\` ${LOOP_N} times in one request with the same token; workerd's CPU time for that request (the scheduler's run time of its threads, /proc/<pid>/task/*/schedstat, in ns) minus that of a request running it 0 times, over ${LOOP_N}: the smallest of ${LOOP_ROUNDS} rounds (median after it). Cache on: every call after the first is a cache hit; cache off: every call verifies the signature.`);
  lines.push('');
  lines.push('| alg | signatures by | cache on | cache off |');
  lines.push('|---|---|---|---|');
  for (const alg of [...new Set(r.loop.map((c) => c.alg))]) {
    const on = r.loop.find((c) => c.alg === alg && c.cache);
    const off = r.loop.find((c) => c.alg === alg && !c.cache);
    // HMAC stays in pure Rust (js/src/webcrypto.js); EdDSA goes to WebCrypto where it has Ed25519, as workerd's does.
    const by = alg.startsWith('HS') ? 'pure Rust' : off.checker;
    lines.push(`| ${alg} | ${by} | ${us(on.guard_cpu_us)} (${us(on.median_us)}) | ${us(off.guard_cpu_us)} (${us(off.median_us)}) |`);
  }
  const rsOff = r.loop.find((c) => c.alg === 'RS256' && !c.cache);
  lines.push('');
  lines.push(`Goal: RS256 by WebCrypto well under 1 ms of CPU (the Free plan allows 10 ms): ${us(rsOff.guard_cpu_us)} uncached, ${rsOff.guard_cpu_us < 1000 ? 'met' : 'not met'}.`);
  lines.push('');
  lines.push('**CPU per request, whole requests** (for scale): workerd\'s CPU time over a cell, as above, divided by its requests, and the latency a client saw: sequential requests on one keep-alive connection, through the worker to the echo origin and back (bench/run.sh runs the client, workerd and the origin on one CPU). The floor is the same worker on a bypassed path (request parsing, the core\'s authorize without a token, the forward to the origin). Differences between these cells smaller than the run-to-run noise (see the load above) do not count; the loop above is the guard\'s cost.');
  lines.push('');
  lines.push('| cell | cache | workerd CPU / request | wall median | wall p99 |');
  lines.push('|---|---|---|---|---|');
  for (const c of r.cpu) lines.push(`| ${c.cell} | ${c.cache ? 'on' : 'off'} | ${us(c.cpu_us)} | ${us(c.wall_median_us)} | ${us(c.wall_p99_us)} |`);
  lines.push('');
  const s = r.startup;
  const c = Object.fromEntries(s.cases.map((x) => [x.id, x]));
  lines.push(`**Startup** (median of ${s.rounds} cold starts of the whole workerd process per row, the rows interleaved; sockets polled every 2 ms). Wall: from spawning workerd to its socket accepting ("listening"), then the answer to the first request. CPU: workerd's CPU time (all its threads, as above) up to listening and for the first request; on this shared machine wall times wait for a CPU and vary by tens of milliseconds from run to run, so CPU time is the figure to read. The jwtgate rows stop the first request after one more step each (bench/worker/steps.js); module evaluation and wasm instantiation happen before listening or in the first request, as workerd schedules them, so the rows are compared by their total.`);
  lines.push('');
  lines.push('| worker | listening (wall) | first request (wall) | CPU to listening | CPU, first request | CPU total | CPU over the row above |');
  lines.push('|---|---|---|---|---|---|---|');
  s.cases.forEach((x, i) => {
    const above = i === 0 || x.id === 'shipped' ? '' : ms(x.cpu_total_ms - s.cases[i - 1].cpu_total_ms);
    lines.push(`| ${x.what} | ${ms(x.listening_ms)} | ${ms(x.first_request_ms)} | ${ms(x.cpu_listening_ms)} | ${ms(x.cpu_first_ms)} | ${ms(x.cpu_total_ms)} | ${above} |`);
  });
  lines.push('');
  const cpu = c.shipped.cpu_total_ms - c.hello.cpu_total_ms;
  const wall = c.shipped.listening_ms + c.shipped.first_request_ms - c.hello.listening_ms - c.hello.first_request_ms;
  lines.push(`So the shipped jwtgate isolate's startup (modules, wasm instantiation, policy parse, first decision with the WebCrypto self-test) costs ${ms(cpu)} of CPU more than an empty worker's (${ms(wall)} of wall time on this run). The same steps one by one in Node's V8: compiling the module ${ms(s.node_v8.compile_ms)}, instantiating ${ms(s.node_v8.instantiate_ms)}, createVerifier on this policy ${ms(s.node_v8.create_verifier_ms)} (V8 compiles wasm functions lazily, on first call, so most of that is compilation). Cloudflare's published limits: 1 s of startup, 10 ms of CPU per request on the Free plan. Goal: under 50 ms, ${cpu < 50 ? 'met' : 'not met'} in CPU time on this run.`);
  lines.push('<!-- /worker-bench -->');
  return lines.join('\n');
}

const origin = await startOrigin();
try {
  const result = opt('--from') ? JSON.parse(readFileSync(opt('--from'), 'utf8')) : {
    when: new Date().toISOString().slice(0, 10),
    machine: `${(await import('node:os')).cpus()[0].model}, ${(await import('node:os')).cpus().length} CPUs, load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    workerd: JSON.parse(readFileSync(new URL('../js/node_modules/workerd/package.json', import.meta.url))).version,
    bundle: bundle(),
    loop: await loopCells(origin),
    cpu: await cpuCells(origin),
    startup: await startup(origin),
  };
  if (opt('--out')) writeFileSync(opt('--out'), JSON.stringify(result, null, 2));
  const md = markdown(result);
  const doc = opt('--doc');
  if (doc) {
    const text = readFileSync(doc, 'utf8');
    const start = text.indexOf('<!-- worker-bench');
    const end = text.indexOf('<!-- /worker-bench -->');
    const anchor = text.indexOf('## Reference machine');
    const updated =
      start >= 0 && end > start
        ? text.slice(0, start) + md + text.slice(end + '<!-- /worker-bench -->'.length)
        : anchor >= 0
          ? `${text.slice(0, anchor)}${md}\n\n${text.slice(anchor)}`
          : `${text}\n${md}\n`;
    writeFileSync(doc, updated);
  } else {
    console.log(md);
  }
} finally {
  await origin.close();
}
