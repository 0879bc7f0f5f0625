// Stops taking work while the stores do not answer. Without it a source outage walks every message
// through its attempts into the dead-letter queue, each copy spending rclone's retries first. With
// it, a batch whose every failure is "no answer" (and that copied nothing) opens the gate: the worker
// stops receiving and probes both stores on a growing interval until both answer. Messages wait on
// the queue meanwhile; only the batches in flight when the store went away spend an attempt.
import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { errorMessage, httpStatus } from '../shared/errors.ts';
import type { KeyOutcome } from './settle.ts';

/** Nothing copied, and every key failed for want of an answer: the store, not the objects. */
export function pointsToOutage(outcomes: readonly KeyOutcome[]): boolean {
  return outcomes.length > 0 && outcomes.every((o) => !o.ok && o.kind === 'unreachable');
}

export type Stores = { sourceBucket: string; destBucket: string };

export class OutageGate {
  readonly #firstDelayMs: number;
  readonly #maxDelayMs: number;
  #open: { since: number; nextProbeAt: number; delayMs: number; stores: Stores } | undefined;

  constructor(firstDelayMs: number, maxDelayMs: number) {
    this.#firstDelayMs = firstDelayMs;
    this.#maxDelayMs = Math.max(maxDelayMs, firstDelayMs);
  }

  get open(): boolean {
    return this.#open !== undefined;
  }

  /** When the gate opened (ms since the epoch), while it is open. */
  get since(): number | undefined {
    return this.#open?.since;
  }

  /** The buckets to probe: those of the batch that opened the gate. */
  get stores(): Stores | undefined {
    return this.#open?.stores;
  }

  /** Takes a settled batch into account; says when that opened or closed the gate. */
  afterBatch(outcomes: readonly KeyOutcome[], stores: Stores, now: number): 'opened' | 'closed' | undefined {
    if (pointsToOutage(outcomes)) {
      if (this.#open) return undefined;
      this.#open = { since: now, nextProbeAt: now + this.#firstDelayMs, delayMs: this.#firstDelayMs, stores };
      return 'opened';
    }
    if (this.#open && outcomes.some((o) => o.ok)) {
      this.#open = undefined;
      return 'closed';
    }
    return undefined;
  }

  /** How long to wait before the next probe (0 when it is due, or when the gate is closed). */
  waitMs(now: number): number {
    return this.#open ? Math.max(0, this.#open.nextProbeAt - now) : 0;
  }

  /** A probe's result: both stores answered (closes the gate) or not (the next wait doubles). */
  probed(answered: boolean, now: number): void {
    if (!this.#open) return;
    if (answered) {
      this.#open = undefined;
      return;
    }
    const delayMs = Math.min(this.#open.delayMs * 2, this.#maxDelayMs);
    this.#open = { ...this.#open, delayMs, nextProbeAt: now + delayMs };
  }
}

/**
 * Does the store answer for `bucket`? Any HTTP answer counts, a refusal or a 404 included: the probe
 * asks whether the endpoint is there, not whether the bucket is ours. Returns the failure when not.
 */
export async function probeStore(client: S3Client, bucket: string, signal: AbortSignal): Promise<string | undefined> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
    return undefined;
  } catch (err) {
    if (httpStatus(err) !== undefined) return undefined;
    return [(err as { code?: string }).code, errorMessage(err)].filter(Boolean).join(': ');
  }
}
