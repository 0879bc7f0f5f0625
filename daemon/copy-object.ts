// What copying one object is: pick the path (rclone, or the SDK for keys rclone cannot address)
// and copy. Failures come back as typed CopyErrors with their context. Verifying the destination
// is the batch's next step (verify-batch.ts).
import type { S3Client } from '@aws-sdk/client-s3';
import { CopyError } from '../shared/errors.ts';
import { destKey, type BatchMessage, type BatchObject } from '../shared/message.ts';
import { rcloneCanAddress } from '../shared/s3-names.ts';
import { refusedByS3, taggingHeader } from '../shared/object-attributes.ts';
import type { DestControls } from './dest-controls.ts';
import type { CopyRequest } from './rclone-pool.ts';
import { AttributesRefused, sdkCopy } from './sdk-copy.ts';
import type { SourceTags } from './source-tags.ts';
import { classifySdkError, describeSdkError } from './sdk-errors.ts';
import { mismatch } from './verify.ts';

export type Copier = {
  rcloneCopy(req: CopyRequest): Promise<void>;
  /** The source client (rebuilt when credentials change) and the destination client. */
  source(): S3Client;
  dest: S3Client;
  partSizeBytes: number;
  verifyEtag: boolean;
  /** Who copies keys rclone can address (config worker.copyPath). */
  copyPath: 'sdk' | 'rclone';
  controls: DestControls;
  tags: SourceTags;
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
  const viaRclone = copier.copyPath === 'rclone' && rcloneCanAddress(object.key) && rcloneCanAddress(target);
  try {
    if (viaRclone) {
      // rclone never reads tags and its GET answer is not ours to see: one GetObjectTagging per object
      // (a HEAD would cost the same and still need it where there are tags), before the bytes move;
      // the tags then travel with rclone's upload (x-amz-tagging through --metadata-set).
      const tags = await copier.tags.read(copier.source(), message.source.bucket, object.key, signal);
      const refused = refusedByS3({ metadata: {}, tags });
      if (refused) throw new CopyError('refused', `S3 would refuse this object: ${refused}`, where);
      await copier.rcloneCopy({
        srcBucket: message.source.bucket,
        srcKey: object.key,
        dstBucket: message.dest.bucket,
        dstKey: target,
        presumeAbsent: firstDelivery,
        tagging: taggingHeader(tags),
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
        controls: copier.controls,
        tags: copier.tags,
        signal,
      });
      // The SDK path hashed the bytes it read: they must be what the source listed.
      if (md5 && object.etag && mismatch({ etag: object.etag }, { size: 0, etag: md5 }, copier.verifyEtag)) {
        throw new CopyError('verify', `bytes read have MD5 ${md5}, the source ETag is ${object.etag}`, where);
      }
    }
  } catch (err) {
    if (err instanceof CopyError) throw new CopyError(err.kind, err.message, { ...where, store: err.store });
    if (err instanceof AttributesRefused) throw new CopyError('refused', err.message, where);
    const kind = signal.aborted ? 'aborted' : classifySdkError(err, 'copy');
    // a refusal names what was refused: S3's error code says it (MetadataTooLarge, InvalidTag, ...)
    const text = kind === 'refused' ? `S3 refused the object: ${describeSdkError(err)}` : describeSdkError(err);
    throw new CopyError(kind, text, where);
  }
  return { object, target, path: viaRclone ? 'rclone' : 'sdk' };
}
