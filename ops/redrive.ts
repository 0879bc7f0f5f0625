// `rclone-migrate redrive`: moves dead letters back to the work queue, optionally filtered, printing
// what it moved. Each message is sent to the work queue before it is deleted from the dead-letter
// queue, so an interruption at any point loses nothing (at worst a message is sent twice, and
// copies are idempotent). Letters that are filtered out or cannot be redriven are handed back.
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { sqsClient } from '../shared/aws.ts';
import type { Command } from '../shared/command.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { encodeMessage } from '../shared/message.ts';
import { resolveDeadLetterUrl } from '../shared/dead-letter-url.ts';
import { matchesFilter, readDeadLetter } from './dead-letter.ts';
import { QueueSender } from '../lister/sqs-send.ts';

export type RedriveOptions = {
  queueUrl: string;
  deadLetterUrl: string;
  filter: { text: string; job: string };
  /** 0: no limit. */
  maxMessages: number;
  /** How long received letters stay hidden while this run works on them, in seconds. */
  holdSeconds?: number;
  /** Checked between rounds: an interrupted run stops after the round in progress. */
  stopped?: () => boolean;
  /** Each letter as it is handled. */
  onLetter?: (line: RedriveLine) => void;
};

export type RedriveLine = {
  action: 'moved' | 'kept' | 'unreadable';
  job?: string;
  keys?: number;
  reason: string;
};

export type RedriveSummary = { moved: number; keys: number; kept: number; unreadable: number };

export async function redrive(sqs: SQSClient, options: RedriveOptions, log?: Logger): Promise<RedriveSummary> {
  const summary: RedriveSummary = { moved: 0, keys: 0, kept: 0, unreadable: 0 };
  const sender = new QueueSender(sqs, options.queueUrl);
  const held: Message[] = [];
  const seen = new Set<string>();
  let emptyRounds = 0;
  try {
    while (emptyRounds < 2 && !options.stopped?.()) {
      const room = options.maxMessages > 0 ? options.maxMessages - summary.moved : 10;
      if (room <= 0) break;
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: options.deadLetterUrl,
          MaxNumberOfMessages: Math.min(10, room),
          WaitTimeSeconds: 1,
          VisibilityTimeout: options.holdSeconds ?? 300,
        }),
      );
      const fresh = (out.Messages ?? []).filter((m) => !seen.has(m.MessageId ?? ''));
      if (fresh.length === 0) {
        emptyRounds++;
        continue;
      }
      emptyRounds = 0;
      const move: Array<{ message: Message; body: string }> = [];
      for (const m of fresh) {
        seen.add(m.MessageId ?? '');
        const letter = readDeadLetter(m.Body ?? '');
        if (!letter.ok) {
          summary.unreadable++;
          held.push(m);
          options.onLetter?.({ action: 'unreadable', reason: letter.reason });
        } else if (!matchesFilter(letter, options.filter)) {
          summary.kept++;
          held.push(m);
          options.onLetter?.({
            action: 'kept',
            job: letter.message.job,
            keys: letter.message.objects.length,
            reason: letter.reason,
          });
        } else {
          move.push({ message: m, body: encodeMessage(letter.message) });
          options.onLetter?.({
            action: 'moved',
            job: letter.message.job,
            keys: letter.message.objects.length,
            reason: letter.reason,
          });
          summary.keys += letter.message.objects.length;
        }
      }
      if (move.length === 0) continue;
      // Send before delete: at-least-once.
      await sender.send(move.map((m) => m.body));
      await deleteAll(
        sqs,
        options.deadLetterUrl,
        move.map((m) => m.message),
      );
      summary.moved += move.length;
      log?.debug({ moved: summary.moved }, 'dead letters moved');
    }
  } finally {
    // Letters left alone become visible again at once rather than after the hold.
    await releaseAll(sqs, options.deadLetterUrl, held).catch(() => undefined);
  }
  return summary;
}

async function deleteAll(sqs: SQSClient, queueUrl: string, messages: Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    const out = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle })),
      }),
    );
    if ((out.Failed ?? []).length > 0) {
      // Not deleted means it comes back later and is moved again: a duplicate, never a loss.
      throw new Error(
        `could not delete ${out.Failed?.length} redriven message(s) from ${queueUrl}: ${out.Failed?.[0]?.Message ?? ''}`,
      );
    }
  }
}

async function releaseAll(sqs: SQSClient, queueUrl: string, messages: Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0 })),
      }),
    );
  }
}

export const redriveCommand: Command = {
  name: 'redrive',
  summary: 'Move dead-letter messages back to the work queue (optionally filtered)',
  sections: ['log', 'queue', 'lister'],
  usage:
    "--filter TEXT moves only letters whose reason, errors or keys contain TEXT; --job-id only that job's;\n" +
    '--max-messages N at most N. Prints one line per letter (JSON lines with --json) and a summary.',
  async run({ config, log }) {
    if (!config.queue.url) throw new ConfigError('required setting not set: queue.url (env QUEUE_URL)');
    const sqs = sqsClient();
    let interrupted = false;
    const stop = (): void => {
      interrupted = true;
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    try {
      const deadLetterUrl = await resolveDeadLetterUrl(sqs, config.queue.url, config.queue.deadLetterUrl);
      const print = (line: RedriveLine): void => {
        if (config.lister.json) console.log(JSON.stringify(line));
        else console.log(`${line.action.padEnd(10)} ${line.job ?? '-'}  ${line.keys ?? 0} keys  ${line.reason}`);
      };
      const summary = await redrive(
        sqs,
        {
          queueUrl: config.queue.url,
          deadLetterUrl,
          filter: { text: config.lister.redriveFilter, job: config.lister.jobId },
          maxMessages: config.lister.redriveMax,
          stopped: () => interrupted,
          onLetter: print,
        },
        log,
      );
      log.info({ ...summary, interrupted }, 'redrive finished');
      if (config.lister.json) console.log(JSON.stringify({ summary, interrupted }));
      else
        console.log(
          `moved ${summary.moved} messages (${summary.keys} keys); kept ${summary.kept}; unreadable ${summary.unreadable}`,
        );
      return 0;
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      sqs.destroy();
    }
  },
};
