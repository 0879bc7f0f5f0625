// The worker's adaptive copy limits: one limiter per store, both shared by the rclone and SDK copy
// paths, reporting into the worker's metrics.
import { DEFAULT_AIMD } from './aimd.ts';
import { CopyLimiter, type CopyLimits, type Store } from './copy-limiter.ts';
import type { Metrics } from './metrics.ts';
import { DEFAULT_PACING } from './start-pacing.ts';

/** How often each store's limit and start rate are decided again. */
export const LIMIT_INTERVAL_MS = 500;

/** The window the start and admitted rates are measured over: long enough for a rate, short enough to follow it. */
export const RATE_WINDOW_MS = 2_000;

/**
 * `maxRequestsPerSecond` (0: none) caps copy starts at half that rate, a small copy being two
 * requests; it binds the SDK path, the rclone children being held to it by their own --tpslimit.
 */
export function copyLimits(capacity: number, metrics: Metrics, maxRequestsPerSecond = 0): CopyLimits {
  const limiter = (store: Store): CopyLimiter =>
    new CopyLimiter({
      store,
      params: { ...DEFAULT_AIMD, max: capacity },
      intervalMs: LIMIT_INTERVAL_MS,
      startsPerSecond: store === 'source' ? maxRequestsPerSecond / 2 : 0,
      pacing: DEFAULT_PACING,
      windowMs: RATE_WINDOW_MS,
      onLimit: (s, limit) => metrics.copyConcurrencyLimit.set({ store: s }, limit),
      onStartRate: (s, rate) => metrics.copyStartRateLimit.set({ store: s }, rate),
      onThrottled: (s) => metrics.throttledRequests.inc({ store: s }),
    });
  return {
    source: limiter('source'),
    destination: limiter('destination'),
    // A throttled copy waits in its slot, so the wait is short: a store admitting R requests/s wastes
    // what it would admit while every slot waits (measured: a 1 s cap left a bucket of 8/s at 3.4/s).
    // 200 attempts at about 100 ms each are some 20 s of refusals before one of the message's
    // attempts is spent.
    maxThrottledAttempts: 200,
    backoff: { baseMs: 10, maxMs: 100 },
  };
}
