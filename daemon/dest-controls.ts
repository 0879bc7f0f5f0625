// What the destination is told about every object written: its storage class and server-side
// encryption, the same on both copy paths. Pure mappings from the settings to the SDK's upload
// parameters and to rclone's s3 remote options.
import type { SseMode, StorageClass } from '../shared/config.ts';

export type DestControls = {
  storageClass: StorageClass;
  sse: SseMode;
  /** With SSE-KMS; empty: the AWS managed key aws/s3. */
  sseKmsKeyId: string;
  sseBucketKey: boolean;
};

/** What S3 does with no headers at all: STANDARD, and the bucket's default encryption. */
export const DEFAULT_CONTROLS: DestControls = {
  storageClass: 'STANDARD',
  sse: 'bucket',
  sseKmsKeyId: '',
  sseBucketKey: true,
};

export type UploadControls = {
  StorageClass?: StorageClass;
  ServerSideEncryption?: 'AES256' | 'aws:kms';
  SSEKMSKeyId?: string;
  BucketKeyEnabled?: boolean;
};

/** PutObject / CreateMultipartUpload parameters; nothing is sent where S3's default is what was asked. */
export function uploadControls(c: DestControls): UploadControls {
  const out: UploadControls = {};
  if (c.storageClass !== 'STANDARD') out.StorageClass = c.storageClass;
  if (c.sse === 'SSE-S3') out.ServerSideEncryption = 'AES256';
  if (c.sse === 'SSE-KMS') {
    out.ServerSideEncryption = 'aws:kms';
    if (c.sseKmsKeyId) out.SSEKMSKeyId = c.sseKmsKeyId;
    out.BucketKeyEnabled = c.sseBucketKey;
  }
  return out;
}

/**
 * rclone s3 remote options for the same. rclone 1.75 has no bucket-key option: on the rclone path the
 * bucket's own Bucket Key setting applies.
 */
export function rcloneControls(c: DestControls): Record<string, string> {
  const out: Record<string, string> = {};
  if (c.storageClass !== 'STANDARD') out.storage_class = c.storageClass;
  if (c.sse === 'SSE-S3') out.server_side_encryption = 'AES256';
  if (c.sse === 'SSE-KMS') {
    out.server_side_encryption = 'aws:kms';
    if (c.sseKmsKeyId) out.sse_kms_key_id = c.sseKmsKeyId;
  }
  return out;
}
