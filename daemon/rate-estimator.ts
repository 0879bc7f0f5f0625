// Events per second over a sliding window (copies a store admitted, copies started), for the start
// pacing (start-pacing.ts). Pure apart from the times the caller passes: no clock of its own.

export class RateEstimator {
  readonly #windowMs: number;
  readonly #since: number;
  /** Event times, oldest first; none older than the window once pruned. */
  readonly #times: number[] = [];

  /** `since`: when counting began (a window not yet full is divided by the time it covers). */
  constructor(windowMs: number, since: number) {
    if (!(windowMs > 0)) throw new Error(`rate window must be > 0 ms: ${windowMs}`);
    this.#windowMs = windowMs;
    this.#since = since;
  }

  add(now: number, count = 1): void {
    for (let i = 0; i < count; i++) this.#times.push(now);
    this.#prune(now);
  }

  /** Events per second over the last window (or the time since counting began, if shorter). */
  rate(now: number): number {
    this.#prune(now);
    const covered = Math.min(this.#windowMs, now - this.#since);
    return covered > 0 ? (this.#times.length / covered) * 1000 : 0;
  }

  /** True once counting has gone on for a whole window, so rate() is over the full window. */
  full(now: number): boolean {
    return now - this.#since >= this.#windowMs;
  }

  #prune(now: number): void {
    const oldest = now - this.#windowMs;
    let drop = 0;
    while (drop < this.#times.length && (this.#times[drop] as number) <= oldest) drop++;
    if (drop > 0) this.#times.splice(0, drop);
  }
}
