/**
 * Exponential backoff with jitter for a list+watch loop, as client-go's reflector does it
 * (wait.NewExponentialBackoffManager(800ms, 30s, 2min, 2.0, …)): each failure waits about twice as
 * long as the one before, up to a cap, and a failure long after the previous one starts over.
 * Hand-written (30 lines) rather than a dependency: it needs an injected clock and random source
 * for tests, and the reset rule of client-go, which the npm retry helpers do not have.
 */
export interface BackoffOptions {
  /** the first wait (ms); default 800 */
  initialMs?: number;
  /** the longest wait (ms); default 30 000 */
  maxMs?: number;
  /** each wait is this many times the one before; default 2 */
  factor?: number;
  /** each wait is shortened by up to this fraction, at random, so clients do not retry in step; default 0.25 */
  jitter?: number;
  /** a failure this long (ms) after the previous one starts again from initialMs (healthy meanwhile); default 120 000 */
  resetAfterMs?: number;
  now?: () => number;
  random?: () => number;
}

export class Backoff {
  readonly #o: Required<BackoffOptions>;
  #base: number;
  #last = Number.NEGATIVE_INFINITY;

  constructor(opts: BackoffOptions = {}) {
    this.#o = {
      initialMs: 800,
      maxMs: 30_000,
      factor: 2,
      jitter: 0.25,
      resetAfterMs: 120_000,
      now: Date.now,
      random: Math.random,
      ...opts,
    };
    this.#base = this.#o.initialMs;
  }

  /** How long to wait after this failure (ms); never less than `atLeastMs` (a server's Retry-After). */
  next(atLeastMs = 0): number {
    const now = this.#o.now();
    if (now - this.#last > this.#o.resetAfterMs) this.#base = this.#o.initialMs;
    this.#last = now;
    const wait = Math.round(this.#base * (1 - this.#o.jitter * this.#o.random()));
    this.#base = Math.min(this.#o.maxMs, this.#base * this.#o.factor);
    return Math.max(atLeastMs, wait);
  }
}
