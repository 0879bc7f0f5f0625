// Key ranges: what a range covers, where its listing starts, and how listed keys are filtered. A
// range is the keys that start with `prefix`, come after `after` and are at most `upTo`. Ranges made
// by splitting one another tile the key space, so every key belongs to exactly one. Pure: no I/O.
import { commonPrefix, compareKeys, maxKey } from '../shared/key-order.ts';

export type RangeBounds = {
  prefix: string;
  /** Exclusive lower bound (undefined: from the first key with the prefix). */
  after?: string;
  /** Inclusive upper bound (undefined: to the last key with the prefix). */
  upTo?: string;
};

/** A range as the job manifest records it. */
export type RangeRecord = RangeBounds & {
  id: number;
  /** The last key whose message SQS accepted and a checkpoint holds: a resumed listing starts after it. */
  position?: string;
  done: boolean;
  keys: number;
  bytes: number;
  messages: number;
  /** Incremental mode: keys already identical at the destination, not sent. */
  skipped: number;
  pages: number;
  startedAt?: string;
  finishedAt?: string;
};

export function newRange(id: number, bounds: RangeBounds): RangeRecord {
  const record: RangeRecord = {
    id,
    prefix: bounds.prefix,
    done: false,
    keys: 0,
    bytes: 0,
    messages: 0,
    skipped: 0,
    pages: 0,
  };
  if (bounds.after !== undefined) record.after = bounds.after;
  if (bounds.upTo !== undefined) record.upTo = bounds.upTo;
  return record;
}

/** Where listing (re)starts: after the lower bound and after whatever was already sent. */
export function listStart(range: RangeBounds, cursor: string | undefined): string | undefined {
  return maxKey(range.after, cursor);
}

/**
 * The narrowest prefix every remaining key of the range has: keys between two strings share their
 * common prefix. Listing with it is cheaper for stores that filter by prefix before seeking.
 */
export function listPrefix(range: RangeBounds, cursor: string | undefined): string {
  const start = listStart(range, cursor);
  if (start === undefined || range.upTo === undefined) return range.prefix;
  const shared = commonPrefix(start, range.upTo);
  return shared.length > range.prefix.length && shared.startsWith(range.prefix) ? shared : range.prefix;
}

export function inRange(range: RangeBounds, key: string): boolean {
  if (!key.startsWith(range.prefix)) return false;
  if (range.after !== undefined && compareKeys(key, range.after) <= 0) return false;
  if (range.upTo !== undefined && compareKeys(key, range.upTo) > 0) return false;
  return true;
}

/** True when a key lies after the range's upper end, so that no later key can be in it. */
export function pastEnd(range: RangeBounds, key: string): boolean {
  if (range.upTo !== undefined && compareKeys(key, range.upTo) > 0) return true;
  return !key.startsWith(range.prefix) && compareKeys(key, range.prefix) > 0;
}

/**
 * Keeps the keys of a listed page that belong to the range and come after the cursor, in order;
 * `ended` says the page reached past the range's end.
 */
export function clip<T extends { key: string }>(
  range: RangeBounds,
  cursor: string | undefined,
  items: readonly T[],
): { kept: T[]; ended: boolean } {
  const kept: T[] = [];
  for (const item of items) {
    if (pastEnd(range, item.key)) return { kept, ended: true };
    if (cursor !== undefined && compareKeys(item.key, cursor) <= 0) continue;
    if (inRange(range, item.key)) kept.push(item);
  }
  return { kept, ended: false };
}
