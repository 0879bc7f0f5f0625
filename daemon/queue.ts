// The SQS side of the worker: receive, extend visibility, delete, send and release. Each call
// counts its failures in the metrics; what to do about them is decided by the callers.
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Metrics } from './metrics.ts';

export type ReceivedMessage = {
  messageId: string;
  receiptHandle: string;
  body: string;
  receiveCount: number;
};

export type QueueOptions = {
  client: SQSClient;
  url: string;
  deadLetterUrl: string;
  visibilitySeconds: number;
  waitSeconds: number;
  metrics?: Metrics;
};

export class WorkQueue {
  readonly url: string;
  readonly deadLetterUrl: string;
  readonly #client: SQSClient;
  readonly #visibilitySeconds: number;
  readonly #waitSeconds: number;
  readonly #metrics: Metrics | undefined;

  constructor(options: QueueOptions) {
    this.#client = options.client;
    this.url = options.url;
    this.deadLetterUrl = options.deadLetterUrl;
    this.#visibilitySeconds = options.visibilitySeconds;
    this.#waitSeconds = options.waitSeconds;
    this.#metrics = options.metrics;
  }

  async #call<T>(operation: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      if (!(err instanceof Error && err.name === 'AbortError')) this.#metrics?.sqsErrors.inc({ operation });
      throw err;
    }
  }

  /** Long-polls for up to `max` (≤ 10) messages; the signal ends the poll early on shutdown. */
  async receive(max: number, signal?: AbortSignal): Promise<ReceivedMessage[]> {
    const reply = await this.#call('receive', () =>
      this.#client.send(
        new ReceiveMessageCommand({
          QueueUrl: this.url,
          MaxNumberOfMessages: Math.min(10, Math.max(1, max)),
          WaitTimeSeconds: this.#waitSeconds,
          VisibilityTimeout: this.#visibilitySeconds,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
        { abortSignal: signal },
      ),
    );
    return (reply.Messages ?? []).map((m) => ({
      messageId: m.MessageId ?? '',
      receiptHandle: m.ReceiptHandle ?? '',
      body: m.Body ?? '',
      receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1'),
    }));
  }

  /**
   * Extends the visibility of in-flight messages, ten per call. Returns the receipt handles SQS
   * refused (e.g. a message whose visibility had already expired).
   */
  async extendVisibility(receiptHandles: readonly string[]): Promise<string[]> {
    const refused: string[] = [];
    for (let i = 0; i < receiptHandles.length; i += 10) {
      const chunk = receiptHandles.slice(i, i + 10);
      const reply = await this.#call('change_visibility', () =>
        this.#client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.url,
            Entries: chunk.map((handle, n) => ({
              Id: String(n),
              ReceiptHandle: handle,
              VisibilityTimeout: this.#visibilitySeconds,
            })),
          }),
        ),
      );
      this.#metrics?.visibilityExtensions.inc(reply.Successful?.length ?? 0);
      for (const failed of reply.Failed ?? []) refused.push(chunk[Number(failed.Id)] as string);
    }
    return refused;
  }

  async delete(receiptHandle: string): Promise<void> {
    await this.#call('delete', () =>
      this.#client.send(new DeleteMessageCommand({ QueueUrl: this.url, ReceiptHandle: receiptHandle })),
    );
  }

  async send(body: string, delaySeconds = 0): Promise<void> {
    await this.#call('send', () =>
      this.#client.send(new SendMessageCommand({ QueueUrl: this.url, MessageBody: body, DelaySeconds: delaySeconds })),
    );
  }

  async sendDeadLetter(body: string): Promise<void> {
    await this.#call('send_dead_letter', () =>
      this.#client.send(new SendMessageCommand({ QueueUrl: this.deadLetterUrl, MessageBody: body })),
    );
  }

  /** Hands a message back at once (visibility 0) so another worker can take it. */
  async release(receiptHandle: string): Promise<void> {
    await this.#call('change_visibility', () =>
      this.#client.send(
        new ChangeMessageVisibilityCommand({ QueueUrl: this.url, ReceiptHandle: receiptHandle, VisibilityTimeout: 0 }),
      ),
    );
  }
}
