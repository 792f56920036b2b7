// The Node entry point loads `pkg/jwtgate_node_bg.wasm`: the default module's
// sources and features built for speed (js/build.sh, cargo profile
// release-js-node), while browsers and workers load `pkg/jwtgate_bg.wasm`, built
// for size. Both run under the same glue. The same code with other compiler
// settings must give the same answers: here the two modules side by side in one
// process (the glue imported twice) decode, explain and verify every token of
// the attack suite (tests/fixtures/tokens, minted by PyJWT) and of the shared
// vectors (tests/vectors, minted by jose), with node:crypto as the host of
// both, and must answer the same text, byte for byte; the attack suite's
// expected verdicts are checked on the Node module by attack-suite.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { readFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { nodeCrypto } from '../src/node-crypto.js';

const bytes = (path) => readFileSync(new URL(path, import.meta.url));
const json = (path) => JSON.parse(bytes(path));

const FILES = { size: '../pkg/jwtgate_bg.wasm', speed: '../pkg/jwtgate_node_bg.wasm' };
const modules = {};
for (const [build, file] of Object.entries(FILES)) {
  const glue = await import(`../pkg/jwtgate.js?${build}`);
  glue.initSync({ module: bytes(file) });
  modules[build] = glue;
}

/** What a call answered: its text, or what it threw (the core's {"code","message"}). */
function outcome(f) {
  try {
    return `ok ${f()}`;
  } catch (e) {
    if (typeof e !== 'string') throw e; // a trap or a bug in the glue: never an answer
    return `thrown ${e}`;
  }
}

test('the Node entry point loads the module built for speed; jwtgate/full has one module', async () => {
  const read = [];
  const original = fs.readFileSync;
  fs.readFileSync = (path, ...rest) => {
    read.push(String(path));
    return original(path, ...rest);
  };
  syncBuiltinESMExports();
  try {
    await import('../src/node.js');
    await import('../full/src/node.js');
  } finally {
    fs.readFileSync = original;
    syncBuiltinESMExports();
  }
  const wasm = read.filter((p) => p.endsWith('.wasm'));
  assert.equal(wasm.length, 2, wasm.join(' '));
  assert.match(wasm[0], /\/js\/pkg\/jwtgate_node_bg\.wasm$/);
  assert.match(wasm[1], /\/js\/full\/pkg\/jwtgate_bg\.wasm$/);
  // Two builds, not one file twice.
  assert.notDeepEqual(bytes(FILES.size), bytes(FILES.speed));
});

const suites = [
  ['attack suite', json('../../tests/fixtures/tokens/policy.json'), json('../../tests/fixtures/tokens/cases.json').cases],
  ['shared vectors', ...(({ policy, cases, now }) => [policy, cases.map((c) => ({ ...c, now }))])(json('../../tests/vectors/verdicts.json'))],
];

for (const [name, policy, cases] of suites) {
  test(`${name}: the module built for size and the one built for speed answer the same, byte for byte`, () => {
    const verifiers = Object.fromEntries(
      Object.entries(modules).map(([build, m]) => [build, new m.JsVerifier(JSON.stringify(policy), nodeCrypto())]),
    );
    assert.ok(cases.length >= 20, `${cases.length} cases`);
    const answers = { size: [], speed: [] };
    for (const build of Object.keys(modules)) {
      const m = modules[build];
      const verifier = verifiers[build];
      for (const c of cases) {
        answers[build].push([
          c.name,
          outcome(() => m.decode(c.token, c.now)),
          outcome(() => verifier.explain(c.token, c.now, c.path)),
          outcome(() => verifier.verify(c.token, c.now, c.path)),
        ]);
      }
    }
    assert.deepEqual(answers.speed, answers.size);
    // Not vacuous: the suite has accepted and refused tokens, and node:crypto took the signatures.
    const verdicts = answers.speed.map(([, , , verified]) => verified.split(' ')[0]);
    assert.ok(verdicts.includes('ok') && verdicts.includes('thrown'), verdicts.join(' '));
    assert.equal(verifiers.speed.signatureChecker, 'node:crypto');
  });
}
