// Byte-for-byte comparison of a source bucket with its copy: every source object is streamed from both
// sides and its SHA-256 compared, never trusting sizes or ETags alone; and, from the same GetObject
// answers (plus GetObjectTagging where an answer says there are tags), its system metadata, user
// metadata and tags compared field by field. Used by the demo, tests and bench.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { GetObjectCommand, GetObjectTaggingCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { httpStatus } from '../shared/errors.ts';
import {
  attributesOf,
  diffAttributes,
  hasTags,
  type AttributeDifference,
  type ObjectAttributes,
} from '../shared/object-attributes.ts';
import { forEachLimit } from './for-each-limit.ts';

export type BucketRef = { s3: S3Client; bucket: string };

export type ListedObject = { key: string; size: number };

export type Mismatch = { key: string; reason: string };

export type VerifyResult = {
  /** Source objects compared. */
  checked: number;
  /** Source bytes compared. */
  bytes: number;
  /** Identical at the destination. */
  identical: number;
  /** Source keys with no destination object. */
  missing: string[];
  /** Destination objects whose size or content differs from the source. */
  different: Mismatch[];
  /** Destination objects with the same bytes whose metadata or tags differ (when attributes are compared). */
  attributes: Array<{ key: string; differences: AttributeDifference[] }>;
  /** Source objects that carry system metadata (beyond Content-Type), user metadata, tags. */
  carried: { system: number; user: number; tags: number };
  /** Destination keys no source object maps to (only when `reportExtra`). */
  extra: string[];
  seconds: number;
};

export type VerifyOptions = {
  source: BucketRef;
  dest: BucketRef;
  /** Prefix under which the copy was written at the destination (the lister's dest prefix). */
  destPrefix?: string;
  /** Compare only these source objects (default: list the whole source bucket). */
  objects?: readonly ListedObject[];
  /** Objects streamed at once. */
  concurrency?: number;
  /** Also list the destination and report keys that no source object maps to. */
  reportExtra?: boolean;
  /** Compare system metadata, user metadata and tags too (default: bytes only). */
  compareAttributes?: boolean;
  onProgress?: (done: number, total: number, bytes: number) => void;
};

export function isOk(result: VerifyResult): boolean {
  return (
    result.missing.length === 0 &&
    result.different.length === 0 &&
    result.attributes.length === 0 &&
    result.extra.length === 0
  );
}

/** Every object of a bucket (optionally under a prefix), page by page. */
export async function listAll(ref: BucketRef, prefix = ''): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  let token: string | undefined;
  do {
    const page = await ref.s3.send(
      new ListObjectsV2Command({ Bucket: ref.bucket, Prefix: prefix || undefined, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) out.push({ key: o.Key ?? '', size: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

export type Digest = { sha256: string; size: number; attributes?: ObjectAttributes };

function isNotFound(err: unknown): boolean {
  const name = (err as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound' || httpStatus(err) === 404;
}

/**
 * SHA-256 and length of an object's content, streamed, and with `withAttributes` its attributes (the tags
 * read only where the answer counts some); undefined when the object does not exist.
 */
export async function digestObject(ref: BucketRef, key: string, withAttributes = false): Promise<Digest | undefined> {
  let body: Readable;
  let attributes: ObjectAttributes | undefined;
  try {
    const res = await ref.s3.send(new GetObjectCommand({ Bucket: ref.bucket, Key: key }));
    body = res.Body as Readable;
    if (withAttributes) {
      const tags = hasTags(res)
        ? ((await ref.s3.send(new GetObjectTaggingCommand({ Bucket: ref.bucket, Key: key }))).TagSet ?? [])
        : [];
      attributes = attributesOf(res, tags);
    }
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw new Error(`GetObject s3://${ref.bucket}/${JSON.stringify(key)} failed: ${String(err)}`, { cause: err });
  }
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    hash.update(buf);
    size += buf.length;
  }
  return attributes ? { sha256: hash.digest('hex'), size, attributes } : { sha256: hash.digest('hex'), size };
}

/** Which parts of the attributes an object carries (Content-Type does not count: S3 always answers one). */
export function carriedParts(a: ObjectAttributes): { system: boolean; user: boolean; tags: boolean } {
  const { contentType: _type, metadata, tags, ...system } = a;
  return {
    system: Object.values(system).some((v) => v !== undefined),
    user: Object.keys(metadata).length > 0,
    tags: tags !== undefined && Object.keys(tags).length > 0,
  };
}

/** What is wrong with a copy, or undefined when it is identical. Pure, for tests. */
export function compareDigests(
  source: Digest,
  dest: Digest | undefined,
): { missing: true } | { reason: string } | undefined {
  if (!dest) return { missing: true };
  if (dest.size !== source.size)
    return { reason: `size ${dest.size} at the destination, ${source.size} at the source` };
  if (dest.sha256 !== source.sha256) return { reason: `content differs (sha256 ${dest.sha256} ≠ ${source.sha256})` };
  return undefined;
}

/** Compares every source object with its copy byte for byte. */
export async function verifyCopy(options: VerifyOptions): Promise<VerifyResult> {
  const started = Date.now();
  const prefix = options.destPrefix ?? '';
  const objects = options.objects ?? (await listAll(options.source));
  // Largest first, so one big object does not start last and stretch the tail.
  const ordered = [...objects].sort((a, b) => b.size - a.size);
  const result: VerifyResult = {
    checked: 0,
    bytes: 0,
    identical: 0,
    missing: [],
    different: [],
    attributes: [],
    carried: { system: 0, user: 0, tags: 0 },
    extra: [],
    seconds: 0,
  };
  const attributes = options.compareAttributes ?? false;
  await forEachLimit(ordered, options.concurrency ?? 8, async (o) => {
    const [src, dst] = await Promise.all([
      digestObject(options.source, o.key, attributes),
      digestObject(options.dest, prefix + o.key, attributes),
    ]);
    if (!src) throw new Error(`source object ${JSON.stringify(o.key)} vanished during verification`);
    if (src.attributes) {
      const parts = carriedParts(src.attributes);
      for (const part of ['system', 'user', 'tags'] as const) if (parts[part]) result.carried[part]++;
    }
    const problem = compareDigests(src, dst);
    const differences = src.attributes && dst?.attributes ? diffAttributes(src.attributes, dst.attributes) : [];
    if (problem && 'missing' in problem) result.missing.push(o.key);
    else if (problem) result.different.push({ key: o.key, reason: problem.reason });
    else if (differences.length > 0) result.attributes.push({ key: o.key, differences });
    else result.identical++;
    result.checked++;
    result.bytes += src.size;
    options.onProgress?.(result.checked, ordered.length, result.bytes);
  });
  if (options.reportExtra) {
    const expected = new Set(objects.map((o) => prefix + o.key));
    for (const o of await listAll(options.dest, prefix)) if (!expected.has(o.key)) result.extra.push(o.key);
  }
  result.missing.sort();
  result.different.sort((a, b) => (a.key < b.key ? -1 : 1));
  result.attributes.sort((a, b) => (a.key < b.key ? -1 : 1));
  result.seconds = (Date.now() - started) / 1000;
  return result;
}
