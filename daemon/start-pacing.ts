// The decision of the learned copy start rate at one store: how many copy attempts may start per
// second, from the current rate and what the last window saw. Pure: no clock, no I/O (copy-limiter.ts
// measures with rate-estimator.ts and applies it). Against a store that admits R requests/s a limit
// of copies in flight is the wrong control (the number that fills R moves with every copy's
// duration, and copies refused wait in their slots); attempts started just under R are the right one.
//
// When the store refuses more than a small share of the attempts over the window, the rate is cut to
// just under the rate it admitted (not a fraction of the old rate, so cuts do not compound). A cut is
// then checked a window later, by whether the refused share has at least halved since the first cut
// in a row: against a rate limit the refusals stop once the attempts are under it. Halved but still
// refusing: cut again from what is admitted now (the first cut may have measured a store's initial
// burst, or another worker sharing the store has not cut yet). Not halved: the store refuses
// whatever the rate (a busy front end refusing a share at random, or a chance run of refusals), where
// pacing would only collapse the rate, so after a second try the cuts are undone and that share is
// tolerated from then on (the adaptive concurrency, aimd.ts, answers such refusals).
//
// While attempts wait for the pacer and nothing calls for a cut, the rate climbs: by a step that grows
// by half each interval it goes on (at most a quarter of the rate), so a worker whose share of a store
// frees up (another worker sharing it has run out of work) takes it up in seconds, not tens of them. While attempts wait for the pacer and the store refuses nothing beyond what

export type PacingParams = {
  /** The rate never falls below this (attempts/s). */
  floor: number;
  /** A cut sets the rate to this share of the admitted rate measured. */
  under: number;
  /** A cut needs the refused share of the window above the share tolerated by this much. */
  margin: number;
  /** The first step of a climb: this share of the rate set at the last cut, at least `minStep`. */
  probe: number;
  minStep: number;
  /** Each interval the climb goes on, its step grows by this factor, up to `maxStep` × the rate. */
  growth: number;
  maxStep: number;
  /** The tolerated share fades by this factor per interval, so a store that changes is learned again. */
  fade: number;
  /** Cuts in a row that leave the refused share where it was before they are undone. */
  strikes: number;
  /** A cut helped when the refused share fell below this share of the share at the first cut. */
  progress: number;
};

export const DEFAULT_PACING: PacingParams = {
  floor: 1,
  under: 0.95,
  margin: 0.1,
  probe: 0.02,
  minStep: 0.5,
  growth: 1.5,
  maxStep: 0.25,
  // a 30 % tolerated share fades below 30 % − margin in about 200 s
  fade: 0.999,
  strikes: 2,
  progress: 0.5,
};

export type Pacing = {
  /** Attempts per second allowed; Infinity: not paced. */
  rate: number;
  /** The rate the last cut set (the probe's step is a share of it). */
  base: number;
  /** Intervals the current climb has gone on (0: not climbing). */
  climbed?: number;
  /**
   * A cut not yet checked: the rate before the first cut in a row and the refused share then, the
   * intervals since the last cut, the cuts in the row that made no progress.
   */
  pending?: { before: number; share: number; intervals: number; cuts: number };
  /** The refused share the store shows whatever the rate (learned from a cut that did not stop it). */
  tolerated: number;
};

export const UNPACED: Pacing = { rate: Number.POSITIVE_INFINITY, base: Number.POSITIVE_INFINITY, tolerated: 0 };

/** What the limiter saw over the sliding window, and in the last interval. */
export type PacingSeen = {
  /** Attempts the store admitted (answered, not refused) per second over the window. */
  admittedPerSecond: number;
  /** Attempts the store refused per second over the window. */
  refusedPerSecond: number;
  /** An attempt waited for the pacer in the last interval (the rate is what holds copies back). */
  waited: boolean;
  /** The window has been counting for its whole length (before that, rates are too noisy to cut on). */
  windowFull: boolean;
  /** Intervals in a window: a cut is checked once the window holds only attempts made after it. */
  windowIntervals: number;
};

export function nextPacing(pacing: Pacing, seen: PacingSeen, params: PacingParams = DEFAULT_PACING): Pacing {
  if (!seen.windowFull) return pacing;
  const attempts = seen.admittedPerSecond + seen.refusedPerSecond;
  const refused = attempts > 0 ? seen.refusedPerSecond / attempts : 0;
  const over = refused > pacing.tolerated + params.margin;
  const tolerated = pacing.tolerated * params.fade;
  const cut = (before: number, share: number, cuts: number): Pacing => {
    // never above the rate in force: a cut only lowers it
    const rate = Math.max(params.floor, Math.min(pacing.rate, seen.admittedPerSecond * params.under));
    return { rate, base: rate, tolerated, pending: { before, share, intervals: 0, cuts } };
  };
  const pending = pacing.pending;
  if (pending) {
    const intervals = pending.intervals + 1;
    if (intervals < seen.windowIntervals) return { ...pacing, tolerated, pending: { ...pending, intervals } };
    const helped = refused < pending.share * params.progress;
    if (helped && !over) return { rate: pacing.rate, base: pacing.base, tolerated };
    if (helped) return cut(pending.before, pending.share, pending.cuts);
    // As many refusals as before the cut, but no more than tolerated: a chance run; undo the cuts.
    if (!over) return { rate: pending.before, base: pacing.base, tolerated };
    if (pending.cuts < params.strikes) return cut(pending.before, pending.share, pending.cuts + 1);
    // Refusing as much, cut after cut: not a rate limit. Undo the cuts and tolerate this share.
    return { rate: pending.before, base: pacing.base, tolerated: refused };
  }
  if (over) return cut(pacing.rate, refused, 1);
  if (seen.waited && Number.isFinite(pacing.rate)) {
    const climbed = pacing.climbed ?? 0;
    const step = Math.max(params.minStep, params.probe * pacing.base) * params.growth ** climbed;
    return {
      ...pacing,
      tolerated,
      climbed: climbed + 1,
      rate: pacing.rate + Math.min(step, params.maxStep * pacing.rate),
    };
  }
  // not waiting for the rate: a later climb starts again from the first step
  return pacing.climbed ? { ...pacing, tolerated, climbed: 0 } : { ...pacing, tolerated };
}
