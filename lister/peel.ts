// Splitting a range that is being listed, by sampling the key space with StartAfter.
//
// The keys left in a range all start with some node prefix Q. Two samplers find cut points:
//  - Directory sampling: one ListObjectsV2 under Q with Delimiter '/' returns the range's next
//    "directories" (up to 1,000 of them) in one request; cuts go just before some of them, so a deep
//    tree fans out into as many ranges as there are idle workers at once.
//  - Character sampling, for flat names (no '/' below the node): probes with MaxKeys 1 and StartAfter
//    past the subtree of ever longer prefixes of the next key find the shallowest point where the key
//    space branches (see proposeByProbes).
// Samplers only choose where to cut. Cut points are arbitrary strings and the pieces tile the range
// whatever the samples saw, so a split never skips or repeats a key.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { compareKeys, subtreeEnd } from '../shared/key-order.ts';
import { inRange, listPrefix, listStart, type RangeBounds } from './ranges.ts';

/** The first key after `startAfter` (from the start when undefined) among keys starting with `prefix`. */
export type Probe = (prefix: string, startAfter: string | undefined) => Promise<string | undefined>;

/** The next "directories" (common prefixes up to the next '/') after `startAfter` under `prefix`. */
export type DirectoryProbe = (
  prefix: string,
  startAfter: string | undefined,
) => Promise<{ prefixes: string[]; keys: string[] }>;

export const DELIMITER = '/';

export function s3Probes(
  s3: S3Client,
  bucket: string,
  counter: { probes: number } = { probes: 0 },
): { probe: Probe; directories: DirectoryProbe } {
  return {
    async probe(prefix, startAfter) {
      counter.probes++;
      const out = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix || undefined,
          MaxKeys: 1,
          ...(startAfter !== undefined ? { StartAfter: startAfter } : {}),
        }),
      );
      return out.Contents?.[0]?.Key;
    },
    async directories(prefix, startAfter) {
      counter.probes++;
      const out = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          Prefix: prefix || undefined,
          Delimiter: DELIMITER,
          MaxKeys: 1000,
          ...(startAfter !== undefined ? { StartAfter: startAfter } : {}),
        }),
      );
      return {
        prefixes: (out.CommonPrefixes ?? []).flatMap((p) => (p.Prefix ? [p.Prefix] : [])),
        keys: (out.Contents ?? []).flatMap((c) => (c.Key ? [c.Key] : [])),
      };
    },
  };
}

/** One cut: the range below it keeps keys up to `at`; `hint` is a prefix the keys above it were seen under. */
export type Cut = { at: string; hint?: string };

export type PeelProposal =
  /** Cut the range at these points, in ascending order: it keeps keys up to the first one. */
  | { kind: 'split'; cuts: Cut[]; hint?: string }
  /** Nothing is left after the next key's own subtree: not worth splitting. */
  | { kind: 'exhausted' };

/** The deepest prefix known to hold every remaining key: the bounds' own, or a deeper probe hint. */
export function nodeOf(bounds: RangeBounds, cursor: string | undefined, hint: string | undefined): string {
  const safe = listPrefix(bounds, cursor);
  return hint !== undefined && hint.startsWith(safe) ? hint : safe;
}

/** UTF-16 lengths of the prefixes of `key` longer than `from`, one per code point. */
export function prefixLengths(key: string, from: number): number[] {
  const out: number[] = [];
  for (let i = from; i < key.length;) {
    i += (key.codePointAt(i) as number) > 0xffff ? 2 : 1;
    out.push(i);
  }
  return out;
}

/** A string just before every key that starts with `prefix` (and after every key before them). */
export function justBefore(prefix: string): string {
  const points = Array.from(prefix);
  const last = points.pop();
  if (last === undefined) return '';
  const head = points.join('');
  const code = last.codePointAt(0) as number;
  // No string sorts between `head` and head + U+0000, so a prefix ending in U+0000 is preceded by head.
  if (code === 0) return head;
  // Below U+E000 comes U+D7FF: the surrogates are no characters of their own.
  const below = code - 1 >= 0xd800 && code - 1 <= 0xdfff ? 0xd7ff : code - 1;
  return head + String.fromCodePoint(below) + subtreeEnd('');
}

/**
 * Picks up to `count` cut points among `items` so that the pieces hold about as many items each, the
 * piece before the first cut counting as one item (what the range keeps).
 */
export function spreadPick<T>(items: readonly T[], count: number): T[] {
  if (count >= items.length) return [...items];
  const out: T[] = [];
  for (let i = 0; i < count; i++) out.push(items[Math.floor(((i + 1) * (items.length + 1)) / (count + 1)) - 1] as T);
  return out;
}

/**
 * Directory sampling: the next directories under the node (one request lists up to 1,000), grouped
 * into about `parts` pieces with cuts at the end of a directory's subtree: the range keeps the
 * directory its listing is in. A piece whose upper bound ends a directory lists under that
 * directory's prefix after its first page (see listPrefix). With a single directory and nothing
 * else, the node deepens into it. Undefined when there is no directory to cut at (flat names), so
 * that character sampling takes over.
 */
