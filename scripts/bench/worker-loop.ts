// The receive → copy → delete loop the reference and ceiling copiers share. Each message is a
// batch; it is deleted only when every key in it copied, otherwise left to come back after its
// visibility timeout (as the reference did: whole batches retried).
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { destKey, parseMessage, type BatchMessage, type BatchObject } from '../../shared/message.ts';

export type CopyOne = (message: BatchMessage, object: BatchObject, destKey: string) => Promise<void>;

export type LoopOptions = {
  queueUrl: string;
  /** Messages taken per ReceiveMessage call (1 for the reference: one batch per process). */
  receiveMax: number;
  /** Keys of one message copied at once (1: one after another). */
  keysAtOnce: number;
  /** Messages held at once. */
  messagesInFlight: number;
  copy: CopyOne;
};

/** Runs until SIGTERM; prints `ready` once polling, and one line per failed key on stderr. */
export async function runWorkerLoop(options: LoopOptions): Promise<void> {
  const sqs = new SQSClient({});
  const stop = new AbortController();
  process.once('SIGTERM', () => stop.abort());
  let held = 0;
  const slotFreed: Array<() => void> = [];

  const settle = async (receipt: string, message: BatchMessage): Promise<void> => {
    let failed = 0;
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < message.objects.length) {
        const object = message.objects[next++] as BatchObject;
        try {
          if (process.env.BENCH_DEBUG) console.log(`start ${object.key}`);
          await options.copy(message, object, destKey(message, object.key));
        } catch (err) {
          failed++;
          if (process.env.BENCH_DEBUG) console.log(`fail ${object.key}`);
          console.error(`copy failed: ${object.key}: ${(err as Error).message}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(options.keysAtOnce, message.objects.length) }, lane));
    if (failed === 0) await sqs.send(new DeleteMessageCommand({ QueueUrl: options.queueUrl, ReceiptHandle: receipt }));
  };

  console.log('ready');
  while (!stop.signal.aborted) {
    if (held >= options.messagesInFlight) {
      await new Promise<void>((r) => slotFreed.push(r));
      continue;
    }
    let answer;
    try {
      answer = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: Math.min(10, options.receiveMax, options.messagesInFlight - held),
          WaitTimeSeconds: 1,
        }),
        { abortSignal: stop.signal },
      );
    } catch (err) {
      if (stop.signal.aborted) break;
      console.error(`receive failed: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    for (const m of answer.Messages ?? []) {
      held++;
      const done = (): void => {
        held--;
        slotFreed.shift()?.();
      };
      let message: BatchMessage;
      try {
        message = parseMessage(m.Body ?? '');
      } catch (err) {
        console.error(`bad message: ${(err as Error).message}`);
        done();
        continue;
      }
      settle(m.ReceiptHandle ?? '', message).then(done, (err: unknown) => {
        console.error(`batch failed: ${(err as Error).message}`);
        done();
      });
    }
  }
  process.exit(0);
}
