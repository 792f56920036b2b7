// JwtError: the one error class of the package, carrying the core's stable code.

/** A token or policy was refused. `code` is one of the core's stable error codes. */
export class JwtError extends Error {
  /**
   * @param {string} code stable snake_case code, e.g. "expired"
   * @param {string} message human sentence from the core
   */
  constructor(code, message) {
    super(message);
    this.name = 'JwtError';
    this.code = code;
  }
}

/**
 * Runs a call into the wasm module. The module throws failures as a JSON string
 * `{"code","message"}`; those become JwtError. Anything else (a trap) is rethrown.
 */
export function call(fn) {
  try {
    return fn();
  } catch (e) {
    if (typeof e === 'string') {
      const { code, message } = JSON.parse(e);
      throw new JwtError(code, message);
    }
    throw e;
  }
}
