// Small pure figures over repeated runs: median, min, max, quartile medians.

export type Spread = { median: number; min: number; max: number; n: number };

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export function spread(values: readonly number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  return { median: median(finite), min: Math.min(...finite), max: Math.max(...finite), n: finite.length };
}

/** Medians of the first and last quarter of a series in time order (memory flatness). */
export function quartileMedians(series: readonly number[]): { first: number; last: number } {
  const quarter = Math.max(1, Math.floor(series.length / 4));
  return { first: median(series.slice(0, quarter)), last: median(series.slice(-quarter)) };
}

export function ratio(a: number, b: number): number {
  return b > 0 && Number.isFinite(a) && Number.isFinite(b) ? a / b : Number.NaN;
}

/** The series cut into tenths in time order: each tenth's median and minimum (a heap's minimum is its live set after a collection). */
export function tenths(series: readonly number[]): Array<{ median: number; min: number }> {
  if (series.length < 10) return [];
  const size = series.length / 10;
  return Array.from({ length: 10 }, (_, i) => {
    const part = series.slice(Math.floor(i * size), Math.floor((i + 1) * size));
    return { median: median(part), min: Math.min(...part) };
  });
}
