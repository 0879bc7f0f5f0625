// One message, start to end: receive → validate → copy → verify → settle. Every outcome is
// settled on the queue; nothing in a message can crash the worker.
import { CopyError, errorMessage, MalformedMessageError } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { parseMessage, type BatchMessage, type BatchObject } from '../shared/message.ts';
import { copyObject, type Copied, type Copier } from './copy-object.ts';
import type { Metrics } from './metrics.ts';
import type { Stores } from './outage.ts';
import type { ReceivedMessage, WorkQueue } from './queue.ts';
import { decideSettlement, malformedSettlement, type KeyOutcome, type RetryPolicy, type Settlement } from './settle.ts';
import type { BatchVerifier } from './verify-batch.ts';

export type MessageDeps = {
  queue: WorkQueue;
  copier: Copier;
  verifier: BatchVerifier;
  metrics: Metrics;
  log: Logger;
  retry: RetryPolicy;
  /** Called when the source refuses our credentials, so they can be read again. */
  onAuthError(): void;
  /** Called with a batch's outcomes once its copies are verified, before it is settled. */
  onOutcomes(outcomes: readonly KeyOutcome[], stores: Stores): void;
  /** Called as each copy starts and ends (the worker watches for copies that stall). */
  onCopy?(event: 'start' | 'end', stores: Stores): void;
};

export type Processed = { outcome: Settlement['outcome'] | 'malformed'; copied: number };

export async function processMessage(
  deps: MessageDeps,
  received: ReceivedMessage,
  signal: AbortSignal,
): Promise<Processed> {
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
  const copies = await Promise.all(
    message.objects.map((object) => copyOne(deps, message, object, signal, firstDelivery)),
  );
  const outcomes = await verifyCopies(deps, log, message, copies, signal);
  // Before the settlement re-sends anything: a batch that found a store gone stops receiving first.
  deps.onOutcomes(outcomes, { sourceBucket: message.source.bucket, destBucket: message.dest.bucket });
  const settlement = decideSettlement(message, outcomes, deps.retry);
  await settle(deps.queue, received, settlement);
  record(deps.metrics, settlement, outcomes, (performance.now() - started) / 1000);
  const failed = outcomes.filter((o) => !o.ok).length;
  log[failed ? 'warn' : 'debug']({ keys: outcomes.length, failed, outcome: settlement.outcome }, 'batch settled');
  return { outcome: settlement.outcome, copied: outcomes.length - failed };
}

async function copyOne(
  deps: MessageDeps,
  message: BatchMessage,
  object: BatchObject,
  signal: AbortSignal,
  firstDelivery: boolean,
): Promise<Copied | CopyError> {
  const started = performance.now();
  const stores = { sourceBucket: message.source.bucket, destBucket: message.dest.bucket };
  deps.metrics.copiesInFlight.inc();
  deps.onCopy?.('start', stores);
  try {
    const copied = await copyObject(deps.copier, message, object, signal, firstDelivery);
    deps.metrics.objectDuration.observe({ outcome: 'copied' }, (performance.now() - started) / 1000);
    return copied;
  } catch (err) {
    deps.metrics.objectDuration.observe({ outcome: 'failed' }, (performance.now() - started) / 1000);
    if (err instanceof CopyError) return err;
    const where = { bucket: message.source.bucket, key: object.key, attempt: message.attempt };
    return new CopyError(signal.aborted ? 'aborted' : 'copy', errorMessage(err), where);
  } finally {
    deps.metrics.copiesInFlight.dec();
    deps.onCopy?.('end', stores);
  }
}

/** Verifies the batch's copies together and turns every key's fate into an outcome, in message order. */
async function verifyCopies(
  deps: MessageDeps,
  log: Logger,
  message: BatchMessage,
  copies: (Copied | CopyError)[],
  signal: AbortSignal,
): Promise<KeyOutcome[]> {
  const made = copies.filter((c): c is Copied => !(c instanceof CopyError));
  const verified = await deps.verifier.verify(message, made, signal);
  const bytes = new Map(made.map((copy, i) => [copy, verified[i]]));
  const failure = (key: string, error: CopyError): KeyOutcome => {
    deps.metrics.objectsFailed.inc({ reason: error.kind });
    if (error.kind === 'auth') deps.onAuthError();
    if (error.kind !== 'aborted') {
      log.warn(
        { bucket: message.source.bucket, key, kind: error.kind, store: error.store, err: error.message },
        'object copy failed',
      );
    }
    return { key, ok: false, kind: error.kind, error: error.message, store: error.store };
  };
  return copies.map((copy, i): KeyOutcome => {
    const key = message.objects[i]?.key ?? '';
    if (copy instanceof CopyError) return failure(key, copy);
    const verdict = bytes.get(copy);
    if (typeof verdict === 'number') return { key, ok: true, bytes: verdict, path: copy.path };
    const where = { bucket: message.dest.bucket, key: copy.target, attempt: message.attempt };
    return failure(key, verdict ?? new CopyError('verify', 'not verified', where));
  });
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
