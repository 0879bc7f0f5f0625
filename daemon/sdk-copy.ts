// The SDK copy path: GetObject streamed into an upload (multipart above one part), byte for byte,
// with the whole object: system metadata, user metadata as the source returns it, and the tag set
// (sent with the upload, fetched only when the GET says there are tags). Also the only path for keys
// rclone cannot address (`a//b`, a leading or trailing `/`, `.` and `..` segments).
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { attributesOf, metadataHeaderValue, refusedByS3, taggingHeader } from '../shared/object-attributes.ts';
import { uploadControls, type DestControls } from './dest-controls.ts';
import type { SourceTags } from './source-tags.ts';
import type { ByteRate } from './byte-rate.ts';

/** A failed step of an SDK copy, naming the store that failed it; the SDK's error is the cause. */
export class SdkStepError extends Error {
  override name = 'SdkStepError';
  readonly store: 'source' | 'destination';
  readonly step: string;
  constructor(store: 'source' | 'destination', step: string, cause: unknown) {
    super(`${store} ${step}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.store = store;
    this.step = step;
  }
}

export type SdkCopyRequest = {
  source: S3Client;
  dest: S3Client;
  srcBucket: string;
  srcKey: string;
  dstBucket: string;
  dstKey: string;
  partSizeBytes: number;
  controls: DestControls;
  tags: SourceTags;
  signal?: AbortSignal;
  /** The worker's bandwidth cap (maxMiBPerSecond), shared by every SDK copy. */
  bandwidth?: ByteRate;
};

/** S3 refuses the object's attributes (checked before any byte is sent): the key fails with this reason. */
export class AttributesRefused extends Error {
  override name = 'AttributesRefused';
}

/**
 * Copies one object; returns the bytes read and their MD5 (hex), which the caller compares with a
 * plain-MD5 source ETag.
 */
export async function sdkCopy(req: SdkCopyRequest): Promise<{ bytes: number; md5: string }> {
  const got = await req.source
    .send(new GetObjectCommand({ Bucket: req.srcBucket, Key: req.srcKey }), { abortSignal: req.signal })
    .catch((err: unknown) => {
      throw new SdkStepError('source', 'GetObject', err);
    });
  const body = got.Body as (NodeJS.ReadableStream & { destroy?: () => void }) | undefined;
  if (!body) throw new Error('source GetObject returned no body');
  let tags: Record<string, string> | undefined;
  try {
    tags = req.tags.wanted(got.TagCount)
      ? await req.tags.read(req.source, req.srcBucket, req.srcKey, req.signal)
      : undefined;
    const refused = refusedByS3({ metadata: got.Metadata ?? {}, tags });
    if (refused) throw new AttributesRefused(`S3 would refuse this object: ${refused}`);
  } catch (err) {
    body.destroy?.();
    throw err;
  }
  const md5 = createHash('md5');
  let bytes = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, done) {
      md5.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  if (req.bandwidth) body.pipe(req.bandwidth.stream()).pipe(hashing);
  else body.pipe(hashing);
  const size = got.ContentLength ?? 0;
  const upload = new Upload({
    client: req.dest,
    partSize: req.partSizeBytes,
    queueSize: 4,
    leavePartsOnError: false,
    params: {
      Bucket: req.dstBucket,
      Key: req.dstKey,
      Body: hashing,
      ...uploadParams(got, tags),
      ...uploadControls(req.controls),
    },
  });
  const abort = () => void upload.abort();
  req.signal?.addEventListener('abort', abort, { once: true });
  try {
    await upload.done().catch((err: unknown) => {
      throw new SdkStepError('destination', 'upload', err);
    });
  } finally {
    req.signal?.removeEventListener('abort', abort);
  }
  if (bytes !== size) throw new Error(`read ${bytes} bytes from the source, which announced ${size}`);
  return { bytes, md5: md5.digest('hex') };
}

/**
 * The upload's attribute parameters from the source's GET answer: every system field it had, its user
 * metadata verbatim, the tags as the x-amz-tagging header (also on CreateMultipartUpload), nothing else.
 */
export function uploadParams(
  got: Parameters<typeof attributesOf>[0],
  tags: Record<string, string> | undefined,
): {
  ContentType?: string;
  CacheControl?: string;
  ContentDisposition?: string;
  ContentEncoding?: string;
  ContentLanguage?: string;
  Expires?: Date;
  WebsiteRedirectLocation?: string;
  Metadata: Record<string, string>;
  Tagging?: string;
} {
  const a = attributesOf(got);
  const expires = got.Expires && !Number.isNaN(got.Expires.getTime()) ? got.Expires : undefined;
  return {
    ...(a.contentType ? { ContentType: a.contentType } : {}),
    ...(a.cacheControl ? { CacheControl: a.cacheControl } : {}),
    ...(a.contentDisposition ? { ContentDisposition: a.contentDisposition } : {}),
    ...(a.contentEncoding ? { ContentEncoding: a.contentEncoding } : {}),
    ...(a.contentLanguage ? { ContentLanguage: a.contentLanguage } : {}),
    ...(expires ? { Expires: expires } : {}),
    ...(a.websiteRedirectLocation ? { WebsiteRedirectLocation: a.websiteRedirectLocation } : {}),
    // names as the SDK gives them (lower case, as HTTP has them); values as they are where ASCII, else
    // as the RFC 2047 words Amazon S3 decodes into the same UTF-8
    Metadata: Object.fromEntries(Object.entries(got.Metadata ?? {}).map(([k, v]) => [k, metadataHeaderValue(v)])),
    ...(taggingHeader(tags) ? { Tagging: taggingHeader(tags) } : {}),
  };
}
