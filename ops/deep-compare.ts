// verify --deep: for the keys whose listings agree (size, ETag where comparable), a HEAD on both sides
// and, where a side's answer says it has tags (x-amz-tagging-count), its GetObjectTagging; then the
// system metadata, user metadata and tag sets are compared field by field. Bounded: at most
// `concurrency` keys are compared at once across all the listing's ranges.
import { GetObjectTaggingCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { errorMessage, httpStatus } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { BatchObject } from '../shared/message.ts';
import {
  attributesOf,
  diffAttributes,
  hasTags,
  type AttributeDifference,
  type ObjectAttributes,
} from '../shared/object-attributes.ts';
import type { Alike } from '../lister/diff.ts';
import { Limiter } from '../lister/limiter.ts';

export type Side = 'source' | 'destination';

/** One store as deep mode reads it: the destination's keys are the source's under `prefix`. */
export type DeepStore = { client: S3Client; bucket: string; prefix: string };

/** A key whose attributes differ, field by field. */
export type AttributeFinding = { key: string; differences: AttributeDifference[] };

/** A key that could not be compared (a HEAD or GetObjectTagging refused), with the side and why. */
export type DeepFailure = { key: string; side: Side; error: string };

export type DeepRequests = { head: number; tagging: number };

/** What the store answers when it does not implement tagging (Ceph before Luminous, some gateways). */
export function taggingUnsupported(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  return httpStatus(err) === 501 || name === 'NotImplemented' || name === 'MethodNotAllowed';
}

export class DeepComparer {
  readonly requests: Record<Side, DeepRequests> = {
    source: { head: 0, tagging: 0 },
    destination: { head: 0, tagging: 0 },
  };
  /** Sides found not to implement tagging: their tags are not read again, and not compared. */
  readonly taggingUnsupported = new Set<Side>();
  readonly #stores: Record<Side, DeepStore>;
  readonly #limiter: Limiter;
  readonly #log: Logger;
  readonly #onFinding: (finding: AttributeFinding) => void;
  readonly #onFailure: (failure: DeepFailure) => void;
  readonly #ignoreMetadata: readonly string[];

  constructor(options: {
    source: DeepStore;
    dest: DeepStore;
    concurrency: number;
    log: Logger;
    onFinding: (finding: AttributeFinding) => void;
    onFailure: (failure: DeepFailure) => void;
    /** Metadata the destination may have that the source need not (rclone's own, where kept). */
    ignoreMetadata?: readonly string[];
  }) {
    this.#stores = { source: options.source, destination: options.dest };
    this.#limiter = new Limiter(options.concurrency);
    this.#log = options.log;
    this.#onFinding = options.onFinding;
    this.#onFailure = options.onFailure;
    this.#ignoreMetadata = options.ignoreMetadata ?? [];
  }

  /** The lister's compareAlike hook: compares every pair, returns the source objects that differ. */
  compare = async (alike: readonly Alike[]): Promise<BatchObject[]> => {
    const verdicts = await Promise.all(alike.map((pair) => this.#limiter.run(() => this.#compareOne(pair.source))));
    return alike.filter((_, i) => verdicts[i]).map((pair) => pair.source);
  };

  /** True when the key's attributes differ (reported through onFinding). */
  async #compareOne(object: BatchObject): Promise<boolean> {
    const [source, dest] = await Promise.all([this.#read('source', object.key), this.#read('destination', object.key)]);
    if (!source || !dest) return false;
    const differences = diffAttributes(source, dest, { ignoreMetadata: this.#ignoreMetadata });
    if (differences.length === 0) return false;
    this.#onFinding({ key: object.key, differences });
    return true;
  }

  /** The attributes of a key on one side, or undefined when it could not be read (reported). */
  async #read(side: Side, key: string): Promise<ObjectAttributes | undefined> {
    const store = this.#stores[side];
    const where = { Bucket: store.bucket, Key: `${store.prefix}${key}` };
    try {
      this.requests[side].head++;
      const head = await store.client.send(new HeadObjectCommand(where));
      if (!hasTags(head)) return attributesOf(head, {});
      if (this.taggingUnsupported.has(side)) return attributesOf(head);
      try {
        this.requests[side].tagging++;
        const tagging = await store.client.send(new GetObjectTaggingCommand(where));
        return attributesOf(head, tagging.TagSet ?? []);
      } catch (err) {
        if (!taggingUnsupported(err)) throw err;
        if (!this.taggingUnsupported.has(side)) {
          this.taggingUnsupported.add(side);
          this.#log.warn(
            { side, bucket: store.bucket, key: where.Key, err: errorMessage(err) },
            `the ${side} does not implement GetObjectTagging: tags are not compared, the rest is`,
          );
        }
        return attributesOf(head);
      }
    } catch (err) {
      const status = httpStatus(err);
      const error = `s3://${store.bucket}/${where.Key}: ${status === 404 ? 'gone since it was listed' : errorMessage(err)}${
        status !== undefined && status !== 404 ? ` (HTTP ${status})` : ''
      }`;
      this.#onFailure({ key, side, error });
      return undefined;
    }
  }
}
