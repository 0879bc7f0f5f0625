// The ceiling: the same queue consumed by a direct S3 SDK copy loop at the agent's concurrency,
// GetObject → PutObject, or a streamed multipart Upload above the cutoff. No verification beyond the
// SDK's own, no child processes: what the stack allows, not what a careful copier does.
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { destS3Client, sourceS3Client } from '../../shared/aws.ts';
import { runWorkerLoop } from './worker-loop.ts';

const env = process.env;
const concurrency = Number(env.BENCH_CONCURRENCY || 24);
const cutoff = Number(env.BENCH_MULTIPART_CUTOFF || 200 * 1024 * 1024);
const partSize = Number(env.BENCH_PART_SIZE || 16 * 1024 * 1024);
const source = sourceS3Client(
  {
    endpoint: env.BENCH_SOURCE_ENDPOINT ?? '',
    accessKeyId: env.BENCH_SOURCE_ACCESS_KEY_ID ?? '',
    secretAccessKey: env.BENCH_SOURCE_SECRET_ACCESS_KEY ?? '',
  },
  { region: env.BENCH_SOURCE_REGION ?? env.AWS_REGION ?? 'us-east-1', forcePathStyle: true },
);
// The destination's keys come by the SDK's chain (AWS_ACCESS_KEY_ID), its checksum setting by AWS_REQUEST_CHECKSUM_CALCULATION.
const dest = destS3Client({ region: env.AWS_REGION, endpoint: env.BENCH_DEST_ENDPOINT || env.AWS_ENDPOINT_URL });

// A global limit across messages: `concurrency` copies at once, however the keys are batched.
let running = 0;
const waiting: Array<() => void> = [];
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  while (running >= concurrency) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

await runWorkerLoop({
  queueUrl: env.BENCH_QUEUE_URL ?? '',
  receiveMax: 10,
  keysAtOnce: concurrency,
  // Enough batches held that the slots never wait on a receive, even at a batch boundary.
  messagesInFlight: Math.ceil((concurrency * 3) / 20) + 1,
  copy: (message, object, key) =>
    limited(async () => {
      const got = await source.send(new GetObjectCommand({ Bucket: message.source.bucket, Key: object.key }));
      const size = got.ContentLength ?? object.size ?? 0;
      if (size < cutoff) {
        const body = await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
        await dest.send(
          new PutObjectCommand({ Bucket: message.dest.bucket, Key: key, Body: body, ContentLength: body.length }),
        );
      } else {
        await new Upload({
          client: dest,
          params: { Bucket: message.dest.bucket, Key: key, Body: got.Body as Readable },
          partSize,
          queueSize: 4,
        }).done();
      }
    }),
});
