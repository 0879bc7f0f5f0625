// The source store an integration test copies from, by name: moto (the same server as the AWS side) or
// Ceph RGW (a real second S3 store; test/helpers/ceph.ts). Tests loop over SOURCE_STORES and take the
// source bucket, the client to fill it and the worker's source settings from here, so one test body runs
// against both. The AWS side (SQS, destination S3, Secrets Manager) is always moto.
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { localClients, type LocalStack, type Resources } from '../../scripts/local-stack.ts';
import { cephClient, cephStore, uniqueBucket, type CephStore } from './ceph.ts';

export const SOURCE_STORES = ['moto', 'ceph'] as const;
export type SourceStoreName = (typeof SOURCE_STORES)[number];

type Teardown = { teardown(fn: () => unknown): void };

export type SourceSide = {
  store: SourceStoreName;
  /** Client on the source store, for filling and reading it. */
  s3: S3Client;
  /** The resources with sourceBucket on this store. */
  res: Resources;
  /** Extra CLI args for worker/lister/verify: the source's endpoint and rclone provider (no secrets). */
  args: string[];
  /** Environment for those commands: the source keys (moto's come from Secrets Manager instead). */
  env: Record<string, string>;
  ceph?: CephStore;
};

/**
 * The source side for `res` (made by createResources on `stack`): for moto, `res` as it is; for Ceph, a
 * fresh uniquely named bucket on the Ceph instance replaces res.sourceBucket.
 */
export async function sourceSide(
  t: Teardown,
  store: SourceStoreName,
  stack: LocalStack,
  res: Resources,
): Promise<SourceSide> {
  if (store === 'moto') return { store, s3: localClients(stack).s3, res, args: [], env: {} };
  const ceph = await cephStore(t);
  const s3 = cephClient(ceph);
  const bucket = uniqueBucket(res.sourceBucket);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    store,
    s3,
    res: { ...res, sourceBucket: bucket },
    args: ['--source-endpoint', ceph.endpoint, '--source-provider', 'Ceph', '--source-region', ceph.region],
    env: {
      RCLONE_MIGRATE_SOURCE_ACCESS_KEY_ID: ceph.accessKeyId,
      RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY: ceph.secretAccessKey,
    },
    ceph,
  };
}
