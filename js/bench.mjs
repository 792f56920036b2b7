// Throughput of the package as users call it (verify, explain, decode, authorize),
// for the numbers in README.md. Run after ./build.sh:  node bench.mjs [seconds-per-case]
// Each case reports the best of 5 rounds, which is steadier on a shared machine.
import { createVerifier, decode } from 'jwtgate';
import { NOW, claims, keyFor, policyFor, sign } from './test/helpers.mjs';

const seconds = Number(process.argv[2] ?? 1);

function measure(name, fn) {
  for (let i = 0; i < 200; i++) fn(); // warm up
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    let n = 0;
    const start = process.hrtime.bigint();
    const end = start + BigInt(Math.round((seconds / 5) * 1e9));
    let now = start;
    while (now < end) {
      for (let i = 0; i < 20; i++) fn();
      n += 20;
      now = process.hrtime.bigint();
    }
    best = Math.min(best, Number(now - start) / 1e3 / n);
  }
  console.log(`${name.padEnd(30)} ${best.toFixed(1).padStart(8)} µs/op ${Math.round(1e6 / best).toString().padStart(8)} ops/s`);
}

const payload = claims({ scope: 'read write', roles: ['a', 'b'], email: 'user@example.com' });
const rules = { rules: [{ prefix: '/', requires: 'main' }] };
for (const alg of ['RS256', 'ES256', 'EdDSA', 'HS256']) {
  const key = await keyFor(alg);
  const token = await sign(key, payload);
  const verifier = createVerifier(policyFor([key], {}, rules));
  if (/^(RS|ES)/.test(alg)) {
    const rust = createVerifier(policyFor([key], {}, { ...rules, signature_verifier: 'rust' }));
    measure(`verify ${alg} (${verifier.signatureChecker})`, () => verifier.verify(token, { now: NOW }));
    measure(`verify ${alg} (${rust.signatureChecker})`, () => rust.verify(token, { now: NOW }));
  } else {
    measure(`verify ${alg} (pure Rust)`, () => verifier.verify(token, { now: NOW }));
  }
  if (alg === 'HS256') {
    measure('explain HS256', () => verifier.explain(token, { now: NOW }));
    measure('decode', () => decode(token, { now: NOW }));
    const headers = ['host', 'api.example', 'authorization', `Bearer ${token}`, 'accept', '*/*'];
    measure('authorize HS256 (middleware)', () => verifier.authorize({ method: 'GET', path: '/x', headers }, { now: NOW }));
  }
}
