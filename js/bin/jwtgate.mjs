#!/usr/bin/env node
// jwtgate CLI: look inside a token, or verify it against a policy file.
// Presentation only: decoding, verification and the check list are the core's.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decode, createVerifier, JwtError } from '../src/node.js';

const USAGE = `usage:
  jwtgate inspect [--now T] [--json] [<token>|-]
  jwtgate verify --policy <policy.json> [--path /x] [--now T] [--json] [<token>|-]

The token is read from standard input when it is "-" or not given.
--now T   judge times at T (Unix seconds or an ISO 8601 date) instead of the clock
--json    print JSON instead of text

inspect shows the header and claims WITHOUT verifying anything.
verify exits 0 when the token is accepted, 1 when it is refused, 2 on a usage or policy error.`;

const EXIT_OK = 0;
const EXIT_REFUSED = 1;
const EXIT_USAGE = 2;

class UsageError extends Error {}

function parseNow(value) {
  if (value === undefined) return Math.floor(Date.now() / 1000);
  if (/^-?\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`--now: not Unix seconds or an ISO 8601 date: ${value}`);
  return Math.floor(ms / 1000);
}

function readToken(positional) {
  if (positional.length > 1) throw new UsageError('give one token');
  const arg = positional[0];
  const token = (arg === undefined || arg === '-' ? readFileSync(0, 'utf8') : arg).trim();
  if (token === '') throw new UsageError('no token given (argument or standard input)');
  return token;
}

const UNITS = [
  ['year', 365 * 86400],
  ['day', 86400],
  ['hour', 3600],
  ['minute', 60],
  ['second', 1],
];
const relative = new Intl.RelativeTimeFormat('en', { numeric: 'always' });

/** "2026-01-01T00:00:00Z (in 3 hours)" for a NumericDate, judged at `now`. */
function humanTime(seconds, now) {
  const iso = new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
  const delta = seconds - now;
  const [unit, size] = UNITS.find(([, s]) => Math.abs(delta) >= s) ?? UNITS[UNITS.length - 1];
  return `${iso} (${relative.format(Math.trunc(delta / size), unit)})`;
}

const TIME_CLAIMS = ['iat', 'nbf', 'exp', 'auth_time'];

function inspect(values, positional, out) {
  const now = parseNow(values.now);
  const token = readToken(positional);
  let decoded;
  try {
    decoded = decode(token, { now });
  } catch (err) {
    if (!(err instanceof JwtError)) throw err;
    out.push(`not a decodable token: ${err.code}: ${err.message}`);
    return EXIT_REFUSED;
  }
  if (values.json) {
    out.push(JSON.stringify(decoded, null, 2));
    return EXIT_OK;
  }
  out.push('NOT VERIFIED: decoding only; nothing here is proof of anything.', '');
  out.push('header:', JSON.stringify(decoded.header, null, 2), '');
  out.push('claims:', JSON.stringify(decoded.payload, null, 2));
  const payload = decoded.payload !== null && typeof decoded.payload === 'object' ? decoded.payload : {};
  const times = TIME_CLAIMS.filter((c) => typeof payload[c] === 'number' && Number.isFinite(payload[c]));
  if (times.length > 0) {
    out.push('', 'times:');
    for (const c of times) out.push(`  ${c.padEnd(9)} ${humanTime(payload[c], now)}`);
  }
  if (decoded.warnings.length > 0) {
    out.push('', 'warnings:');
    for (const w of decoded.warnings) out.push(`  - ${w}`);
  }
  return EXIT_OK;
}

function verify(values, positional, out) {
  if (values.policy === undefined) throw new UsageError('verify needs --policy <policy.json>');
  const now = parseNow(values.now);
  let policy;
  try {
    policy = readFileSync(values.policy, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the policy: ${err.message}`);
  }
  let verifier;
  try {
    verifier = createVerifier(policy);
  } catch (err) {
    if (!(err instanceof JwtError)) throw err;
    throw new UsageError(`invalid policy ${values.policy}: ${err.code}: ${err.message}`);
  }
  const token = readToken(positional);
  const report = verifier.explain(token, { now, path: values.path });
  if (values.json) {
    out.push(JSON.stringify(report, null, 2));
  } else {
    for (const c of report.checks) out.push(`${c.ok ? 'ok  ' : 'FAIL'}  ${c.check}: ${c.detail}`);
    out.push(report.ok ? `accepted (provider ${report.provider})` : `refused: ${report.code}: ${report.message}`);
  }
  return report.ok ? EXIT_OK : EXIT_REFUSED;
}

function main(argv) {
  const [command, ...rest] = argv;
  const out = [];
  let code;
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        policy: { type: 'string' },
        path: { type: 'string' },
        now: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help || command === 'help' || command === '--help' || command === '-h') {
      out.push(USAGE);
      code = EXIT_OK;
    } else if (command === 'inspect') code = inspect(values, positionals, out);
    else if (command === 'verify') code = verify(values, positionals, out);
    else throw new UsageError(command === undefined ? 'no command given' : `unknown command: ${command}`);
  } catch (err) {
    const badArgs = typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS_');
    if (!(err instanceof UsageError) && !badArgs) throw err;
    process.stderr.write(`jwtgate: ${err.message}\n\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (out.length > 0) process.stdout.write(out.join('\n') + '\n');
  return code;
}

process.exitCode = main(process.argv.slice(2));
