// Reading dead letters back for `redrive`. A body on the dead-letter queue is either the worker's
// envelope ({deadLetter: 1, reason, failures, original}) or a work message that SQS itself moved
// after maxReceiveCount. Either way the work message is recovered and its attempt reset. Pure.
import { MalformedMessageError, errorMessage } from '../shared/errors.ts';
import { parseMessage, type BatchMessage } from '../shared/message.ts';

export type Redrivable =
  { ok: true; message: BatchMessage; reason: string; errors: string[] } | { ok: false; reason: string };

export function readDeadLetter(body: string): Redrivable {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${errorMessage(err)}` };
  }
  const envelope = raw as { deadLetter?: unknown; reason?: unknown; original?: unknown; failures?: unknown };
  const isEnvelope = typeof raw === 'object' && raw !== null && envelope.deadLetter === 1;
  const reason =
    isEnvelope && typeof envelope.reason === 'string' ? envelope.reason : 'moved by SQS after maxReceiveCount';
  const errors =
    isEnvelope && Array.isArray(envelope.failures)
      ? (envelope.failures as Array<{ key?: unknown; error?: unknown }>).map(
          (f) => `${String(f.key)}: ${String(f.error)}`,
        )
      : [];
  if (isEnvelope && typeof envelope.original !== 'string')
    return { ok: false, reason: 'dead letter has no original message' };
  try {
    const message = parseMessage(isEnvelope ? (envelope.original as string) : body);
    // A fresh start: the keys get the full number of attempts again.
    message.attempt = 1;
    return { ok: true, message, reason, errors };
  } catch (err) {
    if (err instanceof MalformedMessageError)
      return { ok: false, reason: `${reason}; the message cannot be redriven: ${err.message}` };
    throw err;
  }
}

/** Whether a dead letter matches a redrive filter: job id, and text in its reason, errors or keys. */
export function matchesFilter(letter: Redrivable, filter: { text: string; job: string }): boolean {
  if (!letter.ok) return false;
  if (filter.job && letter.message.job !== filter.job) return false;
  if (!filter.text) return true;
  const text = filter.text;
  return (
    letter.reason.includes(text) ||
    letter.errors.some((e) => e.includes(text)) ||
    letter.message.objects.some((o) => o.key.includes(text))
  );
}
