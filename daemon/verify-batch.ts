// The verify step of a batch. A batch holds neighbouring keys in listing order, so one short
// ListObjectsV2 page over their range at the destination usually shows every copy: one request
// for the batch instead of a HEAD per object, a third of the small-object requests. Whatever the
// page cannot settle (see listVerdict) is HEADed and, where it disagrees with the listing, compared
// with the source as it is now.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { CopyError, errorMessage, httpStatus } from '../shared/errors.ts';
import { classifySdkError, describeSdkError } from './sdk-errors.ts';
import { bareEtag, compareKeys, commonPrefix, PAST } from '../shared/key-order.ts';
import type { Logger } from '../shared/logger.ts';
import type { BatchMessage } from '../shared/message.ts';
import type { Copied } from './copy-object.ts';
import type { Metrics } from './metrics.ts';
import { headObject, listVerdict, mismatch, type ObjectFacts } from './verify.ts';

/** A verified copy's size in bytes, or why it failed. */
export type Verified = number | CopyError;

type Listed = { size: number; etag?: string };

/** Keys a page may hold beyond the batch's own before the batch's last key is reached. */
const PAGE_SLACK = 8;
/** Pages read at most; keys not seen by then are HEADed. */
const MAX_PAGES = 3;

/**
 * A StartAfter just before `key` in S3 order: its stem, its last character less one, then U+10FFFF.
 * Only keys no one names (that string followed by more) fall between it and `key`.
 */
export function justBefore(key: string): string | undefined {
  const chars = Array.from(key);
  const last = chars.pop();
  if (last === undefined) return undefined;
  const stem = chars.join('');
  const code = last.codePointAt(0) ?? 0;
  if (code === 0) return stem || undefined;
  // One below the last character, stepping over the surrogate block that no string can hold alone.
  const below = code - 1 >= 0xd800 && code - 1 <= 0xdfff ? 0xd7ff : code - 1;
  return stem + String.fromCodePoint(below) + PAST;
}

/** The listing that covers `keys`: their common prefix, starting just before the first in S3 order. */
export function listRange(keys: readonly string[]): { prefix: string; startAfter?: string; last: string } {
  const sorted = [...keys].sort(compareKeys);
  const first = sorted[0] ?? '';
  const last = sorted[sorted.length - 1] ?? '';
  return { prefix: commonPrefix(first, last), startAfter: justBefore(first), last };
}

export class BatchVerifier {
  readonly #dest: S3Client;
  readonly #source: () => S3Client;
  readonly #by: 'list' | 'head';
  readonly #compareEtag: boolean;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  readonly #endpoint: string;
  /** Destination buckets where a HEAD showed SSE-KMS: their ETags are no MD5s. */
  readonly #kmsBuckets = new Set<string>();
  /** Destination buckets that refused a listing: verified by HEAD from then on. */
  readonly #unlistable = new Set<string>();

  constructor(init: {
    dest: S3Client;
    source: () => S3Client;
    by: 'list' | 'head';
    compareEtag: boolean;
    metrics: Metrics;
    log: Logger;
    /** The destination's endpoint, for error messages (empty: Amazon S3). */
    endpoint?: string;
  }) {
    this.#endpoint = init.endpoint || 'Amazon S3';
    this.#dest = init.dest;
    this.#source = init.source;
    this.#by = init.by;
    this.#compareEtag = init.compareEtag;
    this.#metrics = init.metrics;
    this.#log = init.log;
  }

  /** Verifies the copies of one batch; one result per copy, in order. */
  async verify(message: BatchMessage, copies: readonly Copied[], signal: AbortSignal): Promise<Verified[]> {
    const bucket = message.dest.bucket;
    const listed =
      this.#by === 'list' && copies.length > 0 && !this.#unlistable.has(bucket)
        ? await this.#list(
            bucket,
            copies.map((c) => c.target),
            signal,
          )
        : new Map<string, Listed>();
    // The destination did not answer the listing: HEADs would only wait out the same timeouts.
    if (listed instanceof CopyError) {
      return copies.map(
        (copy) =>
          new CopyError(listed.kind, listed.message, {
            bucket,
            key: copy.target,
            attempt: message.attempt,
            store: 'destination',
          }),
      );
    }
    return Promise.all(
      copies.map(async (copy): Promise<Verified> => {
        try {
          const entry = listed.get(copy.target);
          if (entry && listVerdict(copy.object, entry, this.#compareEtag, !this.#kmsBuckets.has(bucket)) === 'ok') {
            return entry.size;
          }
          return await this.#byHead(message, copy, signal);
        } catch (err) {
          if (err instanceof CopyError) return err;
          // No answer from a store is an outage (the gate pauses receiving), not a failed verification.
          const where = { bucket, key: copy.target, attempt: message.attempt, store: 'destination' as const };
          return new CopyError(
            signal.aborted ? 'aborted' : classifySdkError(err, 'verify'),
            `verification failed at the destination ${this.#endpoint}: ${describeSdkError(err)}`,
            where,
          );
        }
      }),
    );
  }

