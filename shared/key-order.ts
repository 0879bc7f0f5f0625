// S3 lists keys in UTF-8 byte order. JavaScript compares strings by UTF-16 code units, which
// disagrees for characters above U+FFFF against U+E000-U+FFFF; ranges and merges must use S3's order.

/** Maps a UTF-16 code unit so that comparing mapped units gives code point (= UTF-8 byte) order. */
function rank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}

/** Compares two keys in S3's (UTF-8 byte) order: negative, zero or positive. */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return rank(x) - rank(y);
  }
  return a.length - b.length;
}

/** The ETag as S3 lists it, without quotes. */
export function bareEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  return etag.replace(/^"|"$/g, '');
}

/** Greater than every key that starts with a given prefix, when appended to it (U+10FFFF). */
export const PAST = '\u{10FFFF}';

/** The end of the subtree of keys starting with `prefix`: after every one of them. */
export function subtreeEnd(prefix: string): string {
  return prefix + PAST;
}

/** The longest common prefix of two strings, never splitting a surrogate pair. */
export function commonPrefix(a: string, b: string): string {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  // Do not end between the halves of a surrogate pair.
  if (i > 0 && i < a.length) {
    const last = a.charCodeAt(i - 1);
    if (last >= 0xd800 && last <= 0xdbff) i--;
  }
  return a.slice(0, i);
}

/** The character (a whole code point) of `key` at UTF-16 index `at`, or '' past its end. */
export function charAt(key: string, at: number): string {
  const code = key.codePointAt(at);
  return code === undefined ? '' : String.fromCodePoint(code);
}

/** The greater of two keys in S3 order (undefined counts as before everything). */
export function maxKey(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareKeys(a, b) >= 0 ? a : b;
}
