// The Ceph RGW source store for a test file: the one scripts/with-tools.ts started for the whole tap run
// (RCLONE_MIGRATE_TEST_CEPH_*), or, when a file runs alone without it, an instance of its own that ends
// with the file. Instances are shared, so every test uses bucket names of its own (uniqueBucket).
import { randomBytes } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { startCephRgw } from '../../scripts/ceph-rgw.ts';
import { TEST_CEPH_ENV } from '../../scripts/with-tools.ts';

export type CephStore = {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** True when this file started the instance itself (it ends at teardown). */
  own: boolean;
};

type Teardown = { teardown(fn: () => unknown): void };

/** The shared instance from the environment, if with-tools started one. */
export function sharedCeph(env: NodeJS.ProcessEnv = process.env): CephStore | undefined {
  const endpoint = env[TEST_CEPH_ENV.endpoint];
  if (!endpoint) return undefined;
  const accessKeyId = env[TEST_CEPH_ENV.accessKeyId];
  const secretAccessKey = env[TEST_CEPH_ENV.secretAccessKey];
  if (!accessKeyId || !secretAccessKey)
    throw new Error(
      `${TEST_CEPH_ENV.endpoint} is set but ${TEST_CEPH_ENV.accessKeyId}/${TEST_CEPH_ENV.secretAccessKey} are not`,
    );
  return { endpoint, accessKeyId, secretAccessKey, region: env[TEST_CEPH_ENV.region] || 'us-east-1', own: false };
}

export async function cephStore(t: Teardown): Promise<CephStore> {
  const shared = sharedCeph();
  if (shared) return shared;
  const rgw = await startCephRgw();
  t.teardown(() => rgw.stop());
  return {
    endpoint: rgw.endpoint,
    accessKeyId: rgw.accessKeyId,
    secretAccessKey: rgw.secretAccessKey,
    region: rgw.region,
    own: true,
  };
}

/**
 * A plain S3 client on the store, for filling and reading buckets in tests. It sends checksums only when
 * an operation requires them (RGW 16 answers 411 to the SDK's default streaming-checksum uploads).
 */
export function cephClient(store: CephStore): S3Client {
  return new S3Client({
    endpoint: store.endpoint,
    region: store.region,
    forcePathStyle: true,
    credentials: { accessKeyId: store.accessKeyId, secretAccessKey: store.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

/** A bucket name no other test on a shared instance uses (S3 rules: 3–63 lowercase letters, digits, '-'). */
export function uniqueBucket(label: string): string {
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .slice(0, 40);
  return `${clean}-${randomBytes(6).toString('hex')}`.replace(/^-+/, 'b');
}
