// Sending encoded messages with SendMessageBatch: at most 10 entries and 256 KiB per call, and the
// entries a call rejects (its Failed list) retried with back-off until they are accepted.
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { messageBytes, SQS_MAX_MESSAGE_BYTES } from '../shared/message.ts';
import { errorMessage } from '../shared/errors.ts';
import { backoffMs, Limiter, sleep } from './limiter.ts';

export const MAX_BATCH_ENTRIES = 10;

/** Groups bodies, in order, into SendMessageBatch calls within the entry and byte limits. */
export function packEntries(
  bodies: readonly string[],
  maxEntries = MAX_BATCH_ENTRIES,
  maxBytes = SQS_MAX_MESSAGE_BYTES,
): string[][] {
  const calls: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const body of bodies) {
    const size = messageBytes(body);
    if (size > maxBytes) throw new Error(`message of ${size} bytes exceeds the SQS limit of ${maxBytes}`);
    if (current.length >= maxEntries || bytes + size > maxBytes) {
      calls.push(current);
      current = [];
      bytes = 0;
    }
    current.push(body);
    bytes += size;
  }
  if (current.length > 0) calls.push(current);
  return calls;
}

export type SendOptions = {
  /** Calls in flight at once. */
  concurrency: number;
  /** Tries per entry (and per whole call) before giving up. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
};

export const DEFAULT_SEND_OPTIONS: SendOptions = {
  concurrency: 16,
  maxAttempts: 10,
  baseDelayMs: 100,
  maxDelayMs: 10_000,
};

export class SendError extends Error {
  override name = 'SendError';
}

/** Sends message bodies to one queue; resolves when SQS has accepted every one of them. */
export class QueueSender {
  readonly #sqs: Pick<SQSClient, 'send'>;
  readonly #queueUrl: string;
  readonly #options: SendOptions;
  readonly #limiter: Limiter;
  /** Entries SQS rejected and that were sent again, for the summary. */
  retriedEntries = 0;
  calls = 0;

  constructor(sqs: Pick<SQSClient, 'send'>, queueUrl: string, options: Partial<SendOptions> = {}) {
    this.#sqs = sqs;
    this.#queueUrl = queueUrl;
    this.#options = { ...DEFAULT_SEND_OPTIONS, ...options };
    this.#limiter = new Limiter(this.#options.concurrency);
  }

  async send(bodies: readonly string[]): Promise<void> {
    await Promise.all(packEntries(bodies).map((call) => this.#limiter.run(() => this.#sendCall(call))));
  }

  async #sendCall(bodies: string[]): Promise<void> {
    let pending = bodies.map((body, i) => ({ Id: String(i), MessageBody: body }));
    const { maxAttempts, baseDelayMs, maxDelayMs } = this.#options;
    for (let attempt = 1; ; attempt++) {
      let failed: Array<{ Id?: string; Code?: string; Message?: string; SenderFault?: boolean }>;
      try {
        this.calls++;
        const out = await this.#sqs.send(new SendMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: pending }));
        failed = out.Failed ?? [];
      } catch (err) {
        if (attempt >= maxAttempts) {
          throw new SendError(`SendMessageBatch to ${this.#queueUrl} failed ${attempt} times: ${errorMessage(err)}`);
        }
        await sleep(backoffMs(attempt, baseDelayMs, maxDelayMs));
        continue;
      }
      if (failed.length === 0) return;
      const ids = new Set(failed.map((f) => f.Id));
      if (attempt >= maxAttempts) {
        const first = failed[0];
        throw new SendError(
          `SQS rejected ${failed.length} message(s) ${attempt} times (last: ${first?.Code ?? '?'}: ${first?.Message ?? ''})`,
        );
      }
      pending = pending.filter((e) => ids.has(e.Id));
      this.retriedEntries += pending.length;
      await sleep(backoffMs(attempt, baseDelayMs, maxDelayMs));
    }
  }
}
