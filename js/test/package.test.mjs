// The package as published: the exports map picks the right entry point per
// condition, and `npm pack` ships the module, the glue and the types.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('..', import.meta.url));
const resolveWith = (conditions) =>
  execFileSync(process.execPath, [...conditions.flatMap((c) => ['-C', c]), '--input-type=module', '-e', "console.log(import.meta.resolve('jwtgate'))"], {
    cwd: dir,
    encoding: 'utf8',
  }).trim();

test('exports: Node resolves the package to the synchronous entry point', () => {
  assert.match(resolveWith([]), /\/src\/node\.js$/);
  // Even with the browser condition on, Node matches "node" first.
  assert.match(resolveWith(['browser']), /\/src\/node\.js$/);
});

test('exports: bundlers for the web (no node condition) get the init() entry point', () => {
  const { exports } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  const root = exports['.'];
  assert.deepEqual(Object.keys(root), ['types', 'node', 'browser', 'default'], 'types first, default last');
  assert.equal(root.browser, './src/browser.js');
  assert.equal(root.default, './src/browser.js');
  // jwtgate/full: the same entry points over the module with the pure-Rust RSA/ECDSA.
  assert.deepEqual(exports['./full'], { types: './index.d.ts', node: './full/src/node.js', browser: './full/src/browser.js', default: './full/src/browser.js' });
});

test('npm pack ships the module, the glue, the types and the CLI, and no tests', () => {
  const [info] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8' }));
  const files = info.files.map((f) => f.path).sort();
  for (const f of ['pkg/jwtgate_bg.wasm', 'pkg/jwtgate_node_bg.wasm', 'pkg/jwtgate.js', 'src/node.js', 'src/browser.js', 'full/pkg/jwtgate_bg.wasm', 'full/pkg/jwtgate.js', 'full/src/node.js', 'full/src/browser.js', 'full/src/api.js', 'index.d.ts', 'bin/jwtgate.mjs', 'README.md']) {
    assert.ok(files.includes(f), `${f} is packed`);
  }
  assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('node_modules/')), files.join(' '));
});
