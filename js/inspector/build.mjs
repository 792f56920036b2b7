#!/usr/bin/env node
// Builds the inspector into js/inspector/dist/ from the page's three files and
// the package's browser entry over the `jwtgate/full` module (js/src/,
// js/full/pkg/; run js/build.sh first, `make inspector` does): the page
// explains tokens synchronously, RS*/PS*/ES* too, which needs the pure-Rust
// RSA/ECDSA verifiers the default module leaves out. The module's bytes go into pkg/wasm-bytes.js
// as base64, so the page instantiates them without a fetch and its
// Content-Security-Policy can say connect-src 'none'.
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const JS = path.join(HERE, '..');
const DIST = path.join(HERE, 'dist');
const WASM = path.join(JS, 'full', 'pkg', 'jwtgate_bg.wasm');

if (!existsSync(WASM)) {
  console.error(`inspector: ${path.relative(process.cwd(), WASM)} is missing; run js/build.sh (or make inspector) first`);
  process.exit(1);
}
rmSync(DIST, { recursive: true, force: true });
mkdirSync(path.join(DIST, 'src'), { recursive: true });
mkdirSync(path.join(DIST, 'pkg'));
for (const file of ['index.html', 'inspector.js', 'inspector.css']) copyFileSync(path.join(HERE, file), path.join(DIST, file));
// The browser entry and what it imports; the Node-only files stay out.
for (const file of readdirSync(path.join(JS, 'src'))) {
  if (file.endsWith('.js') && !file.startsWith('node')) copyFileSync(path.join(JS, 'src', file), path.join(DIST, 'src', file));
}
copyFileSync(path.join(JS, 'full', 'pkg', 'jwtgate.js'), path.join(DIST, 'pkg', 'jwtgate.js'));
const wasm = readFileSync(WASM);
writeFileSync(
  path.join(DIST, 'pkg', 'wasm-bytes.js'),
  `// jwtgate_bg.wasm (${wasm.length} bytes) as base64: instantiated without a fetch.\nexport default '${wasm.toString('base64')}';\n`,
);
let total = 0;
const walk = (dir) => readdirSync(dir).forEach((f) => (statSync(path.join(dir, f)).isDirectory() ? walk(path.join(dir, f)) : (total += statSync(path.join(dir, f)).size)));
walk(DIST);
console.log(`inspector: ${path.relative(process.cwd(), DIST)}/ (${total} bytes; open index.html from a static server)`);
