// Waits until an SQS queue has no work left: nothing visible, in flight or delayed, stable over a few
// polls (a worker re-sends failed keys before it deletes the original, so a drained reading is not a
// gap between the two), within an overall deadline.
import type { SQSClient } from '@aws-sdk/client-sqs';
import { queueCounts, type QueueCounts } from '../shared/queue-counts.ts';

export type QueueDepth = QueueCounts;

export const total = (d: QueueDepth): number => d.visible + d.inFlight + d.delayed;

export const queueDepth: (sqs: SQSClient, queueUrl: string) => Promise<QueueDepth> = queueCounts;

/** True when the last `stablePolls` readings all show an empty queue. Pure, for tests. */
export function isDrained(history: readonly QueueDepth[], stablePolls: number): boolean {
  if (history.length < stablePolls) return false;
  return history.slice(-stablePolls).every((d) => total(d) === 0);
}

export type DrainOptions = {
  sqs: SQSClient;
  queueUrl: string;
  deadlineMs: number;
  intervalMs?: number;
  stablePolls?: number;
  /** Called after each poll; return a reason to stop waiting early (e.g. the worker died). */
  onPoll?: (depth: QueueDepth, elapsedMs: number) => Promise<string | undefined> | string | undefined;
};

export type DrainResult =
  | { drained: true; seconds: number; polls: number }
  | { drained: false; seconds: number; polls: number; reason: string; depth: QueueDepth };

export async function waitForDrain(options: DrainOptions): Promise<DrainResult> {
  const started = Date.now();
  const interval = options.intervalMs ?? 1000;
  const stable = options.stablePolls ?? 3;
  const history: QueueDepth[] = [];
  for (;;) {
    const depth = await queueDepth(options.sqs, options.queueUrl);
    history.push(depth);
    if (history.length > stable) history.shift();
    const elapsed = Date.now() - started;
    const seconds = elapsed / 1000;
    if (isDrained(history, stable)) return { drained: true, seconds, polls: history.length };
    const stop = await options.onPoll?.(depth, elapsed);
    if (stop) return { drained: false, seconds, polls: history.length, reason: stop, depth };
    if (elapsed > options.deadlineMs) {
      return {
        drained: false,
        seconds,
        polls: history.length,
        reason: `queue not drained within ${Math.round(options.deadlineMs / 1000)} s`,
        depth,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}
