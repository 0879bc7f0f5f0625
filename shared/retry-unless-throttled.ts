// The AWS SDK retry strategy for a store whose refusals (SlowDown, 503 with a throttling code, 429)
// the worker answers itself: connection and server errors are retried as the SDK's standard strategy
// does (three attempts, jittered exponential back-off from 100 ms), a throttling error never. The
// standard strategy waits 0–1 s and then 0–2 s before trying a refused request again, inside the
// copy's slot and unseen by the worker's adaptation; measured against a source refusing 30 % at
// random that held the worker to 0.39× its unthrottled rate. The SDK's own counterpart of rclone's
// --low-level-retries=1 (daemon/rclone-env.ts).

/** The SDK's RetryErrorType (its @smithy/types), named here so no transitive package is imported. */
type RetryErrorType = 'TRANSIENT' | 'THROTTLING' | 'SERVER_ERROR' | 'CLIENT_ERROR';

type Token = { getRetryCount(): number; getRetryDelay(): number };

export type RetryTuning = { maxAttempts: number; baseDelayMs: number; random?: () => number };

export const SDK_STANDARD_RETRY: RetryTuning = { maxAttempts: 3, baseDelayMs: 100 };

/** Whether an attempt that failed this way is tried again (pure). `retries`: retries so far. */
export function retriesAgain(errorType: RetryErrorType, retries: number, tuning: RetryTuning): boolean {
  if (errorType === 'THROTTLING' || errorType === 'CLIENT_ERROR') return false;
  return retries + 1 < tuning.maxAttempts;
}

/** The wait before retry number `retries + 1`, as the SDK's standard strategy computes it (pure). */
export function retryDelayMs(retries: number, random: number, tuning: RetryTuning): number {
  return Math.floor(Math.min(20_000, random * 2 ** retries * tuning.baseDelayMs));
}

const token = (count: number, delayMs: number): Token => ({
  getRetryCount: () => count,
  getRetryDelay: () => delayMs,
});

/** A RetryStrategyV2 for the S3Client's `retryStrategy` option. */
export function retryUnlessThrottled(tuning: RetryTuning = SDK_STANDARD_RETRY) {
  const random = tuning.random ?? Math.random;
  return {
    mode: 'standard',
    acquireInitialRetryToken: (_scope: string): Promise<Token> => Promise.resolve(token(0, 0)),
    refreshRetryTokenForRetry: (previous: Token, info: { errorType: RetryErrorType }): Promise<Token> => {
      const retries = previous.getRetryCount();
      // the SDK then throws the request's own error, with $metadata.attempts set
      if (!retriesAgain(info.errorType, retries, tuning)) return Promise.reject(new Error('no retry'));
      return Promise.resolve(token(retries + 1, retryDelayMs(retries, random(), tuning)));
    },
    recordSuccess: (_token: Token): void => undefined,
  };
}
