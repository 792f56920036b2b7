// Remote keys for the npm package: performs the HTTP requests the core's key
// sources ask for (src/keys.rs) with the platform's `fetch`. No timing, backoff
// or parsing here: what to fetch and when, and what a response means, is the core's.

/** Reads at most `limit` bytes of a response body; `null` when it is longer. */
async function readCapped(response, limit) {
  const length = Number(response.headers.get('content-length'));
  if (Number.isFinite(length) && length > limit) {
    await response.body?.cancel();
    return null;
  }
  if (!response.body) return new Uint8Array(await response.arrayBuffer());
  const chunks = [];
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

/** The longest delay `setTimeout` takes (a longer one fires at once). */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * Drives the key sources of one core verifier (`inner`, a JsVerifier).
 * `options.fetch`: the fetch function (default `globalThis.fetch`);
 * `options.clock`: Unix seconds now (default the system clock);
 * `options.onKeyEvent`: called with `{ provider, event, ... }` for every result
 * (the core's event: `keys_changed` with added/removed kids, `failed` with its kind, ...);
 * `options.backgroundRefresh`: fetch on a timer set from the core's `nextKeyWake`
 * (`true`), or only when a call finds a fetch due (`false`). Default: on where
 * timers can be `unref()`'d (Node, Bun), so the timer never keeps a process
 * alive; off elsewhere (browsers, workers). `close()` stops it.
 */
export class KeyRefresher {
  #inner;
  #fetch;
  #clock;
  #onEvent;
  #running = null;
  /** `true`, `false`, or `undefined`: on if the platform's timers can be unref'd. */
  #background;
  #timer;

  constructor(inner, options = {}) {
    this.#inner = inner;
    this.#fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    this.#clock = options.clock ?? (() => Date.now() / 1000);
    this.#onEvent = options.onKeyEvent;
    if (typeof this.#fetch !== 'function') {
      throw new TypeError('jwtgate: remote keys need a `fetch` function (none on this platform; pass options.fetch)');
    }
    const background = options.backgroundRefresh;
    if (background !== undefined && typeof background !== 'boolean') {
      throw new TypeError('jwtgate: `backgroundRefresh` must be true or false');
    }
    this.#background = background;
    this.#plan();
  }

  /** Stops the background timer; fetches then happen only when a call finds one due. */
  close() {
    this.#background = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * Sets the background timer to the core's next wake. The timer holds the
   * refresher only weakly, so a verifier nobody uses any more can be collected.
   */
  #plan() {
    if (this.#background === false) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const wake = this.#inner.nextKeyWake();
    if (wake === undefined) return;
    // Whole seconds: wake at the start of the second the core named (+10 ms:
    // timers may fire a little early), at once if it is past.
    const delay = Math.min(Math.max(0, (wake - this.#clock()) * 1000) + 10, MAX_DELAY_MS);
    const self = new WeakRef(this);
    let timer;
    try {
      timer = setTimeout(() => self.deref()?.refresh(), delay);
    } catch {
      // workerd refuses timers outside a request (a verifier built at global scope).
      this.#background = false;
      return;
    }
    if (typeof timer?.unref === 'function') {
      timer.unref();
    } else if (this.#background !== true) {
      // Not asked for, and it would keep this runtime busy: no timer here.
      clearTimeout(timer);
      this.#background = false;
      return;
    }
    this.#timer = timer;
  }

  /** Unix seconds, whole, from the clock. */
  now() {
    return Math.floor(this.#clock());
  }

  /** Starts the fetches that are due, unless some are running; never throws. */
  kick() {
    const wake = this.#inner.nextKeyWake();
    if (this.#running === null && wake !== undefined && wake <= this.now()) this.refresh();
  }

  /**
   * Performs every fetch due now (and those they make due, such as the JWKS
   * after a discovery document); resolves when all have landed or failed.
   */
  refresh() {
    if (this.#running !== null) return this.#running;
    const due = JSON.parse(this.#inner.dueFetches(this.now()));
    if (due.length === 0) {
      // Every fetch has landed or failed: the next wake is known now.
      this.#plan();
      return Promise.resolve();
    }
    this.#running = Promise.all(due.map((fetch) => this.#perform(fetch))).then(() => {
      this.#running = null;
      return this.refresh();
    });
    return this.#running;
  }

  /** Resolves once the first fetches have landed or failed (each is bounded by its timeout). */
  async ready() {
    if (this.#inner.firstFetchPending(this.now()) !== undefined) await this.refresh();
  }

  /** The key sources and their counters: `[{ provider, state, fetched_at, keys, stats, ... }]`. */
  status() {
    return JSON.parse(this.#inner.keySources(this.now()));
  }

  // Per-request mode (edge workers, where I/O belongs to the request that
  // started it and a promise shared with another request hangs): the caller
  // takes the due fetches and performs them itself (js/src/edge-keys.js);
  // nothing here keeps a promise.

  /** Takes the fetches due now: each is in flight until `perform` reports it or `claimLease` leaves it to another instance. */
  takeDue() {
    return JSON.parse(this.#inner.dueFetches(this.now()));
  }

  /** Performs one fetch from `takeDue` and reports it; resolves to the core's event (never rejects). */
  perform(fetch) {
    return this.#perform(fetch);
  }

  /**
   * Claims `provider`'s fetch lease for a fetch from `takeDue`, given the lease
   * text the shared store holds (or null): `{ text, until }` to store, then
   * perform the fetch; undefined when another instance holds it (the core has
   * left the fetch to it).
   */
  claimLease(provider, stored, holder) {
    const lease = this.#inner.claimFetchLease(provider, stored ?? undefined, holder, this.now());
    return lease === undefined ? undefined : JSON.parse(lease);
  }

  /** What `holder` stores after its fetch for `provider`: `{ text, until }`, `{ release: true }`, or undefined (keep). */
  leaseAfter(provider, holder) {
    const update = this.#inner.fetchLeaseAfter(provider, holder);
    return update === undefined ? undefined : JSON.parse(update);
  }

  /** `provider`'s last good fetch as the core's snapshot (JSON text), or undefined. */
  snapshot(provider) {
    return this.#inner.keySnapshot(provider);
  }

  /** Takes the keys another instance fetched (a `snapshot` it shared); returns the core's event. */
  adopt(provider, snapshot) {
    const event = JSON.parse(this.#inner.adoptKeys(provider, this.now(), snapshot));
    if (event.event === 'keys_changed') this.#report(provider, event);
    return event;
  }

  /** Changes whenever the verifier's keys may have changed (a fetch, a failure, an adopted snapshot). */
  generation() {
    return this.#inner.generation;
  }

  /** Whether a fetch is due now (or an unknown kid waits to be looked at). */
  due() {
    const wake = this.#inner.nextKeyWake();
    return wake !== undefined && wake <= this.now();
  }

  /**
   * Until when (Unix seconds) a request refused with `code` may wait for keys
   * being fetched (a pending first fetch, or a kid-miss refetch: the core's
   * keyWait), or undefined: answer it now.
   */
  keyWait(code) {
    return this.#inner.keyWait(code, this.now());
  }

  /** Until when (Unix seconds) a request may wait for a pending first fetch, or undefined. */
  firstFetchPending() {
    return this.#inner.firstFetchPending(this.now());
  }

  #report(provider, event) {
    try {
      this.#onEvent?.({ provider, ...event });
    } catch {
      // A failing listener must not stop key refreshes.
    }
  }

  async #perform(fetch) {
    let event;
    try {
      const response = await this.#fetch(fetch.url, {
        redirect: 'manual',
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(fetch.timeout_seconds * 1000),
      });
      if (response.type === 'opaqueredirect') {
        // Browsers hide a redirect's status and headers.
        event = this.#inner.keyFetchFailed(fetch.provider, this.now(), 'redirect', 'a redirect (not followed)');
      } else {
        const body = await readCapped(response, fetch.max_bytes);
        if (body === null) {
          event = this.#inner.keyFetchFailed(fetch.provider, this.now(), 'too_large', `the body is over ${fetch.max_bytes} bytes`);
        } else {
          const headers = [];
          response.headers.forEach((value, name) => headers.push(name, value));
          event = this.#inner.keyFetched(fetch.provider, this.now(), response.status, headers, body);
        }
      }
    } catch (error) {
      const kind = error?.name === 'TimeoutError' ? 'timeout' : 'network';
      event = this.#inner.keyFetchFailed(fetch.provider, this.now(), kind, String(error?.cause?.message ?? error?.message ?? error));
    }
    const parsed = JSON.parse(event);
    this.#report(fetch.provider, parsed);
    return parsed;
  }
}
