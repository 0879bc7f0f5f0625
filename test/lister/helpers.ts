// Shared set-up of the lister tests: a moto stack, buckets filled concurrently, the queue drained.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { pino } from 'pino';
import { parseMessage, type BatchMessage } from '../../shared/message.ts';
import type { Logger } from '../../shared/logger.ts';

export const silentLog: Logger = pino({ level: 'silent' });

/** Puts objects with up to `concurrency` requests in flight; bodies are small strings. */
export async function putObjects(
  s3: S3Client,
  bucket: string,
  objects: ReadonlyArray<{ key: string; body?: string }>,
  concurrency = 16,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < objects.length) {
        const o = objects[next++] as { key: string; body?: string };
        const body = Buffer.from(o.body ?? '');
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: o.key, Body: body, ContentLength: body.length }));
      }
    }),
  );
}

/** Receives (and deletes) every message on a queue; bounded in rounds. */
export async function drainQueue(sqs: SQSClient, queueUrl: string, maxRounds = 2000): Promise<string[]> {
  const bodies: string[] = [];
  let empty = 0;
  for (let round = 0; round < maxRounds && empty < 2; round++) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: 300,
      }),
    );
    const messages = out.Messages ?? [];
    if (messages.length === 0) {
      empty++;
      continue;
    }
    empty = 0;
    for (const m of messages) bodies.push(m.Body ?? '');
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
  }
  return bodies;
}

export function parseAll(bodies: readonly string[]): BatchMessage[] {
  return bodies.map((b) => parseMessage(b));
}

/** Every key sent, in sorted order, with duplicates kept. */
export function sentKeys(messages: readonly BatchMessage[]): string[] {
  return messages.flatMap((m) => m.objects.map((o) => o.key)).sort();
}
