// The adaptive limit of copies in flight at one store, shared by every copy path of the worker (the
// rclone children and the SDK): copies take a slot before they start and give it back when they end,
// saying whether the store throttled them. Every `intervalMs` the limit is decided again from what
// the interval saw (aimd.ts). Copy attempts are paced too, first attempts and those retried in their
// slot alike: at a rate learned from what the store admitted and refused over a sliding window
// (start-pacing.ts, rate-estimator.ts), and at most at an optional hard cap.
import { CopyError } from '../shared/errors.ts';
import { nextLimit, type AimdParams, type IntervalSeen } from './aimd.ts';
import { RateEstimator } from './rate-estimator.ts';
import { nextPacing, UNPACED, type Pacing, type PacingParams } from './start-pacing.ts';

export type Store = 'source' | 'destination';

export type LimiterOptions = {
  store: Store;
  params: AimdParams;
  /** How often the limit is decided again. */
  intervalMs: number;
  /** Copy starts per second at most (0: no cap), a token bucket of one second. */
  startsPerSecond?: number;
  /** Learn a start rate from the store's refusals (absent: only the cap paces starts). */
  pacing?: PacingParams;
  /** The sliding window the start and admitted rates are measured over. */
  windowMs?: number;
  /** Milliseconds, monotonic; tests pass a fake clock. */
  now?: () => number;
  /** Told every new limit (the gauge). */
  onLimit?: (store: Store, limit: number) => void;
  /** Told every new start rate in force, 0 when starts are not paced (the gauge). */
  onStartRate?: (store: Store, startsPerSecond: number) => void;
  /** Told every throttled attempt (the counter). */
  onThrottled?: (store: Store) => void;
};

/** A learned start rate's bucket holds this many seconds' worth: starts come evenly, not in bursts. */
const PACED_BURST_SECONDS = 0.1;

