// Fills the source bucket once per bench: the copiers all read the same objects, and only the
// destination is cleared between runs.
import { randomBytes } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { bareEtag } from '../../shared/key-order.ts';
import type { BatchObject } from '../../shared/message.ts';
import { forEachLimit } from '../for-each-limit.ts';

/** `count` objects of `size` random bytes under `prefix`, written `concurrency` at a time. */
export async function seedObjects(
  s3: S3Client,
  bucket: string,
  options: { prefix: string; count: number; size: number; concurrency: number },
): Promise<BatchObject[]> {
  const keys = Array.from({ length: options.count }, (_, i) => `${options.prefix}${String(i).padStart(6, '0')}`);
  const objects = new Map<string, BatchObject>();
  // Large objects share one random buffer, each made unique by its first bytes: generating a
  // fresh 256 MiB per object costs seconds and memory for nothing.
  const shared = options.size > 1024 * 1024 ? randomBytes(options.size) : undefined;
  await forEachLimit(keys, shared ? 1 : options.concurrency, async (key) => {
    let body: Buffer;
    if (shared) {
      shared.write(`${key}:`.padEnd(32, '.'), 0, 'latin1');
      body = shared;
    } else {
      body = randomBytes(options.size);
    }
    const answer = await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }),
    );
    const etag = bareEtag(answer.ETag);
    objects.set(key, etag ? { key, size: options.size, etag } : { key, size: options.size });
  });
  return keys.map((k) => objects.get(k) as BatchObject);
}
