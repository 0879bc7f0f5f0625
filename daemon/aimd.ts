// The decision of the adaptive copy concurrency: the next limit of copies in flight at one store,
// from the current limit and what the last interval saw. Pure: no clock, no I/O (copy-limiter.ts
// feeds it). Additive increase while the limit is what holds copies back and nothing was throttled
// much; a multiplicative decrease in proportion to the share of attempts the store refused.
//
// The decrease is proportional (limit × (1 − decrease × refused share)) rather than a halving on any
// refusal, and the increase continues while refusals are few, because a store that refuses a fixed
// share of requests whatever the load (a busy shared front end) would otherwise drive the limit to
// its floor for nothing. Against a store that admits R requests/s the two balance near the
// concurrency that fills R: more copies only raise the refused share.

export type AimdParams = {
  /** The floor: copies in flight never fall below this. */
  min: number;
  /** The ceiling: the copy slots the worker has. */
  max: number;
  /** Added to the limit after an interval in which the limit held copies back. */
  increase: number;
  /** At a refused share of 1 the limit is multiplied by (1 − decrease). */
  decrease: number;
};

/** What one interval saw at one store. */
export type IntervalSeen = {
  /** Copy attempts that finished without the store refusing them (failures of other kinds count here too). */
  answered: number;
  /** Copy attempts the store refused with SlowDown, 503 or 429. */
  throttled: number;
  /** Copies were waiting for a slot, or the most in flight at once reached the limit. */
  saturated: boolean;
};

/**
 * At a fixed refused share f the limit settles where limit × decrease × f = increase × (1 − f): with
 * these, about 15 at 30 % refused (measured: increase 1 and decrease 0.5 settled near 5 and halved the
 * rate against a store refusing 30 % at random), while a store refusing everything still sees the
 * limit fall by 30 % every interval.
 */
export const DEFAULT_AIMD: Omit<AimdParams, 'max'> = { min: 1, increase: 2, decrease: 0.3 };

export function nextLimit(limit: number, seen: IntervalSeen, params: AimdParams): number {
  const attempts = seen.answered + seen.throttled;
  if (attempts === 0) return clamp(limit, params);
  const refused = seen.throttled / attempts;
  let next = limit * (1 - params.decrease * refused);
  if (seen.saturated) next += params.increase * (1 - refused);
  return clamp(next, params);
}

function clamp(limit: number, params: AimdParams): number {
  return Math.min(params.max, Math.max(params.min, limit));
}

/**
 * How long a throttled copy waits (holding its slot, so the store sees fewer requests) before its
 * next attempt: exponential from `baseMs`, capped, with jitter so refused copies do not return together.
 */
export function throttleBackoffMs(attempt: number, random: number, tuning: { baseMs: number; maxMs: number }): number {
  const ceiling = Math.min(tuning.maxMs, tuning.baseMs * 2 ** Math.min(attempt, 20));
  return Math.round(ceiling * (0.5 + random / 2));
}
