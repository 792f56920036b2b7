// The host crypto of `verifyAsync` where node:crypto is absent (browsers,
// workers; in Node on request): WebCrypto (`crypto.subtle`) checks RSA, ECDSA
// and, where the runtime has it, Ed25519 signatures for the core (HMAC stays in
// pure Rust: no secret is handed to this host). WebCrypto only answers asynchronously and the
// core's host seam is synchronous, so the answers are computed ahead of time
// (for the checks the core says it will ask: `signatureRequests`, and the
// self-test's probes) and the host's `verify` only looks them up during the
// synchronous verification that follows. A check without an answer returns
// `undefined`, and pure Rust decides. The core has already chosen the key and
// checked the alg and the signature's length and format (raw r || s for ECDSA,
// which is what WebCrypto takes).

const HASH = { 256: 'SHA-256', 384: 'SHA-384', 512: 'SHA-512' };
const HASH_BYTES = { 256: 32, 384: 48, 512: 64 };
const CURVE = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };
const PROBE = Symbol('probe');

/** WebCrypto's import and verify parameters for a JWS alg (RFC 7518 §3, RFC 8037), or undefined. */
function params(alg) {
  if (alg === 'EdDSA') return { key: { name: 'Ed25519' }, check: { name: 'Ed25519' } };
  const bits = alg.slice(2);
  const hash = HASH[bits];
  if (hash === undefined) return undefined;
  switch (alg.slice(0, 2)) {
    case 'RS':
      return { key: { name: 'RSASSA-PKCS1-v1_5', hash }, check: { name: 'RSASSA-PKCS1-v1_5' } };
    case 'PS':
      // The salt is exactly as long as the hash (RFC 7518 §3.5), as in the core.
      return { key: { name: 'RSA-PSS', hash }, check: { name: 'RSA-PSS', saltLength: HASH_BYTES[bits] } };
    case 'ES':
      return CURVE[alg] && { key: { name: 'ECDSA', namedCurve: CURVE[alg] }, check: { name: 'ECDSA', hash } };
    default:
      return undefined;
  }
}

/** Bytes as a string of char codes 0-255: a Map key, one-to-one. */
function binary(bytes) {
  let out = '';
  for (let i = 0; i < bytes.length; i += 0x2000) {
    out += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x2000));
  }
  return out;
}

/** The key of one check in an answer map (length-prefixed, so one-to-one). */
function answerKey(alg, handle, input, signature) {
  return `${alg} ${handle} ${input.length} ${binary(input)}${binary(signature)}`;
}

/**
 * A fresh WebCrypto host for one verifier: its own key table. `subtle` is a
 * SubtleCrypto (undefined: no answers, so the core's self-test fails and the
 * policy's `signature_verifier` decides between pure Rust and an error).
 */
export function webCryptoHost(subtle) {
  const spkis = []; // handle -> SPKI DER (a copy)
  const handles = new Map(); // SPKI DER (binary string) -> handle
  const cryptoKeys = new Map(); // "alg handle" -> Promise<CryptoKey>
  let answers; // during withAnswers() only: a Map, or PROBE during attempt()
  let asked = false; // during attempt(): whether the core asked for a check
  let ed25519 = false; // whether this runtime's WebCrypto has Ed25519 (detectEd25519)

  /** The CryptoKey for a handle and alg, imported once (the alg fixes the hash). */
  function cryptoKey(alg, handle, keyParams) {
    const id = `${alg} ${handle}`;
    let key = cryptoKeys.get(id);
    if (key === undefined) {
      key = subtle.importKey('spki', spkis[handle], keyParams, false, ['verify']);
      key.catch(() => {}); // awaited by each check; a refused key gets no answers
      cryptoKeys.set(id, key);
    }
    return key;
  }

  /** One check with WebCrypto: true, false, or undefined when it cannot answer. */
  async function check(alg, handle, input, signature) {
    const p = params(alg);
    if (p === undefined || spkis[handle] === undefined || typeof subtle?.verify !== 'function') return undefined;
    try {
      const valid = await subtle.verify(p.check, await cryptoKey(alg, handle, p.key), signature, input);
      return typeof valid === 'boolean' ? valid : undefined;
    } catch {
      return undefined;
    }
  }

  return {
    name: 'WebCrypto',

    /**
     * The core's seam: remembers the key (one handle per distinct key) and
     * returns its handle. An Ed25519 key gets none (pure Rust checks it)
     * unless detectEd25519() found Ed25519 in this runtime.
     */
    prepare(spkiDer, kind) {
      if (kind === 'OKP Ed25519' && !ed25519) return undefined;
      const id = binary(spkiDer);
      let handle = handles.get(id);
      if (handle === undefined) {
        handle = spkis.length;
        spkis.push(spkiDer.slice()); // a view of wasm memory: copy it
        handles.set(id, handle);
      }
      return handle;
    },

    /**
     * Finds out whether this runtime's WebCrypto verifies Ed25519 (Node >= 18.4,
     * workerd, recent browsers), by importing `spkiDer` (the self-test's
     * Ed25519 key); before the host is offered. The self-test then decides
     * whether its answers are right.
     */
    async detectEd25519(spkiDer) {
      try {
        await subtle.importKey('spki', spkiDer, { name: 'Ed25519' }, false, ['verify']);
        ed25519 = true;
      } catch {
        ed25519 = false;
      }
      return ed25519;
    },

    /** The core's seam: the answer computed ahead of time, or undefined (then pure Rust decides). */
    verify(alg, handle, input, signature) {
      if (answers === PROBE) {
        asked = true;
        return false; // like the core's recorder: every candidate key gets asked
      }
      return answers?.get(answerKey(alg, handle, input, signature));
    },

    /**
     * Answers checks ahead of time: `requests` is a list of
     * { alg, handle, input, signature } (bytes as Uint8Array). Returns a Map
     * for withAnswers(); checks WebCrypto could not answer are left out.
     */
    async answer(requests) {
      const out = new Map();
      await Promise.all(
        requests.map(async ({ alg, handle, input, signature }) => {
          const valid = await check(alg, handle, input, signature);
          if (valid !== undefined) out.set(answerKey(alg, handle, input, signature), valid);
        }),
      );
      return out;
    },

    /** Runs the synchronous `fn` with these answers visible to verify(), then forgets them. */
    withAnswers(map, fn) {
      answers = map;
      try {
        return fn();
      } finally {
        answers = undefined;
      }
    },

    /**
     * Runs the synchronous `fn` with a host that answers "no" to every check
     * and notes whether it was asked. When it was not, `fn`'s outcome is the
     * verdict (a cached token, a token refused before its signature, an
     * HMAC token, an EdDSA token without Ed25519 here: nothing for WebCrypto
     * to do). When it was, the outcome is to be thrown away: the core never
     * accepts a token after such a "no" (either every key of a kind has a
     * handle here or none has, so no other key of the token's alg can accept
     * it), so nothing was cached either.
     * Returns { asked, ok, value } or { asked, ok: false, error }.
     */
    attempt(fn) {
      answers = PROBE;
      asked = false;
      try {
        const value = fn();
        return { asked, ok: true, value };
      } catch (error) {
        return { asked, ok: false, error };
      } finally {
        answers = undefined;
        asked = false;
      }
    },

    check,
  };
}
