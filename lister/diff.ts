// Incremental mode and verify: which listed source objects are missing at the destination or differ
// from it, found by merging two listings in key order. Pure: no I/O.
import type { BatchObject } from '../shared/message.ts';
import { compareKeys } from '../shared/key-order.ts';

export type Difference = { kind: 'missing' | 'mismatched'; key: string; source: BatchObject; dest?: BatchObject };

/** ETags are comparable when neither is a multipart ETag (those depend on the part size used). */
export function etagsComparable(a: string | undefined, b: string | undefined): boolean {
  return a !== undefined && b !== undefined && !a.includes('-') && !b.includes('-');
}

export function sameObject(source: BatchObject, dest: BatchObject): boolean {
  if ((source.size ?? -1) !== (dest.size ?? -1)) return false;
  if (etagsComparable(source.etag, dest.etag) && source.etag !== dest.etag) return false;
  return true;
}

/** A source object and its destination counterpart that the listings found alike (size, ETag where comparable). */
export type Alike = { source: BatchObject; dest: BatchObject };

/**
 * Compares sorted source objects with sorted destination objects (already mapped to source keys)
 * that cover at least the same key span: the source objects to copy and why, and the pairs found
 * alike (which verify --deep looks at further).
 */
export function compareSorted(
  source: readonly BatchObject[],
  dest: readonly BatchObject[],
): { differences: Difference[]; alike: Alike[] } {
  const differences: Difference[] = [];
  const alike: Alike[] = [];
  let j = 0;
  for (const object of source) {
    while (j < dest.length && compareKeys((dest[j] as BatchObject).key, object.key) < 0) j++;
    const match = dest[j];
    if (match === undefined || match.key !== object.key)
      differences.push({ kind: 'missing', key: object.key, source: object });
    else if (!sameObject(object, match))
      differences.push({ kind: 'mismatched', key: object.key, source: object, dest: match });
    else alike.push({ source: object, dest: match });
  }
  return { differences, alike };
}

/** The source objects to copy and why (see compareSorted). */
export function diffSorted(source: readonly BatchObject[], dest: readonly BatchObject[]): Difference[] {
  return compareSorted(source, dest).differences;
}
