// One message, start to end: receive → validate → copy → verify → settle. Every outcome is
// settled on the queue; nothing in a message can crash the worker.
import { CopyError, errorMessage, MalformedMessageError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { parseMessage, type BatchMessage, type BatchObject } from '../shared/message.ts';
import { copyObject, type Copier } from './copy-object.ts';
import type { Metrics } from './metrics.ts';
import type { ReceivedMessage, WorkQueue } from './queue.ts';
import { decideSettlement, malformedSettlement, type KeyOutcome, type RetryPolicy, type Settlement } from './settle.ts';

export type MessageDeps = {
  queue: WorkQueue;
  copier: Copier;
  metrics: Metrics;
  log: Logger;
  retry: RetryPolicy;
  /** Called when the source refuses our credentials, so they can be read again. */
  onAuthError(): void;
};

export async function processMessage(
  deps: MessageDeps,
  received: ReceivedMessage,
  signal: AbortSignal,
): Promise<{ outcome: Settlement['outcome'] | 'malformed'; copied: number }> {
  const started = performance.now();
  let message: BatchMessage;
  try {
    message = parseMessage(received.body);
  } catch (err) {
    if (!(err instanceof MalformedMessageError)) throw err;
    deps.log.error({ messageId: received.messageId, reason: err.message }, 'malformed message: dead-lettered');
    await settle(deps.queue, received, malformedSettlement(received.body, err.message));
    deps.metrics.messagesSettled.inc({ outcome: 'malformed' });
    return { outcome: 'malformed', copied: 0 };
  }
  const log = deps.log.child({ messageId: received.messageId, job: message.job, attempt: message.attempt });
  const firstDelivery = message.attempt === 1 && received.receiveCount === 1;
  const outcomes = await Promise.all(
    message.objects.map((object) => copyOne(deps, log, message, object, signal, firstDelivery)),
  );
  const settlement = decideSettlement(message, outcomes, deps.retry);
  await settle(deps.queue, received, settlement);
  record(deps.metrics, settlement, outcomes, (performance.now() - started) / 1000);
  const failed = outcomes.filter((o) => !o.ok).length;
  log[failed ? 'warn' : 'debug']({ keys: outcomes.length, failed, outcome: settlement.outcome }, 'batch settled');
  return { outcome: settlement.outcome, copied: outcomes.length - failed };
}

async function copyOne(
  deps: MessageDeps,
  log: Logger,
  message: BatchMessage,
  object: BatchObject,
  signal: AbortSignal,
  firstDelivery: boolean,
): Promise<KeyOutcome> {
  const started = performance.now();
  deps.metrics.copiesInFlight.inc();
  try {
    const copied = await copyObject(deps.copier, message, object, signal, firstDelivery);
    deps.metrics.objectDuration.observe({ outcome: 'copied' }, (performance.now() - started) / 1000);
    return { key: object.key, ok: true, bytes: copied.bytes, path: copied.path };
  } catch (err) {
    const kind = err instanceof CopyError ? err.kind : signal.aborted ? 'aborted' : 'copy';
    const error = errorMessage(err);
    deps.metrics.objectDuration.observe({ outcome: 'failed' }, (performance.now() - started) / 1000);
    deps.metrics.objectsFailed.inc({ reason: kind });
    if (kind === 'auth') deps.onAuthError();
    if (kind !== 'aborted') {
      log.warn({ bucket: message.source.bucket, key: object.key, kind, err: error }, 'object copy failed');
    }
    return { key: object.key, ok: false, kind, error };
  } finally {
    deps.metrics.copiesInFlight.dec();
  }
}

/** Carries out a settlement in order: any send before the delete. */
async function settle(queue: WorkQueue, received: ReceivedMessage, settlement: Settlement): Promise<void> {
  for (const step of settlement.steps) {
    if (step.type === 'resend') await queue.send(step.body, step.delaySeconds);
    else if (step.type === 'dead-letter') await queue.sendDeadLetter(step.body);
    else if (step.type === 'delete') await queue.delete(received.receiptHandle);
    else await queue.release(received.receiptHandle);
  }
}

function record(metrics: Metrics, settlement: Settlement, outcomes: KeyOutcome[], seconds: number): void {
  for (const o of outcomes) {
    if (!o.ok) continue;
    metrics.objectsCopied.inc({ path: o.path });
    metrics.bytesCopied.inc(o.bytes);
  }
  for (const step of settlement.steps) if (step.type === 'dead-letter') metrics.objectsDeadLettered.inc(step.keys);
  metrics.messagesSettled.inc({ outcome: settlement.outcome });
  metrics.batchDuration.observe({ outcome: settlement.outcome }, seconds);
}