type Waiter = {
  /** A copy waiting for a slot and a start token, or a retry (holding its slot) for a token only. */
  kind: 'slot' | 'token';
  resolve: () => void;
  reject: (err: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
};

export class CopyLimiter {
  readonly store: Store;
  readonly #options: LimiterOptions;
  readonly #now: () => number;
  readonly #waiters: Waiter[] = [];
  #limit: number;
  #inFlight = 0;
  #intervalStart: number;
  #seen: IntervalSeen = { answered: 0, throttled: 0, saturated: false };
  #tokens: number;
  #tokensAt: number;
  #tokenTimer: NodeJS.Timeout | undefined;
  #pacing: Pacing = UNPACED;
  readonly #admitted: RateEstimator;
  readonly #refused: RateEstimator;
  readonly #windowIntervals: number;
  /** A start waited for a token (not a slot) since the last decision. */
  #waitedForRate = false;

  constructor(options: LimiterOptions) {
    this.store = options.store;
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#limit = options.params.max;
    this.#intervalStart = this.#now();
    this.#tokens = this.#burst();
    this.#tokensAt = this.#intervalStart;
    const windowMs = options.windowMs ?? 4 * options.intervalMs;
    this.#admitted = new RateEstimator(windowMs, this.#intervalStart);
    this.#refused = new RateEstimator(windowMs, this.#intervalStart);
    this.#windowIntervals = Math.max(1, Math.round(windowMs / options.intervalMs));
    options.onLimit?.(this.store, this.#limit);
    options.onStartRate?.(this.store, this.#rateOrZero());
  }

  /** Copy starts per second in force now (the cap or the learned rate, the lower); Infinity: not paced. */
  get startRate(): number {
    const cap = this.#options.startsPerSecond ?? 0;
    return Math.min(cap > 0 ? cap : Number.POSITIVE_INFINITY, this.#pacing.rate);
  }

  /** The current limit of copies in flight (a real number; floor(limit) copies run at once). */
  get limit(): number {
    return this.#limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Waits (FIFO) for a slot under the limit. Rejects with CopyError('aborted') when the signal fires. */
  acquire(signal?: AbortSignal): Promise<void> {
    return this.#wait('slot', signal);
  }

  /**
   * Waits for the start rate to allow another attempt of a copy that holds its slot: ahead of copies
   * waiting for a slot (FIFO among retries), since those may be waiting for this very slot.
   */
  pace(signal?: AbortSignal): Promise<void> {
    return this.#wait('token', signal);
  }

  #wait(kind: Waiter['kind'], signal: AbortSignal | undefined): Promise<void> {
    this.#tick();
    if (signal?.aborted) return Promise.reject(abortedError());
    const ahead = kind === 'slot' ? this.#waiters.length : this.#waiters.filter((w) => w.kind === 'token').length;
    if (ahead === 0 && this.#room(kind)) {
      this.#take(kind);
      return Promise.resolve();
    }
    if (kind === 'slot') this.#seen.saturated = true;
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        kind,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(abortedError());
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiters.splice(ahead, 0, waiter);
      this.#pump();
    });
  }

  /** Gives a slot back; `throttled` when the store refused the attempt with SlowDown, 503 or 429. */
  release(outcome: 'answered' | 'throttled'): void {
    this.#inFlight--;
    this.note(outcome);
    this.#pump();
  }

  /** Counts an attempt's outcome without giving its slot back (a throttled copy waits in its slot). */
  note(outcome: 'answered' | 'throttled'): void {
    if (outcome === 'throttled') {
      this.#seen.throttled++;
      this.#refused.add(this.#now());
      this.#options.onThrottled?.(this.store);
    } else {
      this.#seen.answered++;
      this.#admitted.add(this.#now());
    }
    this.#tick();
  }

  /** Stops the start-rate timer; waiting copies are refused. */
  close(): void {
    clearTimeout(this.#tokenTimer);
    for (const waiter of this.#waiters.splice(0)) {
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.reject(abortedError());
    }
  }

  #room(kind: Waiter['kind']): boolean {
    if (kind === 'slot' && this.#inFlight >= Math.max(1, Math.floor(this.#limit))) return false;
    if (this.#refill()) return true;
    this.#waitedForRate = true;
    return false;
  }

  /** The hard cap's bucket holds one second's worth; a learned rate's a tenth of that. */
  #burst(): number {
    const rate = this.startRate;
    if (!Number.isFinite(rate)) return 1;
    return Math.max(1, rate === this.#pacing.rate ? rate * PACED_BURST_SECONDS : rate);
  }

  /** True when the start rate in force (if any) has a token; tokens refill continuously. */
  #refill(): boolean {
    const rate = this.startRate;
    if (!Number.isFinite(rate)) return true;
    const now = this.#now();
    this.#tokens = Math.min(this.#burst(), this.#tokens + ((now - this.#tokensAt) / 1000) * rate);
    this.#tokensAt = now;
    return this.#tokens >= 1;
  }

  #take(kind: Waiter['kind']): void {
    if (Number.isFinite(this.startRate)) this.#tokens -= 1;
    if (kind === 'token') return;
    this.#inFlight++;
    if (this.#inFlight >= Math.floor(this.#limit)) this.#seen.saturated = true;
  }

  #rateOrZero(): number {
    const rate = this.startRate;
    return Number.isFinite(rate) ? rate : 0;
  }

  #pump(): void {
    while (this.#waiters.length > 0 && this.#room((this.#waiters[0] as Waiter).kind)) {
      const waiter = this.#waiters.shift() as Waiter;
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.#take(waiter.kind);
      waiter.resolve();
    }
    // Waiting only for a start token: come back when one is due.
    const rate = this.startRate;
    const first = this.#waiters[0];
    if (
      first &&
      Number.isFinite(rate) &&
      !this.#tokenTimer &&
      (first.kind === 'token' || this.#inFlight < Math.max(1, Math.floor(this.#limit)))
    ) {
      const waitMs = Math.max(1, ((1 - this.#tokens) / rate) * 1000);
      this.#tokenTimer = setTimeout(() => {
        this.#tokenTimer = undefined;
        this.#pump();
      }, waitMs);
    }
  }

  /** Decides the limit again once an interval has passed. */
  #tick(): void {
    const now = this.#now();
    if (now - this.#intervalStart < this.#options.intervalMs) return;
    // retries waiting for the rate hold their slots: only copies waiting for a slot say the limit holds them back
    const slotWaiting = this.#waiters.some((w) => w.kind === 'slot');
    const seen = { ...this.#seen, saturated: this.#seen.saturated || slotWaiting };
    const next = nextLimit(this.#limit, seen, this.#options.params);
    const pacing = this.#options.pacing
      ? nextPacing(
          this.#pacing,
          {
            admittedPerSecond: this.#admitted.rate(now),
            refusedPerSecond: this.#refused.rate(now),
            waited: this.#waitedForRate,
            windowFull: this.#admitted.full(now),
            windowIntervals: this.#windowIntervals,
          },
          this.#options.pacing,
        )
      : this.#pacing;
    this.#intervalStart = now;
    this.#seen = { answered: 0, throttled: 0, saturated: this.#inFlight >= Math.floor(next) };
    this.#waitedForRate = false;
    const rateBefore = this.startRate;
    this.#pacing = pacing;
    if (this.startRate !== rateBefore) {
      // the bucket refilled at the old rate until now; it holds no more than the new burst
      this.#refill();
      this.#tokens = Number.isFinite(rateBefore) ? Math.min(this.#tokens, this.#burst()) : this.#burst();
      this.#options.onStartRate?.(this.store, this.#rateOrZero());
      clearTimeout(this.#tokenTimer);
      this.#tokenTimer = undefined;
    }
    if (next !== this.#limit) {
      this.#limit = next;
      this.#options.onLimit?.(this.store, next);
    }
    this.#pump();
  }
}

function abortedError(): CopyError {
  return new CopyError('aborted', 'copy aborted while waiting for a copy slot', { bucket: '', key: '', attempt: 0 });
}

/** The limiters of both stores of a copy, and how a throttled copy is retried in its slots. */
export type CopyLimits = {
  source: CopyLimiter;
  destination: CopyLimiter;
  /** Throttled attempts of one copy, retried in place, before it fails (kind 'throttled', an attempt spent). */
  maxThrottledAttempts: number;
  backoff: { baseMs: number; maxMs: number };
  random?: () => number;
};

/** Holds a slot at both stores (always source first, so two copies never wait on each other). */
export async function acquireBoth(limits: CopyLimits, signal?: AbortSignal): Promise<void> {
  await limits.source.acquire(signal);
  try {
    await limits.destination.acquire(signal);
  } catch (err) {
    limits.source.release('answered');
    throw err;
  }
}

/** Waits for both stores' start rates to allow another attempt of a copy holding its slots. */
export async function paceBoth(limits: CopyLimits, signal?: AbortSignal): Promise<void> {
  await limits.source.pace(signal);
  await limits.destination.pace(signal);
}
