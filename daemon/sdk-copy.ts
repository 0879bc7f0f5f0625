// The SDK copy path, and which way it copies: an object listed as more than one part goes by ranged
// parts copied in parallel (ranged-copy.ts; this GET is its part 1), anything else as one GET
// streamed into an upload (multipart above one part, when the listed size was absent or wrong),
// byte for byte, with the whole object: system metadata, user metadata as the source returns it, and
// the tag set (sent with the upload, fetched only when the GET says there are tags). Also the only
// path for keys rclone cannot address (`a//b`, a leading or trailing `/`, `.` and `..` segments).
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { GetObjectCommand, type GetObjectCommandOutput } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { httpStatus } from '../shared/errors.ts';
import { attributesOf, metadataHeaderValue, refusedByS3, taggingHeader } from '../shared/object-attributes.ts';
import { uploadControls, type DestControls, type UploadControls } from './dest-controls.ts';
import { choosePartSize, parseContentRange, rangeHeader, usesRangedCopy } from './part-plan.ts';
import { rangedCopy, type CopyEnds } from './ranged-copy.ts';
import { SdkStepError } from './sdk-errors.ts';
import type { SourceTags } from './source-tags.ts';
import type { ByteRate } from './byte-rate.ts';

export { SdkStepError };

/** Parts of one object copied at once when the setting is not given (worker.sdkPartConcurrency). */
export const DEFAULT_PART_CONCURRENCY = 4;

export type SdkCopyRequest = CopyEnds & {
  partSizeBytes: number;
  /** Parts of one object copied at once (ranged GETs and UploadParts); default DEFAULT_PART_CONCURRENCY. */
  partConcurrency?: number;
  /** The size the listing gave: above one part, the object goes by ranged parts. */
  listedSize?: number;
  /** Compare MD5s where they are comparable (worker.verifyEtag); default true. */
  verifyEtag?: boolean;
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

/** What the upload is created with: the object's attributes and the destination's controls. */
export type UploadParams = ReturnType<typeof uploadParams> & UploadControls;

/**
 * Copies one object; returns the bytes read and, on the one-stream path, their MD5 (hex), which the
 * caller compares with a plain-MD5 source ETag (the ranged path checks each part's MD5 instead).
 */
export async function sdkCopy(req: SdkCopyRequest): Promise<{ bytes: number; md5?: string }> {
  const concurrency = req.partConcurrency ?? DEFAULT_PART_CONCURRENCY;
  const partBytes = usesRangedCopy(req.listedSize, req.partSizeBytes)
    ? choosePartSize(req.listedSize as number, req.partSizeBytes, concurrency)
    : undefined;
  const got = await firstGet(req, partBytes);
  const body = got.Body as (Readable & { destroy?: () => void }) | undefined;
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
  const params: UploadParams = { ...uploadParams(got, tags), ...uploadControls(req.controls) };
  const range = partBytes === undefined ? undefined : parseContentRange(got.ContentRange);
  // more than this answer holds: the rest by ranged parts (else the object fit in part 1 after all,
  // or the store ignored Range and sent it whole)
  if (partBytes !== undefined && range && range.total > range.end + 1) {
    if (range.start !== 0 || range.end + 1 !== partBytes) {
      body.destroy?.();
      throw new SdkStepError('source', 'GetObject part 1', new Error(`answered bytes ${got.ContentRange}`));
    }
    if (!got.ETag) {
      body.destroy?.();
      throw new SdkStepError('source', 'GetObject part 1', new Error('no ETag to tie the other parts to'));
    }
    return rangedCopy({
      ...req,
      partBytes,
      concurrency,
      params,
      // SSE-KMS part ETags are no MD5s
      verifyParts: (req.verifyEtag ?? true) && req.controls.sse !== 'SSE-KMS',
      first: { body, total: range.total, etag: got.ETag },
    });
  }
  return streamUpload(req, got, body, params, concurrency);
}

/** The first GET: part 1 when the object goes by parts (an empty object answers 416 to that: again whole). */
async function firstGet(req: SdkCopyRequest, partBytes: number | undefined): Promise<GetObjectCommandOutput> {
  const get = (range: string | undefined) =>
    req.source.send(new GetObjectCommand({ Bucket: req.srcBucket, Key: req.srcKey, Range: range }), {
      abortSignal: req.signal,
    });
  try {
    if (partBytes === undefined) return await get(undefined);
    return await get(rangeHeader({ start: 0, end: partBytes - 1 })).catch((err: unknown) => {
      if (httpStatus(err) === 416) return get(undefined);
      throw err;
    });
  } catch (err) {
    throw new SdkStepError('source', 'GetObject', err);
  }
}

/** One GET stream into lib-storage's Upload: PutObject within a part, else multipart, hashing as it goes. */
async function streamUpload(
  req: SdkCopyRequest,
  got: GetObjectCommandOutput,
  body: Readable,
  params: UploadParams,
  concurrency: number,
): Promise<{ bytes: number; md5: string }> {
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
    partSize: Math.max(req.partSizeBytes, 5 * 1024 * 1024),
    queueSize: concurrency,
    leavePartsOnError: false,
    params: { Bucket: req.dstBucket, Key: req.dstKey, Body: hashing, ...params },
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
