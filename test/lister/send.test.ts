// SendMessageBatch partial failure: the entries a call rejects are sent again until accepted; an
// entry rejected every time fails the send loudly. moto never rejects part of a batch on its own, so
// a thin wrapper around the real moto client rejects some entries (the rest reach moto for real).
import t from 'tap';
import { SendMessageBatchCommand, type SendMessageBatchCommandOutput, type SQSClient } from '@aws-sdk/client-sqs';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { QueueSender, SendError } from '../../lister/sqs-send.ts';
import { drainQueue } from './helpers.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { sqs } = localClients(stack);
const r = await createResources(stack, { secrets: false });

/** Rejects the entries `reject` picks (by attempt number), forwarding the others to moto. */
function rejecting(reject: (entryBody: string, call: number) => boolean): Pick<SQSClient, 'send'> & { calls: number } {
  const wrapper = {
    calls: 0,
    async send(command: SendMessageBatchCommand): Promise<SendMessageBatchCommandOutput> {
      const call = ++wrapper.calls;
      const entries = (command.input.Entries ?? []).map((e) => ({ e, rejected: reject(e.MessageBody ?? '', call) }));
      const pass = entries.filter((x) => !x.rejected).map((x) => x.e);
      const failed = entries
        .filter((x) => x.rejected)
        .map((x) => ({ Id: x.e.Id, Code: 'InternalError', Message: 'injected', SenderFault: false }));
      const out =
        pass.length > 0
          ? await sqs.send(new SendMessageBatchCommand({ QueueUrl: command.input.QueueUrl, Entries: pass }))
          : { Successful: [], Failed: [], $metadata: {} };
      return { ...out, Failed: [...(out.Failed ?? []), ...failed] };
    },
  };
  return wrapper;
}

void t.test('rejected entries are retried until accepted, each message arrives once', async (t) => {
  const bodies = Array.from({ length: 37 }, (_, i) => `message-${i}`);
  // Odd-numbered messages are rejected on their first two tries.
  const rejectedTimes = new Map<string, number>();
  const client = rejecting((body) => {
    const n = Number(body.split('-')[1]);
    if (n % 2 === 0) return false;
    const times = rejectedTimes.get(body) ?? 0;
    if (times >= 2) return false;
    rejectedTimes.set(body, times + 1);
    return true;
  });
  const sender = new QueueSender(client, r.queueUrl, { baseDelayMs: 1, maxDelayMs: 5 });
  await sender.send(bodies);
  t.equal(sender.retriedEntries, 18 * 2, 'each odd message was sent again twice');
  t.same((await drainQueue(sqs, r.queueUrl)).sort(), [...bodies].sort());
});

void t.test('an entry rejected every time fails the send with the SQS error', async (t) => {
  const client = rejecting((body) => body === 'poison');
  const sender = new QueueSender(client, r.queueUrl, { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 3 });
  const err = await sender.send(['fine', 'poison']).catch((e: unknown) => e);
  t.type(err, SendError);
  t.match((err as Error).message, /rejected 1 message\(s\) 3 times.*InternalError/);
  t.same(await drainQueue(sqs, r.queueUrl), ['fine'], 'the accepted entry was sent once');
});
