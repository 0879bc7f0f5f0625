// The queue and bucket chores between runs: enqueue the batches, wait for the queue to drain,
// empty the destination, and check what landed.
import { DeleteObjectsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { encodeMessage, MESSAGE_VERSION, type BatchMessage, type BatchObject } from '../../shared/message.ts';
import { forEachLimit } from '../for-each-limit.ts';
import { queueDepth, total } from '../queue-drain.ts';

export function batchMessages(
  objects: readonly BatchObject[],
  options: { job: string; sourceBucket: string; destBucket: string; destPrefix?: string; batchSize: number },
): BatchMessage[] {
  const out: BatchMessage[] = [];
  for (let i = 0; i < objects.length; i += options.batchSize) {
    out.push({
      v: MESSAGE_VERSION,
      job: options.job,
      source: { bucket: options.sourceBucket },
      dest: options.destPrefix
        ? { bucket: options.destBucket, prefix: options.destPrefix }
        : { bucket: options.destBucket },
      attempt: 1,
      objects: objects.slice(i, i + options.batchSize),
    });
  }
  return out;
}

/**
 * A fresh work queue and dead-letter queue for one run. Runs never share a queue: a copier that was
 * stopped can leave a long poll open at the server, which would take the next run's first messages
 * and hide them for a whole visibility timeout.
 */
export async function createQueuePair(
  sqs: SQSClient,
  name: string,
  options: { visibilitySeconds: number; maxReceiveCount: number },
): Promise<{ queueUrl: string; deadLetterUrl: string }> {
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }));
  const main = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(options.visibilitySeconds),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: attrs.Attributes?.QueueArn,
          maxReceiveCount: options.maxReceiveCount,
        }),
      },
    }),
  );
  return { queueUrl: main.QueueUrl as string, deadLetterUrl: dlq.QueueUrl as string };
}

export async function deleteQueues(sqs: SQSClient, urls: readonly string[]): Promise<void> {
  for (const QueueUrl of urls) await sqs.send(new DeleteQueueCommand({ QueueUrl }));
}

/** Sends the messages ten to a SendMessageBatch call, a few calls at once. */
export async function enqueue(sqs: SQSClient, queueUrl: string, messages: readonly BatchMessage[]): Promise<void> {
  const groups: BatchMessage[][] = [];
  for (let i = 0; i < messages.length; i += 10) groups.push(messages.slice(i, i + 10));
  await forEachLimit(groups, 8, async (group) => {
    const answer = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: group.map((m, i) => ({ Id: String(i), MessageBody: encodeMessage(m) })),
      }),
    );
    if (answer.Failed && answer.Failed.length > 0) {
      throw new Error(`SendMessageBatch failed for ${answer.Failed.length} messages: ${answer.Failed[0]?.Message}`);
    }
  });
}

/**
 * Enqueues the messages a chunk at a time, the next chunk once fewer than half a chunk are visible.
 * A long run is fed this way because moto's SQS costs grow with the messages a queue holds (real SQS
 * does not), and a queue of thousands would measure moto rather than the copier.
 */
export async function feed(
  sqs: SQSClient,
  queueUrl: string,
  messages: readonly BatchMessage[],
  options: { chunk: number; deadline: number; pollMs: number; alive?: () => string | undefined },
): Promise<void> {
  for (let i = 0; i < messages.length; i += options.chunk) {
    if (i > 0) {
      for (;;) {
        const depth = await queueDepth(sqs, queueUrl);
        if (depth.visible < options.chunk / 2) break;
        const dead = options.alive?.();
        if (dead) throw new Error(`copier stopped while being fed: ${dead}`);
        if (Date.now() > options.deadline) throw new Error(`feeding stopped at the deadline: ${i} messages sent`);
        await new Promise((r) => setTimeout(r, options.pollMs));
      }
    }
    await enqueue(sqs, queueUrl, messages.slice(i, i + options.chunk));
  }
}

/**
 * Polls until no message is visible, in flight or delayed, three readings in a row, and returns when
 * the first of those was taken (the end of the run). A worker re-sends failed keys before it deletes
 * the original, so an empty reading is not a gap between the two. Throws at the deadline; `alive`
 * lets a copier that died end the wait early.
 */
export async function waitUntilDrained(
  sqs: SQSClient,
  queueUrl: string,
  options: { deadline: number; pollMs: number; alive?: () => string | undefined },
): Promise<number> {
  let firstEmpty: number | undefined;
  let empties = 0;
  for (;;) {
    const depth = await queueDepth(sqs, queueUrl);
    const at = Date.now();
    if (total(depth) === 0) {
      firstEmpty ??= at;
      if (++empties >= 3) return firstEmpty;
    } else {
      firstEmpty = undefined;
      empties = 0;
      const dead = options.alive?.();
      if (dead) throw new Error(`copier stopped before the queue drained: ${dead}`);
      if (at > options.deadline) {
        throw new Error(
          `queue not drained by the deadline: ${depth.visible} visible, ${depth.inFlight} in flight, ${depth.delayed} delayed`,
        );
      }
    }
    await new Promise((r) => setTimeout(r, options.pollMs));
  }
}

/** Every key and size in a bucket (under a prefix). */
export async function listAll(s3: S3Client, bucket: string, prefix = ''): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let token: string | undefined;
  let last: string | undefined;
  for (let page = 0; page < 10_000; page++) {
    const answer = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix || undefined,
        ContinuationToken: token,
        StartAfter: token ? undefined : last,
      }),
    );
    for (const o of answer.Contents ?? []) if (o.Key !== undefined) out.set(o.Key, o.Size ?? 0);
    if (!answer.IsTruncated) break;
    // A truncated page without a token would start the listing over and over: go on after its last key.
    const next = answer.Contents?.at(-1)?.Key;
    if (!answer.NextContinuationToken && (next === undefined || next === last)) {
      throw new Error(`listing ${bucket}: truncated page with no way on after ${out.size} keys`);
    }
    token = answer.NextContinuationToken;
    last = next;
  }
  return out;
}

/** Deletes everything in the bucket, a thousand keys to a call. */
export async function emptyBucket(s3: S3Client, bucket: string): Promise<number> {
  const keys = [...(await listAll(s3, bucket)).keys()];
  const groups: string[][] = [];
  for (let i = 0; i < keys.length; i += 1000) groups.push(keys.slice(i, i + 1000));
  await forEachLimit(groups, 4, async (group) => {
    await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: group.map((Key) => ({ Key })), Quiet: true } }),
    );
  });
  return keys.length;
}

/** Which expected destination objects are missing or of the wrong size. */
export function missingOrWrong(expected: ReadonlyMap<string, number>, actual: ReadonlyMap<string, number>): string[] {
  const problems: string[] = [];
  for (const [key, size] of expected) {
    const got = actual.get(key);
    if (got === undefined) problems.push(`${key}: missing`);
    else if (got !== size) problems.push(`${key}: ${got} bytes, expected ${size}`);
  }
  return problems;
}
