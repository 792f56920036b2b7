// The CLI (bin/jwtgate.mjs): output and exit codes, run as a child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NOW, claims, flipSignatureBit, keyFor, policyFor, sign } from './helpers.mjs';

const BIN = fileURLToPath(new URL('../bin/jwtgate.mjs', import.meta.url));
const run = (args, input) => spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8' });

const key = await keyFor('EdDSA');
const dir = mkdtempSync(join(tmpdir(), 'jwtgate-cli-'));
const policyFile = join(dir, 'policy.json');
writeFileSync(policyFile, JSON.stringify(policyFor([key], {}, { rules: [{ prefix: '/admin', requires: 'main', claim_rules: [{ claim: 'admin', equals: true }] }] })));
// iat 2025-12-31T23:00:00Z, exp 2026-01-01T02:00:00Z
const token = await sign(key, claims({ iat: NOW - 3600, exp: NOW + 7200 }));

test('inspect: header, claims, ISO and relative times, and a not-verified notice', () => {
  const r = run(['inspect', '--now', String(NOW), token]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /NOT VERIFIED/);
  assert.match(r.stdout, /"alg": "EdDSA"/);
  assert.match(r.stdout, /"sub": "user-1"/);
  assert.match(r.stdout, /iat\s+2025-12-31T23:00:00Z \(1 hour ago\)/);
  assert.match(r.stdout, /exp\s+2026-01-01T02:00:00Z \(in 2 hours\)/);
});

test('inspect lists the warnings of an expired token, and accepts an ISO --now', () => {
  const r = run(['inspect', '--now', '2026-01-02T00:00:00Z', token]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /exp\s+2026-01-01T02:00:00Z \(22 hours ago\)/);
  assert.match(r.stdout, /warnings:\n {2}- /);
});

test('inspect reads the token from standard input ("-" or none)', () => {
  for (const args of [['inspect', '-'], ['inspect']]) {
    const r = run([...args, '--json'], `${token}\n`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).payload.sub, 'user-1');
  }
});

test('inspect of garbage exits 1 with the code', () => {
  const r = run(['inspect', 'not-a-token']);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /malformed/);
});

test('verify: accepted token exits 0 and prints every check', () => {
  const r = run(['verify', '--policy', policyFile, '--now', String(NOW), token]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ok {4}signature: /m);
  // The policy allows host crypto: the CLI's verifier is the package's, with node:crypto.
  assert.match(r.stdout, /^ok {4}signature: EdDSA signature verified with .* by node:crypto$/m);
  assert.match(r.stdout, /accepted \(provider main\)/);
});

test('verify: refused token exits 1 with the code', () => {
  const bad = run(['verify', '--policy', policyFile, '--now', String(NOW), flipSignatureBit(token)]);
  assert.equal(bad.status, 1);
  assert.match(bad.stdout, /^FAIL {2}signature: /m);
  assert.match(bad.stdout, /refused: bad_signature: /);
  const late = run(['verify', '--policy', policyFile, '--now', String(NOW + 86400), '--json'], token);
  assert.equal(late.status, 1);
  assert.equal(JSON.parse(late.stdout).code, 'expired');
});

test('verify --path applies the rule of that path', () => {
  const r = run(['verify', '--policy', policyFile, '--now', String(NOW), '--path', '/admin/x', token]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /refused: claim_rule_failed: /);
});

test('usage and policy errors exit 2', () => {
  const cases = [
    [],
    ['frobnicate'],
    ['verify', token],
    ['verify', '--policy', join(dir, 'absent.json'), token],
    ['inspect', '--bogus', token],
    ['inspect', '--now', 'someday', token],
  ];
  for (const args of cases) {
    const r = run(args, '');
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, /usage:/);
  }
  const badPolicy = join(dir, 'bad.json');
  writeFileSync(badPolicy, JSON.stringify({ providers: { main: { issuer: 7 } } }));
  const r = run(['verify', '--policy', badPolicy, token]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /invalid_config: .*issuer/);
});

test('--help exits 0', () => {
  const r = run(['--help']);
  assert.equal(r.status, 0);
  assert.match(r.stdout, /jwtgate inspect/);
});
