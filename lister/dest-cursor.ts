// The destination listing that runs alongside a source range in incremental mode and verify: it
// fetches destination pages only as far as the source listing has got, so memory stays constant.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { BatchObject } from '../shared/message.ts';
import { bareEtag, compareKeys } from '../shared/key-order.ts';

export class DestCursor {
  readonly #s3: S3Client;
  readonly #bucket: string;
  /** Destination key = destPrefix + source key. */
  readonly #destPrefix: string;
  readonly #prefix: string;
  readonly #pageSize: number;
  #startAfter: string | undefined;
  #token: string | undefined;
  #exhausted = false;
  #buffer: BatchObject[] = [];
  requests = 0;

  constructor(
    s3: S3Client,
    options: { bucket: string; destPrefix: string; prefix: string; startAfter?: string; pageSize: number },
  ) {
    this.#s3 = s3;
    this.#bucket = options.bucket;
    this.#destPrefix = options.destPrefix;
    this.#prefix = options.prefix;
    this.#startAfter = options.startAfter;
    this.#pageSize = options.pageSize;
  }

  /** Destination objects (keyed by source key) up to and including `key`, each returned once. */
  async through(key: string): Promise<BatchObject[]> {
    while (
      !this.#exhausted &&
      (this.#buffer.length === 0 || compareKeys((this.#buffer.at(-1) as BatchObject).key, key) <= 0)
    ) {
      await this.#fetch();
    }
    let n = 0;
    while (n < this.#buffer.length && compareKeys((this.#buffer[n] as BatchObject).key, key) <= 0) n++;
    return this.#buffer.splice(0, n);
  }

  async #fetch(): Promise<void> {
    this.requests++;
    const out = await this.#s3.send(
      new ListObjectsV2Command({
        Bucket: this.#bucket,
        Prefix: this.#destPrefix + this.#prefix || undefined,
        MaxKeys: this.#pageSize,
        ...(this.#token
          ? { ContinuationToken: this.#token }
          : this.#startAfter !== undefined
            ? { StartAfter: this.#destPrefix + this.#startAfter }
            : {}),
      }),
    );
    for (const item of out.Contents ?? []) {
      if (item.Key === undefined || !item.Key.startsWith(this.#destPrefix)) continue;
      const object: BatchObject = { key: item.Key.slice(this.#destPrefix.length), size: item.Size ?? 0 };
      const etag = bareEtag(item.ETag);
      if (etag) object.etag = etag;
      this.#buffer.push(object);
    }
    this.#token = out.NextContinuationToken;
    if (!out.IsTruncated || !this.#token) this.#exhausted = true;
  }
}
