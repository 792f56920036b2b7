// The host crypto of the Node entry point: node:crypto (OpenSSL) checks RSA,
// ECDSA and Ed25519 signatures for the core, which is several times faster
// than pure Rust in wasm. Not HMAC: with its keyed state made once per key,
// pure Rust in wasm is faster than a call out to createHmac (src/js.rs,
// JsHost::handles), so the core gives no host a secret. The core has already
// chosen the key (from the policy, never from the token), checked that it fits
// the alg and the signature's length and format; it self-tests this object
// with known-answer vectors before trusting it (src/host.rs), and any answer
// other than true/false falls back to pure Rust. Each handle remembers what
// kind of key it is, and `verify` answers only for the algorithms of that kind.
import { constants, createPublicKey, verify } from 'node:crypto';

const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };
const HASH_BYTES = { 256: 32, 384: 48, 512: 64 };
/** The node:crypto key type (`asymmetricKeyType`) each alg family needs. */
const KEY_TYPE = { RS: 'rsa', PS: 'rsa', ES: 'ec', Ed: 'ed25519' };

/** A fresh host for one verifier: its own key table. */
export function nodeCrypto() {
  const keys = []; // handle -> { key: KeyObject, type, options? }
  const add = (key, type) => {
    keys.push({ key, type, options: type === 'ec' ? { key, dsaEncoding: 'ieee-p1363' } : undefined });
    return keys.length - 1;
  };
  return {
    /** A public key (DER SubjectPublicKeyInfo: RSA, EC, Ed25519). */
    prepare(spkiDer) {
      try {
        const key = createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
        return add(key, key.asymmetricKeyType);
      } catch {
        return undefined; // pure Rust verifies this key's signatures
      }
    },
    verify(alg, handle, signingInput, signature) {
      const entry = keys[handle];
      const family = alg.slice(0, 2);
      if (entry === undefined || KEY_TYPE[family] !== entry.type) return undefined;
      const bits = alg.slice(2);
      try {
        switch (family) {
          case 'Ed':
            return alg === 'EdDSA' ? verify(null, signingInput, entry.key, signature) : undefined;
          case 'RS':
            return verify(HASH[bits], signingInput, { key: entry.key, padding: constants.RSA_PKCS1_PADDING }, signature);
          case 'PS':
            // The salt is exactly as long as the hash (RFC 7518 §3.5), as in the core.
            return verify(HASH[bits], signingInput, {
              key: entry.key,
              padding: constants.RSA_PKCS1_PSS_PADDING,
              saltLength: HASH_BYTES[bits],
            }, signature);
          case 'ES':
            // JWS ECDSA signatures are raw r || s.
            return verify(HASH[bits], signingInput, entry.options, signature);
          default:
            return undefined;
        }
      } catch {
        return undefined;
      }
    },
  };
}
