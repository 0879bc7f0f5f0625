// The object stores a bench round copies between: both buckets on the moto server (the round kept for
// continuity), or both on one Ceph RGW as two users with their own keys (so source and destination are
// distinct remotes and a copy cannot be server-side). SQS stays on moto either way.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { Agent } from 'node:http';
import { LOCAL_CREDENTIALS, LOCAL_REGION, type LocalStack } from '../local-stack.ts';
import { createRgwUser, startCephRgw, type CephRgw } from '../ceph-rgw.ts';
import type { Remote } from './rclone-env.ts';
import { bounded } from './bounded.ts';
import { readRss } from './procfs.ts';

export type StoreName = 'moto' | 'ceph';
export const STORE_NAMES: readonly StoreName[] = ['moto', 'ceph'];

/** A destination as the copiers need it: where, whose keys, and whether uploads must skip the SDK's default checksums. */
export type DestStore = Remote & {
  /** RGW 16 answers 411 to the SDK's default streaming-checksum uploads: AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED. */
  checksumsWhenRequired: boolean;
};

export type BenchStore = {
  name: StoreName;
  /** The source as reached directly (the latency runs put the proxy in front of `source.endpoint`). */
  source: Remote;
  dest: DestStore;
  sourceS3: S3Client;
  destS3: S3Client;
  sourceBucket: string;
  destBucket: string;
  /** Processes serving the buckets, whose CPU each run reports (moto's is counted apart). */
  serverPids: number[];
  /** A line for the notes: what the store is. */
  describe: string;
  /** Memory the store's data takes (Ceph: the memstore OSD's RSS), for the log: deleted data must be freed. */
  usedBytes?: () => number;
  stop(): Promise<void>;
};

/**
 * A bench S3 client with bounded requests: a store that stops answering fails the step instead of
 * holding the bench (the hang of the first attempt at this round was a wait with no bound).
 */
export function benchS3Client(remote: Remote, whenRequired: boolean): S3Client {
  return new S3Client({
    endpoint: remote.endpoint,
    region: remote.region,
    forcePathStyle: true,
    credentials: { accessKeyId: remote.accessKeyId, secretAccessKey: remote.secretAccessKey },
    maxAttempts: 3,
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }),
      connectionTimeout: 5_000,
      // No byte for this long on an open request: given up (a 256 MiB seed PUT keeps bytes moving).
      socketTimeout: 60_000,
      requestTimeout: 300_000,
      throwOnRequestTimeout: true,
    }),
    ...(whenRequired
      ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const }
      : {}),
  });
}

/** Both buckets on the moto server that also serves SQS. */
export async function motoStore(stack: LocalStack, buckets: { source: string; dest: string }): Promise<BenchStore> {
  const remote: Remote = { ...LOCAL_CREDENTIALS, region: LOCAL_REGION, endpoint: stack.endpoint };
  const s3 = benchS3Client(remote, false);
  return {
    name: 'moto',
    source: remote,
    dest: { ...remote, checksumsWhenRequired: false },
    sourceS3: s3,
    destS3: s3,
    sourceBucket: buckets.source,
    destBucket: buckets.dest,
    serverPids: [],
    describe: 'both buckets and SQS on one moto server',
    stop: async () => s3.destroy(),
  };
}

/** Settings of the bench's RGW: deleted objects' data freed within seconds, not RGW's default two hours. */
export const BENCH_RGW_SETTINGS = {
  // Without these, every large run's deleted destination stays in memstore (RAM) until the OSD is full,
  // and a full OSD blocks writes and deletes: a wait without end.
  'rgw gc obj min wait': '0',
  'rgw gc processor period': '10',
  'rgw gc processor max time': '10',
};

/**
 * One Ceph RGW with two users: the source bucket belongs to the instance's own user, the destination
 * bucket to a second one created with radosgw-admin. Everything it starts is ended by `stop`, bounded.
 */
export async function cephStore(options: {
  say: (line: string) => void;
  memstoreBytes: number;
  buckets: { source: string; dest: string };
}): Promise<BenchStore> {
  const rgw: CephRgw = await startCephRgw({
    say: (line) => options.say(`ceph: ${line}`),
    memstoreBytes: options.memstoreBytes,
    rgwSettings: BENCH_RGW_SETTINGS,
    timeoutMs: 120_000,
  });
  const stopRgw = () => bounded(rgw.stop(), 30_000, 'stopping Ceph');
  try {
    const user = await createRgwUser(rgw, 'bench-dest');
    const source: Remote = {
      endpoint: rgw.endpoint,
      accessKeyId: rgw.accessKeyId,
      secretAccessKey: rgw.secretAccessKey,
      region: rgw.region,
    };
    const dest: DestStore = {
      endpoint: rgw.endpoint,
      accessKeyId: user.accessKeyId,
      secretAccessKey: user.secretAccessKey,
      region: rgw.region,
      checksumsWhenRequired: true,
    };
    const sourceS3 = benchS3Client(source, true);
    const destS3 = benchS3Client(dest, true);
    await bounded(
      sourceS3.send(new CreateBucketCommand({ Bucket: options.buckets.source })),
      30_000,
      'create source bucket',
    );
    await bounded(destS3.send(new CreateBucketCommand({ Bucket: options.buckets.dest })), 30_000, 'create dest bucket');
    return {
      name: 'ceph',
      source,
      dest,
      sourceS3,
      destS3,
      sourceBucket: options.buckets.source,
      destBucket: options.buckets.dest,
      serverPids: [rgw.pids.rgw, rgw.pids.osd, rgw.pids.mon],
      // memstore keeps every object in the OSD's memory: its RSS is what the store holds.
      usedBytes: () => readRss(rgw.pids.osd) ?? Number.NaN,
      describe:
        'both buckets on one Ceph RGW 16 (memstore OSD), source and destination owned by two RGW users with their own keys; SQS on moto',
      async stop() {
        sourceS3.destroy();
        destS3.destroy();
        await stopRgw();
      },
    };
  } catch (err) {
    await stopRgw().catch(() => undefined);
    throw err;
  }
}