  /** The destination's entries for `keys`, from at most MAX_PAGES short pages; absent keys are left out. */
  async #list(bucket: string, keys: string[], signal: AbortSignal): Promise<Map<string, Listed> | CopyError> {
    const found = new Map<string, Listed>();
    const wanted = new Set(keys);
    const range = listRange(keys);
    let token: string | undefined;
    try {
      for (let page = 0; page < MAX_PAGES; page++) {
        this.#metrics.verifyRequests.inc({ method: 'list' });
        const reply = await this.#dest.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: range.prefix || undefined,
            StartAfter: token ? undefined : range.startAfter,
            ContinuationToken: token,
            MaxKeys: Math.min(1000, keys.length + PAGE_SLACK),
          }),
          { abortSignal: signal },
        );
        let pastLast = false;
        for (const entry of reply.Contents ?? []) {
          if (entry.Key === undefined) continue;
          if (wanted.has(entry.Key)) found.set(entry.Key, { size: entry.Size ?? 0, etag: bareEtag(entry.ETag) });
          if (compareKeys(entry.Key, range.last) >= 0) pastLast = true;
        }
        token = reply.IsTruncated ? reply.NextContinuationToken : undefined;
        if (pastLast || !token) break;
      }
    } catch (err) {
      if (signal.aborted) return found;
      if (classifySdkError(err, 'verify') === 'unreachable') {
        return new CopyError(
          'unreachable',
          `verification failed: no answer from the destination ${this.#endpoint}: ${describeSdkError(err)}`,
          { bucket, key: keys[0] ?? '', attempt: 0, store: 'destination' },
        );
      }
      const status = httpStatus(err);
      if (status !== undefined && status >= 400 && status < 500 && status !== 429) {
        // Refused (403), or not understood (an S3 Express directory bucket takes no StartAfter):
        // asking again per batch would only fill the log. Throttling (429, 503) is tried again.
        this.#unlistable.add(bucket);
        this.#log.warn(
          { bucket, status, err: errorMessage(err) },
          'ListBucket refused at the destination: verifying by HEAD from now on',
        );
      } else {
        this.#log.warn({ bucket, err: errorMessage(err) }, 'destination listing failed: verifying this batch by HEAD');
      }
    }
    return found;
  }

  /**
   * HEADs the destination and compares it with the listing. Where they differ, the source may have
   * changed since it was listed: the destination is then compared with the source as it is now.
   */
  async #byHead(message: BatchMessage, copy: Copied, signal: AbortSignal): Promise<number> {
    const { object, target } = copy;
    const where = { bucket: message.dest.bucket, key: target, attempt: message.attempt };
    this.#metrics.verifyRequests.inc({ method: 'head' });
    const actual = await headObject(this.#dest, message.dest.bucket, target, signal);
    if (!actual)
      throw new CopyError('verify', 'copy reported success but the destination object does not exist', where);
    if (actual.sse?.startsWith('aws:kms')) this.#kmsBuckets.add(message.dest.bucket);
    // A message without sizes (hand-made, say) is checked against the source as it is now.
    const listed = object.size === undefined ? await this.#sourceNow(message, object.key, signal) : object;
    let problem = mismatch(listed, actual, this.#compareEtag);
    if (problem && object.size !== undefined) {
      const current = await this.#sourceNow(message, object.key, signal);
      const again = mismatch({ size: current.size, etag: current.etag }, actual, this.#compareEtag);
      problem = again ? `${again} (source changed since it was listed)` : undefined;
    }
    if (problem) throw new CopyError('verify', problem, where);
    return actual.size;
  }

  async #sourceNow(message: BatchMessage, key: string, signal: AbortSignal): Promise<ObjectFacts> {
    const where = { bucket: message.source.bucket, key, attempt: message.attempt, store: 'source' as const };
    let current: ObjectFacts | undefined;
    try {
      current = await headObject(this.#source(), message.source.bucket, key, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      throw new CopyError(
        classifySdkError(err, 'verify'),
        `verification HEAD at the source: ${describeSdkError(err)}`,
        where,
      );
    }
    if (current) return current;
    throw new CopyError('not_found', 'the source object no longer exists', {
      bucket: message.source.bucket,
      key,
      attempt: message.attempt,
    });
  }
}
