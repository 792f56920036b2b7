// The host crypto of the Node entry point: node:crypto (OpenSSL) checks RSA and
// ECDSA signatures for the core, which is several times faster than pure Rust in
// wasm. The core has already chosen the key, checked the alg and the signature's
// length and format; it self-tests this object before trusting it (src/host.rs),
// and any answer other than true/false falls back to pure Rust.
import { constants, createPublicKey, verify } from 'node:crypto';

const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };
const HASH_BYTES = { 256: 32, 384: 48, 512: 64 };

/** Signing options per JWS alg (RFC 7518 §3): ECDSA signatures are raw r || s. */
function options(alg, key) {
  const bits = alg.slice(2);
  switch (alg.slice(0, 2)) {
    case 'RS':
      return { key, padding: constants.RSA_PKCS1_PADDING };
    case 'PS':
      // The salt is exactly as long as the hash (RFC 7518 §3.5), as in the core.
      return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_BYTES[bits] };
    case 'ES':
      return { key, dsaEncoding: 'ieee-p1363' };
    default:
      return undefined;
  }
}

/** A fresh host for one verifier: its own key table. */
export function nodeCrypto() {
  const keys = [];
  return {
    prepare(spkiDer) {
      try {
        keys.push(createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' }));
        return keys.length - 1;
      } catch {
        return undefined; // pure Rust verifies this key's signatures
      }
    },
    verify(alg, handle, signingInput, signature) {
      const key = keys[handle];
      const opts = key && options(alg, key);
      if (!opts) return undefined;
      try {
        return verify(HASH[alg.slice(2)], signingInput, opts, signature);
      } catch {
        return undefined;
      }
    },
  };
}
