// What to do with a finished batch: a pure decision, carried out by the worker in order.
// Sends come before the delete, so a crash between them duplicates work but never loses it.
import type { CopyFailureKind, StoreSide } from '../shared/errors.ts';
import {
  encodeDeadLetter,
  encodeMessage,
  messageBytes,
  SQS_MAX_MESSAGE_BYTES,
  type BatchMessage,
  type BatchObject,
  type DeadLetter,
} from '../shared/message.ts';

export type KeyOutcome =
  | { key: string; ok: true; bytes: number; path: 'rclone' | 'sdk' }
  | { key: string; ok: false; kind: CopyFailureKind; error: string; store?: StoreSide };

export type SettleStep =
  | { type: 'resend'; body: string; keys: number; delaySeconds: number }
  | { type: 'dead-letter'; body: string; keys: number }
  | { type: 'delete' }
  | { type: 'release' };

export type Settlement = {
  outcome: 'deleted' | 'resent' | 'dead_lettered' | 'released';
  steps: SettleStep[];
};

/** Long errors are cut so that a batch of them still fits in one message. */
const MAX_ERROR_CHARS = 500;

export type RetryPolicy = { maxAttempts: number; retryDelaySeconds: number };

/** Back-off before a retry: the delay grows with the attempt, up to SQS's 15 minutes. */
export function retryDelay(policy: RetryPolicy, attempt: number): number {
  return Math.min(900, policy.retryDelaySeconds * attempt);
}

export function decideSettlement(
  message: BatchMessage,
  outcomes: readonly KeyOutcome[],
  policy: RetryPolicy,
): Settlement {
  const failed = outcomes.filter((o): o is Extract<KeyOutcome, { ok: false }> => !o.ok);
  // Shutdown cut the batch short: hand the whole message back; copied keys are skipped cheaply on redelivery.
  if (failed.some((f) => f.kind === 'aborted')) return { outcome: 'released', steps: [{ type: 'release' }] };
  if (failed.length === 0) return { outcome: 'deleted', steps: [{ type: 'delete' }] };

  const errors = new Map(failed.map((f) => [f.key, f.error.slice(0, MAX_ERROR_CHARS)]));
  // Keys no retry can help (S3 refuses their tags or metadata) go to the dead-letter queue at once;
  // keys a store only throttled spend no attempt (a pause, not a failure), whatever the attempt.
  const exhausted = message.attempt >= policy.maxAttempts;
  const final = failed.filter((f) => NEVER_RETRIED.has(f.kind) || (exhausted && !SPENDS_NO_ATTEMPT.has(f.kind)));
  const finalKeys = new Set(final.map((f) => f.key));
  const steps: SettleStep[] = [];
  if (final.length > 0) {
    // A dead letter says the kind with each key's last error, so an operator can act without the logs.
    const kinds = new Map(final.map((f) => [f.key, f.kind]));
    const described = new Map([...errors].map(([key, error]) => [key, `${kinds.get(key) ?? 'copy'}: ${error}`]));
    const objects = message.objects.filter((o) => finalKeys.has(o.key));
    const bodies = fitBodies(objects, (part) => deadLetterBody(message, part, described));
    steps.push(...bodies.map((b) => ({ type: 'dead-letter' as const, ...b })));
  }
  const unspent = new Set(failed.filter((f) => SPENDS_NO_ATTEMPT.has(f.kind)).map((f) => f.key));
  const retried = message.objects.filter((o) => errors.has(o.key) && !finalKeys.has(o.key));
  const delaySeconds = retryDelay(policy, message.attempt);
  const again: Array<[BatchObject[], number]> = [
    [retried.filter((o) => !unspent.has(o.key)), message.attempt + 1],
    [retried.filter((o) => unspent.has(o.key)), message.attempt],
  ];
  for (const [objects, attempt] of again) {
    if (objects.length === 0) continue;
    const bodies = fitBodies(objects, (part) => retryBody(message, part, errors, attempt));
    steps.push(...bodies.map((b) => ({ type: 'resend' as const, ...b, delaySeconds })));
  }
  return { outcome: retried.length > 0 ? 'resent' : 'dead_lettered', steps: [...steps, { type: 'delete' }] };
}

