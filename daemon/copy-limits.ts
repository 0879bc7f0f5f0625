// The worker's adaptive copy limits: one limiter per store, both shared by the rclone and SDK copy
// paths, reporting into the worker's metrics.
import { DEFAULT_AIMD } from './aimd.ts';
import { CopyLimiter, type CopyLimits, type Store } from './copy-limiter.ts';
import type { Metrics } from './metrics.ts';

/** How often each store's limit is decided again. */
export const LIMIT_INTERVAL_MS = 500;

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
      onLimit: (s, limit) => metrics.copyConcurrencyLimit.set({ store: s }, limit),
      onThrottled: (s) => metrics.throttledRequests.inc({ store: s }),
    });
  return {
    source: limiter('source'),
    destination: limiter('destination'),
    // With back-off capped at 1 s, about 40 s of refusals before the attempt is spent.
    maxThrottledAttempts: 50,
    backoff: { baseMs: 25, maxMs: 1_000 },
  };
}
