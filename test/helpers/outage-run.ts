// The shape the store-outage tests share: batches of small objects put at the source and sent one
// message at a time, then, after the outage, proof that every object arrived intact and none was
// dead-lettered, with the worker stopping cleanly.
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Test } from 'tap';
import type { Resources } from '../../scripts/local-stack.ts';
import { batch, content, enqueue, putObject, sha256, sha256Of, takeAll } from './queues.ts';
import { waitFor, type WorkerProcess } from './worker-process.ts';

export type OutageBatches = {
  bodies: Map<string, Buffer>;
  /** Sends batch m (its keys `<prefix><m>/<k>`) as one message. */
  send: (m: number) => Promise<void>;
};

/** `messages` batches of `perMessage` objects of about `size` bytes, put at the source. */
export async function outageBatches(
  clients: { s3: S3Client; sqs: SQSClient },
  res: Resources,
  shape: { prefix: string; messages: number; perMessage: number; size: number },
): Promise<OutageBatches> {
  const bodies = new Map<string, Buffer>();
  for (let m = 0; m < shape.messages; m++)
    for (let k = 0; k < shape.perMessage; k++)
      bodies.set(`${shape.prefix}${m}/${k}`, content(shape.size + k, `${m}/${k}`));
  for (const [key, body] of bodies) await putObject(clients.s3, res.sourceBucket, key, body);
  return {
    bodies,
    send: async (m) => {
      const keys = [...bodies]
        .filter(([key]) => key.startsWith(`${shape.prefix}${m}/`))
        .map(([key, b]) => ({ key, size: b.length }));
      await enqueue(clients.sqs, res.queueUrl, batch(res, keys));
    },
  };
}

/** After the store is back: receiving resumed, every object copied byte for byte, nothing dead-lettered. */
export async function expectAllCopied(
  t: Test,
  worker: WorkerProcess,
  clients: { s3: S3Client; sqs: SQSClient },
  res: Resources,
  bodies: Map<string, Buffer>,
): Promise<void> {
  await waitFor(
    'every object copied',
    async () => (await worker.metric('rclone_migrate_objects_copied_total')) >= bodies.size,
    120_000,
  );
  t.equal(await worker.metric('rclone_migrate_stores_unreachable'), 0, 'receiving resumed');
  for (const [key, body] of bodies) t.equal(await sha256Of(clients.s3, res.destBucket, key), sha256(body), key);
  t.same(await takeAll(clients.sqs, res.deadLetterUrl, 0), [], 'nothing dead-lettered');
  t.equal(await worker.metric('rclone_migrate_objects_dead_lettered_total'), 0);
  t.equal((await worker.stop()).code, 0);
}
