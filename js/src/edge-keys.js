// Remote keys at the edge (createGuard): the core's key sources (src/keys.rs)
// driven per request, and shared between isolates through the Cache API.
//
// Edge runtimes tie I/O to the request that started it: a fetch promise that
// a second request awaits hangs there (Cloudflare refuses I/O across
// requests). So nothing here keeps a promise: each request that must wait
// for keys (a first fetch, or the kid-miss refetch its unknown kid started)
// awaits only fetches it started itself, and polls the core's state while
// another request's or isolate's fetch lands; a due refresh runs after the
// answer (the caller's `waitUntil`).
//
// Across isolates (Cloudflare starts as many as the load needs), the Cache
// API holds, per provider, what Envoy's workers share through shared data
// (src/envoy/keys.rs), with the core's own calls:
//   .../snapshot  the last good fetch as the core's Snapshot (fetched_at,
//                 next_at, the JWK set as fetched): an isolate whose fetch is
//                 due adopts a newer one instead of fetching (keys and
//                 schedule; the keys' age counts from the original fetch,
//                 so max_stale_seconds holds whoever fetched);
//   .../lease     the core's fetch lease (src/lease.rs): the isolate about to
//                 fetch claims it, the others leave the fetch to it and adopt
//                 its result. Kept until the retry after a failure, saying
//                 how it failed, so the backoff holds for every isolate and
//                 one waiting for its first keys stops waiting.
// The Cache API has no compare-and-swap: a lease is written, then read back
// (the last writer fetches), so two isolates deciding within the same few
// milliseconds may both fetch. Without a cache (workerd with no
// cacheApiOutbound, Node) each isolate keeps its keys in memory only.
// Timing, backoff, cooldowns, leases, parsing and staleness are the core's.

import { newerKeysMayAnswer } from '../pkg/jwtgate.js';

/** Cache keys live under a host that is no zone's, so no client request reaches them. */
const CACHE_BASE = 'https://jwtgate-keys.invalid/v1/';
/** How often a request waiting for keys another request or isolate fetches looks again, in ms. */
const POLL_MS = 100;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** The per-request key fetching of one verifier (its KeyRefresher, from keysByCaller). */
export class EdgeKeys {
  #keys;
  #cache;
  #holder = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  /** provider -> its cache URLs. */
  #entries = new Map();

  /** `keys`: the KeyRefresher; `cache`: a Cache (`caches.default`) or null. */
  constructor(keys, cache) {
    this.#keys = keys;
    this.#cache = cache ?? null;
    for (const source of keys.status()) {
      // The source's identity: two policies share an entry only for the same provider and URL.
      const id = [source.provider, source.uri ?? `discovery ${source.discovery}`].map(encodeURIComponent).join('/');
      this.#entries.set(source.provider, { snapshot: `${CACHE_BASE}${id}/snapshot`, lease: `${CACHE_BASE}${id}/lease` });
    }
  }

