// When to recycle an rclone child: `rclone rcd` grows in memory over long runs (rclone issues 4911,
// 2929), so a child past an RSS or copy-count limit is drained and restarted. Pure: the pool supplies
// the figures and acts on the answer.

export type RecycleReason = 'rss' | 'copies';

/** Limits of one child; 0 turns a limit off. */
export type RecycleLimits = { rssMiB: number; afterCopies: number };

export type RecycleInput = {
  /** The child's last sampled resident set, in bytes (undefined: not sampled yet, or not on Linux). */
  rssBytes: number | undefined;
  /** Copies dispatched to the child since it started. */
  copies: number;
  limits: RecycleLimits;
  /** Another slot is draining or restarting for a recycle. */
  anotherRecycling: boolean;
  /** Slots in the pool, and other slots whose child is up now. */
  slots: number;
  othersUp: number;
};

/**
 * keep: under every limit. recycle: past one (rss first: it is the harm; copies a proxy for it).
 * defer: past one, but recycling now would leave two children out at once, or (with several slots)
 * none taking copies; asked again on the next copy or health check.
 */
export type RecycleDecision =
  | { action: 'keep' }
  | { action: 'recycle'; reason: RecycleReason }
  | { action: 'defer'; reason: RecycleReason; because: 'another-recycling' | 'no-other-child-up' };

export function recycleDecision(input: RecycleInput): RecycleDecision {
  const { rssMiB, afterCopies } = input.limits;
  const reason: RecycleReason | undefined =
    rssMiB > 0 && input.rssBytes !== undefined && input.rssBytes >= rssMiB * 1024 * 1024
      ? 'rss'
      : afterCopies > 0 && input.copies >= afterCopies
        ? 'copies'
        : undefined;
  if (!reason) return { action: 'keep' };
  if (input.anotherRecycling) return { action: 'defer', reason, because: 'another-recycling' };
  // A single child has no other to keep the pool going: new copies wait for its restart.
  if (input.slots > 1 && input.othersUp === 0) return { action: 'defer', reason, because: 'no-other-child-up' };
  return { action: 'recycle', reason };
}
