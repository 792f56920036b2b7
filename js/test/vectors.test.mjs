// "One core, one answer": the shared vectors (tests/vectors/verdicts.json) that
// the Rust tests check too. Tokens by jose, verdicts written by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createVerifier } from 'jwtgate';

const vectors = JSON.parse(readFileSync(new URL('../../tests/vectors/verdicts.json', import.meta.url), 'utf8'));
const verifier = createVerifier(vectors.policy);

test('the vectors cover accepted and refused tokens', () => {
  assert.ok(vectors.cases.length >= 20);
  assert.ok(vectors.cases.some((c) => c.expect === 'ok'));
  assert.ok(vectors.cases.some((c) => c.expect !== 'ok'));
});

for (const c of vectors.cases) {
  test(`vector: ${c.name} -> ${c.expect}`, () => {
    const options = { now: vectors.now, path: c.path };
    const report = verifier.explain(c.token, options);
    if (c.expect === 'ok') {
      assert.equal(verifier.verify(c.token, options).provider, c.provider);
      assert.equal(report.ok, true);
      assert.equal(report.provider, c.provider);
    } else {
      assert.throws(() => verifier.verify(c.token, options), { name: 'JwtError', code: c.expect });
      assert.equal(report.code, c.expect);
    }
  });
}
