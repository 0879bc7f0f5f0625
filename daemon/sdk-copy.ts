// The second copy path, for keys rclone cannot address (`a//b`, a leading or trailing `/`, `.` and
// `..` segments): GetObject streamed into an upload (multipart above one part), byte for byte.
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ByteRate } from './byte-rate.ts';

/** A failed step of an SDK copy, naming the store that failed it; the SDK's error is the cause. */
export class SdkStepError extends Error {
  override name = 'SdkStepError';
  readonly store: 'source' | 'destination';
  constructor(store: 'source' | 'destination', step: string, cause: unknown) {
    super(`${store} ${step}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.store = store;
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
  signal?: AbortSignal;
  /** The worker's bandwidth cap (maxMiBPerSecond), shared by every SDK copy. */
  bandwidth?: ByteRate;
};

/**
 * Copies one object; returns the bytes read and their MD5 (hex), which the caller compares with a
 * plain-MD5 source ETag. Content type and user metadata travel with it.
 */
export async function sdkCopy(req: SdkCopyRequest): Promise<{ bytes: number; md5: string }> {
  const got = await req.source
    .send(new GetObjectCommand({ Bucket: req.srcBucket, Key: req.srcKey }), { abortSignal: req.signal })
    .catch((err: unknown) => {
      throw new SdkStepError('source', 'GetObject', err);
    });
  const body = got.Body as NodeJS.ReadableStream | undefined;
  if (!body) throw new Error('source GetObject returned no body');
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
  const metadata: Record<string, string> = { ...got.Metadata };
  const upload = new Upload({
    client: req.dest,
    partSize: req.partSizeBytes,
    queueSize: 4,
    leavePartsOnError: false,
    params: {
      Bucket: req.dstBucket,
      Key: req.dstKey,
      Body: hashing,
      ContentType: got.ContentType,
      ContentEncoding: got.ContentEncoding,
      CacheControl: got.CacheControl,
      ContentDisposition: got.ContentDisposition,
      ContentLanguage: got.ContentLanguage,
      Metadata: metadata,
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
