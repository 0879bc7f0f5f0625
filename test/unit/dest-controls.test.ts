import t from 'tap';
import { DEFAULT_CONTROLS, rcloneControls, uploadControls } from '../../daemon/dest-controls.ts';
import { destSettings, childArgs } from '../../daemon/rclone-env.ts';

t.test("S3's defaults send nothing", async (t) => {
  t.same(uploadControls(DEFAULT_CONTROLS), {});
  t.same(rcloneControls(DEFAULT_CONTROLS), {});
});

t.test('storage class and encryption map onto SDK parameters and rclone options alike', async (t) => {
  const kms = { storageClass: 'DEEP_ARCHIVE', sse: 'SSE-KMS', sseKmsKeyId: 'alias/m', sseBucketKey: false } as const;
  t.same(uploadControls(kms), {
    StorageClass: 'DEEP_ARCHIVE',
    ServerSideEncryption: 'aws:kms',
    SSEKMSKeyId: 'alias/m',
    BucketKeyEnabled: false,
  });
  t.same(rcloneControls(kms), {
    storage_class: 'DEEP_ARCHIVE',
    server_side_encryption: 'aws:kms',
    sse_kms_key_id: 'alias/m',
  });
  const s3 = { ...DEFAULT_CONTROLS, sse: 'SSE-S3' } as const;
  t.same(uploadControls(s3), { ServerSideEncryption: 'AES256' });
  t.same(rcloneControls(s3), { server_side_encryption: 'AES256' });
  t.same(
    uploadControls({ ...DEFAULT_CONTROLS, sse: 'SSE-KMS' }),
    { ServerSideEncryption: 'aws:kms', BucketKeyEnabled: true },
    'aws/s3',
  );
});

t.test('the destination remote carries them; an explicit rclone option still wins', async (t) => {
  const settings = destSettings(
    {
      endpoint: '',
      region: 'eu-west-1',
      options: { storage_class: 'STANDARD' },
      controls: { ...DEFAULT_CONTROLS, storageClass: 'GLACIER', sse: 'SSE-S3' },
    },
    {},
  );
  t.equal(settings.server_side_encryption, 'AES256');
  t.equal(settings.storage_class, 'STANDARD', 'dest.rcloneOptions override');
  t.ok(childArgs({ transfersPerChild: 1, flags: [], baseEnv: {} }).includes('--metadata'), 'rclone carries metadata');
});
