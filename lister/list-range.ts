// Listing one key range page by page with ListObjectsV2. A range is (after, upTo]: keys strictly
// after `after` (from the start of the prefix when undefined) up to and including `upTo` (to the end
// when undefined). Ranges that tile the key space list every key exactly once.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import type { BatchObject } from '../shared/message.ts';
import { bareEtag, compareKeys } from './keys.ts';

export type KeyRange = { after?: string; upTo?: string };

export type Page = {
  objects: BatchObject[];
  /** The last key of the page within the range: where a resumed listing starts after. */
  lastKey?: string;
};

export type ListOptions = {
  bucket: string;
  prefix: string;
  /** Keys per ListObjectsV2 call (S3 returns at most 1,000). */
  pageSize?: number;
  signal?: AbortSignal;
};

export async function* listRange(s3: S3Client, range: KeyRange, options: ListOptions): AsyncGenerator<Page> {
  let token: string | undefined;
  for (;;) {
    const out = await s3.send(
      new ListObjectsV2Command({
        Bucket: options.bucket,
        Prefix: options.prefix || undefined,
        MaxKeys: options.pageSize ?? 1000,
        ...(token ? { ContinuationToken: token } : range.after !== undefined ? { StartAfter: range.after } : {}),
      }),
      { abortSignal: options.signal },
    );
    const objects: BatchObject[] = [];
    let beyond = false;
    for (const item of out.Contents ?? []) {
      const key = item.Key;
      if (key === undefined) continue;
      if (range.upTo !== undefined && compareKeys(key, range.upTo) > 0) {
        beyond = true;
        break;
      }
      const object: BatchObject = { key, size: item.Size ?? 0 };
      const etag = bareEtag(item.ETag);
      if (etag) object.etag = etag;
      objects.push(object);
    }
    const last = objects.at(-1);
    yield last ? { objects, lastKey: last.key } : { objects };
    token = out.NextContinuationToken;
    if (beyond || !out.IsTruncated || !token) return;
  }
}