  /**
   * Before a request is decided: waits (on its own I/O) for a pending first
   * fetch, at most until the core's bound for it; otherwise hands a due
   * refresh to `background` and returns at once.
   */
  async beforeDecision(background) {
    if (this.#keys.firstFetchPending() === undefined) {
      if (this.#keys.due()) background(this.update());
      return;
    }
    await this.#waitWhile(() => this.#keys.firstFetchPending());
  }

  /**
   * Performs the fetches due (or adopts what other isolates publish) on this
   * request's own I/O, looking again every POLL_MS, while `pending()` (the
   * core's bound: a Unix second, or undefined) says keys are coming, and no
   * longer than the bound it gave first.
   */
  async #waitWhile(pending) {
    const deadline = pending();
    for (;;) {
      await this.update();
      if (pending() === undefined || this.#keys.now() > deadline) return;
      await sleep(POLL_MS);
    }
  }

  /**
   * After a refusal that keys other isolates fetched may answer: for want of
   * keys (`jwks_unavailable`, after an outage), or for a kid this isolate's
   * keys lack (`unknown_kid`, mid-rotation, when another isolate's kid-miss
   * refetch already has it: the core's rule, newerKeysMayAnswer). Takes what
   * they published since (the Cache API), since this isolate's own next fetch
   * may be a cooldown away. True when the
   * caller should decide again: this verifier's keys changed since
   * `generation` (taken before the decision), here or in a background update
   * of this isolate meanwhile. A flood of random kids costs one cache read
   * each and no second decision. The Envoy filter does the same
   * (src/envoy/http.rs).
   */
  async adoptAfter(decision, generation) {
    if (decision.allow || !newerKeysMayAnswer(decision.code)) return false;
    await this.#adoptShared();
    return this.#keys.generation() !== generation;
  }

  /**
   * After a refusal that keys being fetched may answer (the core's keyWait:
   * the kid-miss refetch this request's unknown kid asked for, or one under
   * way; or a pending first fetch): performs the fetches due on this
   * request's own I/O, or, while another isolate holds the fetch lease,
   * adopts what it publishes, at most until the core's bound (the fetch's
   * timeout), as jose's createRemoteJWKSet waits for its refetch. True when
   * the caller should decide again: this verifier's keys changed since
   * `generation` (taken before the decision).
   */
  async waitAfter(decision, generation) {
    if (decision.allow || this.#keys.keyWait(decision.code) === undefined) return false;
    await this.#waitWhile(() => this.#keys.keyWait(decision.code));
    return this.#keys.generation() !== generation;
  }

  /** Changes whenever the verifier's keys may have changed (see adoptAfter). */
  generation() {
    return this.#keys.generation();
  }

  /**
   * After a refusal: what the core still has due (an unknown kid it noted
   * but asked no refetch for, within the cooldown: it remembers the kid)
   * runs in the background.
   */
  afterDecision(decision, background) {
    if (!decision.allow && this.#keys.due()) background(this.update());
  }

  /**
   * Adopts what other isolates fetched, then performs the fetches still due
   * (and those they make due: the JWKS after discovery). Never rejects.
   */
  async update() {
    await this.#adoptShared();
    for (let due = this.#keys.takeDue(); due.length > 0; due = this.#keys.takeDue()) {
      await Promise.all(due.map((fetch) => this.#fetch(fetch)));
    }
  }

  /** Adopts every provider's snapshot other isolates stored (the core ignores one it already has). */
  async #adoptShared() {
    for (const [provider, entry] of this.#entries) {
      const shared = await this.#read(entry.snapshot);
      if (shared === null) continue;
      try {
        this.#keys.adopt(provider, shared);
      } catch {
        // Not a snapshot (another version wrote it): ignored, and overwritten by our next fetch.
      }
    }
  }

  /** One fetch the core asked for: performed here if this isolate gets the lease, else left to its holder. */
  async #fetch(fetch) {
    const entry = this.#entries.get(fetch.provider);
    if (!(await this.#claim(entry, fetch.provider))) return;
    const event = await this.#keys.perform(fetch);
    if (event.event === 'keys_changed' || event.event === 'keys_unchanged') {
      const snapshot = this.#keys.snapshot(fetch.provider);
      const source = this.#keys.status().find((s) => s.provider === fetch.provider);
      if (snapshot !== undefined && source?.valid_until != null) {
        await this.#write(entry.snapshot, snapshot, source.valid_until - this.#keys.now());
      }
    }
    const update = this.#keys.leaseAfter(fetch.provider, this.#holder);
    if (update?.release) await this.#delete(entry.lease);
    else if (update !== undefined) await this.#write(entry.lease, update.text, update.until - this.#keys.now());
  }

  /**
   * Claims the provider's lease (the core's protocol, src/lease.rs): true when
   * this isolate fetches; false when another holds the lease and the core has
   * left the fetch to it.
   */
  async #claim(entry, provider) {
    const lease = this.#keys.claimLease(provider, await this.#read(entry.lease), this.#holder);
    if (lease === undefined) return false;
    if (this.#cache === null) return true;
    await this.#write(entry.lease, lease.text, lease.until - this.#keys.now());
    // No compare-and-swap: whoever wrote last holds it.
    return this.#keys.claimLease(provider, await this.#read(entry.lease), this.#holder) !== undefined;
  }

  /** The text of a cache entry, or null (absent, expired, or no cache). */
  async #read(url) {
    if (this.#cache === null) return null;
    try {
      const response = await this.#cache.match(url);
      return response ? await response.text() : null;
    } catch {
      return null; // e.g. workerd without cacheApiOutbound: memory only
    }
  }

  /** Stores `text` for `seconds` (at least 1). */
  async #write(url, text, seconds) {
    if (this.#cache === null) return;
    const headers = { 'content-type': 'text/plain', 'cache-control': `max-age=${Math.max(1, Math.ceil(seconds))}` };
    try {
      await this.#cache.put(url, new Response(text, { headers }));
    } catch {
      // Sharing is an optimisation: this isolate's keys are in use either way.
    }
  }

  async #delete(url) {
    if (this.#cache === null) return;
    try {
      await this.#cache.delete(url);
    } catch {
      // As for #write.
    }
  }
}
