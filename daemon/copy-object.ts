// What copying one object is: pick the path (rclone, or the SDK for keys rclone cannot address),
// copy, then verify the destination. Failures come back as typed CopyErrors with their context.
import type { S3Client } from '@aws-sdk/client-s3';
import { CopyError, errorMessage, type CopyFailureKind } from '../shared/errors.ts';
import { destKey, type BatchMessage, type BatchObject } from '../shared/message.ts';
import { rcloneCanAddress } from '../shared/s3-names.ts';
import type { CopyRequest } from './rclone-pool.ts';
import { sdkCopy } from './sdk-copy.ts';
import { headObject, mismatch } from './verify.ts';

export type Copier = {
  rcloneCopy(req: CopyRequest): Promise<void>;
  /** The source client (rebuilt when credentials change) and the destination client. */
  source(): S3Client;
  dest: S3Client;
  partSizeBytes: number;
  verifyEtag: boolean;
};

export type Copied = { bytes: number; path: 'rclone' | 'sdk' };

/** `firstDelivery`: the message is new (attempt 1, received once), so the destination is presumed absent. */
export async function copyObject(
  copier: Copier,
  message: BatchMessage,
  object: BatchObject,
  signal: AbortSignal,
  firstDelivery = false,
): Promise<Copied> {
  const where = { bucket: message.source.bucket, key: object.key, attempt: message.attempt };
  const target = destKey(message, object.key);
  const viaRclone = rcloneCanAddress(object.key) && rcloneCanAddress(target);
  let readMd5: string | undefined;
  try {
    if (viaRclone) {
      await copier.rcloneCopy({
        srcBucket: message.source.bucket,
        srcKey: object.key,
        dstBucket: message.dest.bucket,
        dstKey: target,
        presumeAbsent: firstDelivery,
        signal,
      });
    } else {
      readMd5 = (
        await sdkCopy({
          source: copier.source(),
          dest: copier.dest,
          srcBucket: message.source.bucket,
          srcKey: object.key,
          dstBucket: message.dest.bucket,
          dstKey: target,
          partSizeBytes: copier.partSizeBytes,
          signal,
        })
      ).md5;
    }
  } catch (err) {
    if (err instanceof CopyError) throw new CopyError(err.kind, err.message, where);
    throw new CopyError(signal.aborted ? 'aborted' : classifySdkError(err), errorMessage(err), where);
  }
  const bytes = await verifyCopy(copier, message, object, target, readMd5, signal).catch((err: unknown) => {
    if (err instanceof CopyError) throw err;
    throw new CopyError(signal.aborted ? 'aborted' : 'verify', `verification failed: ${errorMessage(err)}`, where);
  });
  return { bytes, path: viaRclone ? 'rclone' : 'sdk' };
}

/**
 * HEADs the destination and compares it with the listing. Where they differ, the source may have
 * changed since it was listed: the destination is then compared with the source as it is now.
 */
async function verifyCopy(
  copier: Copier,
  message: BatchMessage,
  object: BatchObject,
  target: string,
  readMd5: string | undefined,
  signal: AbortSignal,
): Promise<number> {
  const where = { bucket: message.dest.bucket, key: target, attempt: message.attempt };
  const actual = await headObject(copier.dest, message.dest.bucket, target, signal);
  if (!actual) throw new CopyError('verify', 'copy reported success but the destination object does not exist', where);
  if (
    readMd5 &&
    object.etag &&
    mismatch({ etag: object.etag }, { size: actual.size, etag: readMd5 }, copier.verifyEtag)
  ) {
    throw new CopyError('verify', `bytes read have MD5 ${readMd5}, the source ETag is ${object.etag}`, where);
  }
  // A message without sizes (hand-made, say) is checked against the source as it is now.
  const listed =
    object.size === undefined ? await headObject(copier.source(), message.source.bucket, object.key, signal) : object;
  if (!listed) throw new CopyError('not_found', 'the source object no longer exists', where);
  let problem = mismatch(listed, actual, copier.verifyEtag);
  if (problem && object.size !== undefined) {
    const current = await headObject(copier.source(), message.source.bucket, object.key, signal);
    if (!current) throw new CopyError('not_found', 'the source object no longer exists', where);
    const again = mismatch({ size: current.size, etag: current.etag }, actual, copier.verifyEtag);
    problem = again ? `${again} (source changed since it was listed)` : undefined;
  }
  if (problem) throw new CopyError('verify', problem, where);
  return actual.size;
}

function classifySdkError(err: unknown): CopyFailureKind {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e.$metadata?.httpStatusCode;
  if (e.name === 'NoSuchKey' || status === 404) return 'not_found';
  if (status === 401 || status === 403 || e.name === 'InvalidAccessKeyId' || e.name === 'SignatureDoesNotMatch') {
    return 'auth';
  }
  return 'copy';
}
