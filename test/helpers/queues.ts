// Queue and bucket helpers for the integration tests: enqueue, count, read what was dead-lettered,
// and compare buckets byte for byte.
import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { digestObject } from '../../scripts/verify-copy.ts';
import { queueCounts } from '../../shared/queue-counts.ts';
import { total } from '../../scripts/queue-drain.ts';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { encodeMessage, MESSAGE_VERSION, type BatchMessage, type DeadLetter } from '../../shared/message.ts';
import type { Resources } from '../../scripts/local-stack.ts';

export function batch(resources: Resources, keys: Array<{ key: string; size?: number }>, attempt = 1): BatchMessage {
  return {
    v: MESSAGE_VERSION,
    job: 'test-job',
    source: { bucket: resources.sourceBucket },
    dest: { bucket: resources.destBucket },
    attempt,
    objects: keys,
  };
}

export async function enqueue(sqs: SQSClient, queueUrl: string, body: BatchMessage | string): Promise<void> {
  await sqs.send(
    new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: typeof body === 'string' ? body : encodeMessage(body) }),
  );
}

/** Messages visible, in flight or delayed. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  return total(await queueCounts(sqs, queueUrl));
}

/** Receives (and deletes) every message on a queue, waiting up to `waitSeconds` for the first. */
export async function takeAll(sqs: SQSClient, queueUrl: string, waitSeconds = 1): Promise<string[]> {
  const bodies: string[] = [];
  for (let round = 0; round < 100; round++) {
    const reply = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: round === 0 ? waitSeconds : 0,
      }),
    );
    const messages = reply.Messages ?? [];
    if (messages.length === 0) break;
    for (const m of messages) {
      bodies.push(m.Body ?? '');
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: m.ReceiptHandle }));
    }
  }
  return bodies;
}

export function deadLetters(bodies: string[]): DeadLetter[] {
  return bodies.map((b) => JSON.parse(b) as DeadLetter);
}

export async function putObject(s3: S3Client, bucket: string, key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** Deterministic bytes of a given size, different per seed. */
export function content(size: number, seed: string): Buffer {
  const out = Buffer.alloc(size);
  let block = createHash('sha256').update(seed).digest();
  for (let off = 0; off < size; off += block.length) {
    block.copy(out, off);
    block = createHash('sha256').update(block).digest();
  }
  return out;
}

export async function sha256Of(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  return (await digestObject({ s3, bucket }, key))?.sha256;
}

export function sha256(buffer: Buffer): string {
  return createHash('sha256').update(buffer).digest('hex');
}
