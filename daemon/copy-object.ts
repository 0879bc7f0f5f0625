// What copying one object is: pick the path (rclone, or the SDK for keys rclone cannot address)
// and copy. Failures come back as typed CopyErrors with their context. Verifying the destination
// is the batch's next step (verify-batch.ts).
import type { S3Client } from '@aws-sdk/client-s3';
import { CopyError } from '../shared/errors.ts';
import { destKey, type BatchMessage, type BatchObject } from '../shared/message.ts';
import { rcloneCanAddress } from '../shared/s3-names.ts';
import type { CopyRequest } from './rclone-pool.ts';
import { sdkCopy } from './sdk-copy.ts';
import { classifySdkError, describeSdkError } from './sdk-errors.ts';
import { mismatch } from './verify.ts';

export type Copier = {
  rcloneCopy(req: CopyRequest): Promise<void>;
  /** The source client (rebuilt when credentials change) and the destination client. */
  source(): S3Client;
  dest: S3Client;
  partSizeBytes: number;
  verifyEtag: boolean;
};

/** A copy made, not yet verified: `target` is the destination key. */
export type Copied = { object: BatchObject; target: string; path: 'rclone' | 'sdk' };

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
      const { md5 } = await sdkCopy({
        source: copier.source(),
        dest: copier.dest,
        srcBucket: message.source.bucket,
        srcKey: object.key,
        dstBucket: message.dest.bucket,
        dstKey: target,
        partSizeBytes: copier.partSizeBytes,
        signal,
      });
      // The SDK path hashed the bytes it read: they must be what the source listed.
      if (md5 && object.etag && mismatch({ etag: object.etag }, { size: 0, etag: md5 }, copier.verifyEtag)) {
        throw new CopyError('verify', `bytes read have MD5 ${md5}, the source ETag is ${object.etag}`, where);
      }
    }
  } catch (err) {
    if (err instanceof CopyError) throw new CopyError(err.kind, err.message, { ...where, store: err.store });
    throw new CopyError(signal.aborted ? 'aborted' : classifySdkError(err, 'copy'), describeSdkError(err), where);
  }
  return { object, target, path: viaRclone ? 'rclone' : 'sdk' };
}