/** Failure kinds a retry cannot change. */
const NEVER_RETRIED: ReadonlySet<CopyFailureKind> = new Set(['refused']);

/**
 * Failure kinds that spend no attempt: the store asked us to slow down. With adaptive concurrency a
 * throttled copy has already waited in its slot (up to worker maxThrottledAttempts); without it, or
 * past that, the key comes back later at the same attempt instead of walking to the dead-letter queue.
 */
const SPENDS_NO_ATTEMPT: ReadonlySet<CopyFailureKind> = new Set(['throttled']);

function retryBody(
  message: BatchMessage,
  objects: BatchObject[],
  errors: Map<string, string>,
  attempt: number,
): string {
  return encodeMessage({
    ...message,
    attempt,
    objects,
    lastErrors: Object.fromEntries(objects.map((o) => [o.key, errors.get(o.key) ?? ''])),
  });
}

function deadLetterBody(message: BatchMessage, objects: BatchObject[], errors: Map<string, string>): string {
  const letter: DeadLetter = {
    deadLetter: 1,
    reason: deadLetterReason(
      message.attempt,
      objects.map((o) => errors.get(o.key) ?? ''),
    ),
    job: message.job,
    attempt: message.attempt,
    failures: objects.map((o) => ({ key: o.key, error: errors.get(o.key) ?? '' })),
    original: encodeMessage({ ...message, attempt: 1, objects, lastErrors: undefined }),
  };
  return encodeDeadLetter(letter);
}

/** Longest reason: one line for `redrive` and `status`, the full errors are in `failures`. */
const MAX_REASON_CHARS = 600;

/**
 * The reason of a dead letter: how many keys, after how many attempts, and each distinct last error
 * (with its kind, e.g. `auth: SignatureDoesNotMatch from source https://…`) with how many keys had it.
 * `errors` are the keys' last errors, each already prefixed with its kind.
 */
export function deadLetterReason(attempt: number, errors: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const e of errors) counts.set(e, (counts.get(e) ?? 0) + 1);
  const parts = [...counts].map(([error, n]) => (counts.size > 1 || n > 1 ? `${error} (${n} keys)` : error));
  const head = `${errors.length} key(s) failed after ${attempt} attempt(s): `;
  const text = head + parts.join('; ');
  return text.length <= MAX_REASON_CHARS ? text : `${text.slice(0, MAX_REASON_CHARS - 1)}…`;
}

/** Splits objects into as few bodies as fit SQS's size limit (halving where one does not fit). */
export function fitBodies(
  objects: BatchObject[],
  build: (objects: BatchObject[]) => string,
): Array<{ body: string; keys: number }> {
  const body = build(objects);
  if (messageBytes(body) <= SQS_MAX_MESSAGE_BYTES || objects.length === 1) return [{ body, keys: objects.length }];
  const half = Math.ceil(objects.length / 2);
  return [...fitBodies(objects.slice(0, half), build), ...fitBodies(objects.slice(half), build)];
}

/** A message that can never be processed goes to the dead-letter queue verbatim, with the reason. */
export function malformedSettlement(body: string, reason: string): Settlement {
  let letter: DeadLetter = { deadLetter: 1, reason: `malformed message: ${reason}`, original: body };
  let encoded = encodeDeadLetter(letter);
  if (messageBytes(encoded) > SQS_MAX_MESSAGE_BYTES) {
    // Escaping can grow a near-limit body past the limit: keep what fits, say that it was cut.
    const keep = Math.floor(body.length / ((messageBytes(encoded) / SQS_MAX_MESSAGE_BYTES) * 1.1));
    letter = { ...letter, original: body.slice(0, keep), originalTruncatedFrom: messageBytes(body) };
    encoded = encodeDeadLetter(letter);
  }
  return { outcome: 'dead_lettered', steps: [{ type: 'dead-letter', body: encoded, keys: 0 }, { type: 'delete' }] };
}
