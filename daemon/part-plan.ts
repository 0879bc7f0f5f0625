// How the SDK path cuts a large object into parts: which objects go by ranged parts, how big the
// parts are, and the byte range of each. Pure: S3's multipart limits are the only rules here.

const MiB = 1024 * 1024;

/** S3's multipart limits: every part but the last at least 5 MiB, at most 5 GiB, at most 10,000 parts. */
export const S3_PARTS = { minBytes: 5 * MiB, maxBytes: 5 * 1024 * MiB, maxCount: 10_000 } as const;

/** One part: its number (1-based, as S3 counts) and its bytes, `start` to `end` inclusive (as Range has them). */
export type PartRange = { part: number; start: number; end: number };

/**
 * Whether an object of the listed size is copied by ranged parts: when it is more than one part of
 * the configured size (and more than S3's smallest part). Without a listed size: no (one GET as before).
 */
export function usesRangedCopy(listedSize: number | undefined, configuredPartBytes: number): boolean {
  return listedSize !== undefined && listedSize > Math.max(configuredPartBytes, S3_PARTS.minBytes);
}

/**
 * The part size for an object of `size` bytes: the configured size at most, smaller where that gives
 * `concurrency` parts to copy at once (whole MiB), never below S3's minimum, and larger where 10,000
 * parts would not hold the object.
 */
export function choosePartSize(size: number, configuredPartBytes: number, concurrency: number): number {
  if (!(size >= 0) || !(configuredPartBytes > 0) || !(concurrency >= 1)) {
    throw new Error(`no part plan for size ${size}, part size ${configuredPartBytes}, concurrency ${concurrency}`);
  }
  const spread = roundUpMiB(Math.ceil(size / concurrency));
  let bytes = Math.max(Math.min(configuredPartBytes, spread), S3_PARTS.minBytes);
  bytes = Math.max(bytes, roundUpMiB(Math.ceil(size / S3_PARTS.maxCount)));
  if (bytes > S3_PARTS.maxBytes) throw new Error(`${size} bytes do not fit in ${S3_PARTS.maxCount} parts of 5 GiB`);
  return bytes;
}

/** The parts of an object of `size` bytes cut every `partBytes`; the last one takes the rest. */
export function partRanges(size: number, partBytes: number): PartRange[] {
  if (!(size > 0) || !(partBytes > 0)) throw new Error(`no parts for size ${size}, part size ${partBytes}`);
  const count = Math.ceil(size / partBytes);
  if (count > S3_PARTS.maxCount)
    throw new Error(`${count} parts of ${partBytes} bytes: over S3's ${S3_PARTS.maxCount}`);
  return Array.from({ length: count }, (_, i) => ({
    part: i + 1,
    start: i * partBytes,
    end: Math.min(size, (i + 1) * partBytes) - 1,
  }));
}

/** The Range header of a part. */
export function rangeHeader(range: Pick<PartRange, 'start' | 'end'>): string {
  return `bytes=${range.start}-${range.end}`;
}

/** A Content-Range answer (`bytes 0-99/1000`) as numbers; undefined when absent or not of that form. */
export function parseContentRange(
  header: string | undefined,
): { start: number; end: number; total: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header?.trim() ?? '');
  if (!m) return undefined;
  const [start, end, total] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return start <= end && end < total ? { start, end, total } : undefined;
}

function roundUpMiB(bytes: number): number {
  return Math.ceil(bytes / MiB) * MiB;
}