export async function proposeByDirectories(
  bounds: Readonly<RangeBounds>,
  cursor: string | undefined,
  node: string,
  directories: DirectoryProbe,
  parts: number,
  maxDepth = 8,
): Promise<PeelProposal | undefined> {
  const start = listStart(bounds, cursor);
  let at = node;
  for (let depth = 0; depth < maxDepth; depth++) {
    const found = await directories(at, start);
    const slash = start !== undefined && start.startsWith(at) ? start.indexOf(DELIMITER, at.length) : -1;
    // The directory the listing is in (S3 may or may not return it).
    const current = slash === -1 ? undefined : (start as string).slice(0, slash + 1);
    const dirs = found.prefixes.filter(
      (d) =>
        d !== current &&
        (start === undefined || compareKeys(d, start) > 0) &&
        (bounds.upTo === undefined || compareKeys(d, bounds.upTo) <= 0),
    );
    const keys = found.keys.filter((k) => inRange(bounds, k) && (start === undefined || compareKeys(k, start) > 0));
    // Cut candidates: the end of the current directory, then of every directory but the last (the
    // last piece runs to the range's end).
    const ends = [...(current !== undefined ? [current] : []), ...dirs.slice(0, -1)]
      .map((d) => ({ d, at: subtreeEnd(d) }))
      .filter((c) => bounds.upTo === undefined || compareKeys(c.at, bounds.upTo) < 0);
    if (ends.length === 0 || (dirs.length === 0 && keys.length === 0)) {
      if (keys.length > 0) return undefined;
      if (current !== undefined && dirs.length === 0) at = current;
      else if (current === undefined && dirs.length === 1) at = dirs[0] as string;
      else return undefined;
      continue;
    }
    const chosen = spreadPick(ends, Math.max(1, parts - 1));
    const cuts: Cut[] = chosen.map((c, i) => {
      // The piece after this cut holds one directory when the next cut ends the very next one.
      const next = chosen[i + 1];
      const single = next !== undefined && ends.indexOf(next) === ends.indexOf(c) + 1;
      return { at: c.at, hint: single ? next.d : at };
    });
    const firstIsCurrent = chosen[0]?.d === current;
    return { kind: 'split', cuts, ...(firstIsCurrent && current !== undefined ? { hint: current } : {}) };
  }
  return undefined;
}

/**
 * Character sampling: the shallowest prefix P of the range's next key such that some key of the range
 * lies after P's subtree; the range keeps P's subtree, the rest becomes a new range. "Some key after
 * the subtree of the first d characters" only turns from false to true as d grows, so a galloping
 * search over d needs one probe when the branching is right below the node and a handful whatever
 * the key length.
 */
export async function proposeByProbes(
  bounds: Readonly<RangeBounds>,
  next: string,
  node: string,
  probe: Probe,
): Promise<PeelProposal> {
  const depths = prefixLengths(next, node.length);
  const keyAfter = async (depth: number): Promise<boolean> => {
    const end = subtreeEnd(next.slice(0, depth));
    if (bounds.upTo !== undefined && compareKeys(end, bounds.upTo) >= 0) return false;
    const found = await probe(node, end);
    return found !== undefined && inRange(bounds, found);
  };
  // Gallop from the shallow end (branching is usually near the node), then bisect.
  let lo = 0;
  let hi = depths.length;
  for (let step = 1, j = 0; j < depths.length; j += step, step *= 2) {
    if (await keyAfter(depths[j] as number)) {
      hi = j;
      break;
    }
    lo = j + 1;
  }
  lo = Math.min(lo, hi);
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (await keyAfter(depths[mid] as number)) hi = mid;
    else lo = mid + 1;
  }
  if (lo >= depths.length) return { kind: 'exhausted' };
  const depth = depths[lo] as number;
  const parent = lo === 0 ? node : next.slice(0, depths[lo - 1]);
  return { kind: 'split', cuts: [{ at: subtreeEnd(next.slice(0, depth)), hint: parent }], hint: next.slice(0, depth) };
}

/**
 * Proposes cuts for a range: first the next key (none left: nothing to split), then directories, then
 * characters for flat names.
 */
export async function proposePeel(
  bounds: Readonly<RangeBounds>,
  cursor: () => string | undefined,
  hint: string | undefined,
  samplers: { probe: Probe; directories?: DirectoryProbe },
  parts = 2,
  /** The range's last page said more keys follow: the last listed key can stand for the next one. */
  more = false,
): Promise<PeelProposal> {
  const node = nodeOf(bounds, cursor(), hint);
  const start = listStart(bounds, cursor());
  const listed = cursor();
  let next: string | undefined =
    more && listed !== undefined && listed === start && listed.startsWith(node) && listed.length > node.length
      ? listed
      : await samplers.probe(node, start);
  // A key equal to the node itself (a "directory" object) comes first; the children follow it.
  if (next === node) next = await samplers.probe(node, node);
  if (next === undefined || !inRange(bounds, next)) return { kind: 'exhausted' };
  if (samplers.directories) {
    const byDirectory = await proposeByDirectories(bounds, cursor(), node, samplers.directories, parts);
    if (byDirectory) return byDirectory;
  }
  return proposeByProbes(bounds, next, node, samplers.probe);
}
