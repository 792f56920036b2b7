#!/usr/bin/env node
// jwtgate CLI: look inside a token, or verify it against a policy file.
// Arguments, files and exit codes only: what is printed is the core's report
// (src/report.rs, the native `jwtgate` binary's words), through cliReport.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
// jwtgate/full: a policy file may ask for `signature_verifier: "rust"`, as
// the native binary allows; download size does not matter to a CLI.
import '../full/src/node.js'; // loads the module
import { cliReport } from '../full/pkg/jwtgate.js';
import { JwtError, call } from '../full/src/errors.js';
import { nodeCrypto } from '../full/src/node-crypto.js';

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

/** The core's report on `token` ({ ok, text }), pushed to `out`; the exit code. */
function report(out, token, now, json, policy, path) {
  const host = policy === undefined ? undefined : nodeCrypto(); // as createVerifier offers it
  const { ok, text } = JSON.parse(call(() => cliReport(token, now, json, policy, path, host)));
  out.push(text);
  return ok ? EXIT_OK : EXIT_REFUSED;
}

function inspect(values, positional, out) {
  const now = parseNow(values.now);
  return report(out, readToken(positional), now, values.json === true);
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
  const token = readToken(positional);
  try {
    return report(out, token, now, values.json === true, policy, values.path);
  } catch (err) {
    if (!(err instanceof JwtError)) throw err;
    throw new UsageError(`invalid policy ${values.policy}: ${err.code}: ${err.message}`);
  }
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
