// The adaptive limit of copies in flight at one store, shared by every copy path of the worker (the
// rclone children and the SDK): copies take a slot before they start and give it back when they end,
// saying whether the store throttled them. Every `intervalMs` the limit is decided again from what
// the interval saw (aimd.ts). An optional hard cap on copy starts per second comes on top.
import { CopyError } from '../shared/errors.ts';
import { nextLimit, type AimdParams, type IntervalSeen } from './aimd.ts';

export type Store = 'source' | 'destination';

export type LimiterOptions = {
  store: Store;
  params: AimdParams;
  /** How often the limit is decided again. */
  intervalMs: number;
  /** Copy starts per second at most (0: no cap), a token bucket of one second. */
  startsPerSecond?: number;
  /** Milliseconds, monotonic; tests pass a fake clock. */
  now?: () => number;
  /** Told every new limit (the gauge). */
  onLimit?: (store: Store, limit: number) => void;
  /** Told every throttled attempt (the counter). */
  onThrottled?: (store: Store) => void;
};

type Waiter = {
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

  constructor(options: LimiterOptions) {
    this.store = options.store;
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    this.#limit = options.params.max;
    this.#intervalStart = this.#now();
    this.#tokens = Math.max(1, options.startsPerSecond ?? 0);
    this.#tokensAt = this.#intervalStart;
    options.onLimit?.(this.store, this.#limit);
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
    this.#tick();
    if (signal?.aborted) return Promise.reject(abortedError());
    if (this.#waiters.length === 0 && this.#room()) {
      this.#take();
      return Promise.resolve();
    }
    this.#seen.saturated = true;
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
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
      this.#waiters.push(waiter);
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
      this.#options.onThrottled?.(this.store);
    } else {
      this.#seen.answered++;
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

  #room(): boolean {
    if (this.#inFlight >= Math.max(1, Math.floor(this.#limit))) return false;
    return this.#refill();
  }

  /** True when the start-rate cap (if any) has a token; tokens refill continuously. */
  #refill(): boolean {
    const rate = this.#options.startsPerSecond ?? 0;
    if (rate <= 0) return true;
    const now = this.#now();
    this.#tokens = Math.min(Math.max(1, rate), this.#tokens + ((now - this.#tokensAt) / 1000) * rate);
    this.#tokensAt = now;
    return this.#tokens >= 1;
  }

  #take(): void {
    this.#inFlight++;
    if ((this.#options.startsPerSecond ?? 0) > 0) this.#tokens -= 1;
    if (this.#inFlight >= Math.floor(this.#limit)) this.#seen.saturated = true;
  }

  #pump(): void {
    while (this.#waiters.length > 0 && this.#room()) {
      const waiter = this.#waiters.shift() as Waiter;
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      this.#take();
      waiter.resolve();
    }
    // Waiting only for a start token: come back when one is due.
    const rate = this.#options.startsPerSecond ?? 0;
    if (this.#waiters.length > 0 && rate > 0 && !this.#tokenTimer && this.#inFlight < Math.floor(this.#limit)) {
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
    const seen = { ...this.#seen, saturated: this.#seen.saturated || this.#waiters.length > 0 };
    const next = nextLimit(this.#limit, seen, this.#options.params);
    this.#intervalStart = now;
    this.#seen = { answered: 0, throttled: 0, saturated: this.#inFlight >= Math.floor(next) };
    if (next !== this.#limit) {
      this.#limit = next;
      this.#options.onLimit?.(this.store, next);
      this.#pump();
    }
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
