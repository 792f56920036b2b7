// explain(): the verdict plus every check that ran, in order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createVerifier } from 'jwtgate';
import { NOW, claims, flipSignatureBit, keyFor, policyFor, sign } from './helpers.mjs';

const key = await keyFor('PS256');
const policy = policyFor(
  [key],
  { required_claims: ['sub'], claim_rules: [{ claim: 'scope', exists: true }] },
  { deny: { jti: ['gone'] } },
);
const verifier = createVerifier(policy);

function assertChecks(report) {
  assert.ok(Array.isArray(report.checks) && report.checks.length > 0);
  for (const c of report.checks) {
    assert.deepEqual(Object.keys(c).sort(), ['check', 'detail', 'ok']);
    assert.equal(typeof c.check, 'string');
    assert.equal(typeof c.ok, 'boolean');
    assert.equal(typeof c.detail, 'string');
  }
}

test('an accepted token: ok, the provider, and every check passed', async () => {
  const report = verifier.explain(await sign(key, claims({ scope: 'read' })), { now: NOW });
  assert.equal(report.ok, true);
  assert.equal(report.provider, 'main');
  assert.equal(report.code, undefined);
  assertChecks(report);
  assert.ok(report.checks.every((c) => c.ok));
  // Signature first, then the claims: the order the checks are listed in.
  const names = report.checks.map((c) => c.check);
  assert.ok(names.includes('signature'));
  assert.ok(names.indexOf('signature') < names.indexOf('payload'));
  assert.ok(names.includes('deny list'));
});

test('a refused token: the code, the message, and the failing check last', async () => {
  const report = verifier.explain(flipSignatureBit(await sign(key, claims({ scope: 'read' }))), { now: NOW });
  assert.equal(report.ok, false);
  assert.equal(report.code, 'bad_signature');
  assert.equal(typeof report.message, 'string');
  assertChecks(report);
  const last = report.checks.at(-1);
  assert.equal(last.ok, false);
  assert.equal(last.check, 'signature');
  // Nothing about the claims is reported for a token whose signature failed.
  assert.ok(!report.checks.some((c) => c.check === 'payload'));
});

test('explain and verify agree', async () => {
  const token = await sign(key, claims({ scope: 'read', jti: 'gone' }));
  const report = verifier.explain(token, { now: NOW });
  assert.equal(report.ok, false);
  assert.throws(() => verifier.verify(token, { now: NOW }), { code: report.code });
  assert.equal(report.code, 'revoked');
});
