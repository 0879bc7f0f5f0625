// Stops taking work while a store is unavailable: it does not answer (unreachable), or it does not
// accept our credentials (auth). Without it, either walks every message through its attempts into
// the dead-letter queue. With it, a batch whose every failure is one of these (and that copied
// nothing) opens the gate: the worker stops receiving and probes both stores, at once (which store,
// and is it the store or the objects?) and then on a growing interval until both answer and accept
// our credentials. Messages wait on the queue meanwhile; only the batches in flight spend an attempt.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { credentialCode, errorMessage, httpStatus, type StoreSide } from '../shared/errors.ts';
import type { KeyOutcome } from './settle.ts';

/** Why a store is unavailable: bounded, a metric label. */
export type Unavailability = 'unreachable' | 'auth';
export const UNAVAILABILITIES: readonly Unavailability[] = ['unreachable', 'auth'];

/**
 * Nothing copied, and every key failed for want of an answer or of accepted credentials: the store,
 * not the objects (an AccessDenied on single objects also reads as auth here; the probe, which
 * authenticates, then finds the store fine and the gate closes at once).
 */
export function pointsToUnavailable(outcomes: readonly KeyOutcome[]): Unavailability | undefined {
  if (outcomes.length === 0) return undefined;
  let reason: Unavailability = 'auth';
  for (const o of outcomes) {
    if (o.ok || (o.kind !== 'unreachable' && o.kind !== 'auth')) return undefined;
    if (o.kind === 'unreachable') reason = 'unreachable';
  }
  return reason;
}

export type Stores = { sourceBucket: string; destBucket: string };

/** What a probe found wrong with one store. */
export type ProbeFailure = { reason: Unavailability; error: string };

/** The state of an open gate, as the status line and the metrics show it. */
export type Pause = {
  since: number;
  reason: Unavailability;
  /** Known once a probe has told which store it is. */
  store?: StoreSide;
  error?: string;
  probes: number;
};

export class OutageGate {
  readonly #firstDelayMs: number;
  readonly #maxDelayMs: number;
  #open: (Pause & { nextProbeAt: number; delayMs: number; stores: Stores }) | undefined;

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

  get pause(): Pause | undefined {
    if (!this.#open) return undefined;
    const { since, reason, store, error, probes } = this.#open;
    return { since, reason, store, error, probes };
  }

  /** The buckets to probe: those of the batch that opened the gate. */
  get stores(): Stores | undefined {
    return this.#open?.stores;
  }

  /** Takes a settled batch into account; says when that opened or closed the gate. */
  afterBatch(outcomes: readonly KeyOutcome[], stores: Stores, now: number): 'opened' | 'closed' | undefined {
    // A batch cut short (shutdown, or copies cut when a probe found a store gone) tells nothing.
    if (outcomes.some((o) => !o.ok && o.kind === 'aborted')) return undefined;
    const reason = pointsToUnavailable(outcomes);
    if (reason) {
      if (this.#open) return undefined;
      const first = outcomes.find((o) => !o.ok);
      this.#open = {
        since: now,
        reason,
        error: first && !first.ok ? first.error : undefined,
        store: first && !first.ok ? first.store : undefined,
        probes: 0,
        // The first probe is due at once: it tells which store, and whether it is the store at all.
        nextProbeAt: now,
        delayMs: this.#firstDelayMs,
        stores,
      };
      return 'opened';
    }
    if (this.#open && outcomes.some((o) => o.ok)) {
      this.#open = undefined;
      return 'closed';
    }
    return undefined;
  }

  /**
   * Opens the gate on a probe's finding (copies stalled, and a probe found a store unavailable): the
   * first probe is then done, the next is due after the first delay. Says whether it opened it.
   */
  openedByProbe(failure: ProbeFailure & { store: StoreSide }, stores: Stores, now: number): boolean {
    if (this.#open) return false;
    this.#open = {
      since: now,
      ...failure,
      probes: 1,
      nextProbeAt: now + this.#firstDelayMs,
      delayMs: this.#firstDelayMs,
      stores,
    };
    return true;
  }

  /** How long to wait before the next probe (0 when it is due, or when the gate is closed). */
  waitMs(now: number): number {
    return this.#open ? Math.max(0, this.#open.nextProbeAt - now) : 0;
  }

  /**
   * A probe's result: both stores fine (closes the gate) or one not (the next wait is the first
   * delay after the first probe, then doubles up to the cap).
   */
  probed(failure: (ProbeFailure & { store: StoreSide }) | undefined, now: number): void {
    if (!this.#open) return;
    if (!failure) {
      this.#open = undefined;
      return;
    }
    const open = this.#open;
    const delayMs = open.probes === 0 ? open.delayMs : Math.min(open.delayMs * 2, this.#maxDelayMs);
    this.#open = { ...open, ...failure, probes: open.probes + 1, delayMs, nextProbeAt: now + delayMs };
  }
}

/**
 * Is `bucket`'s store there and does it accept our credentials? A signed ListObjectsV2 of one key:
 * unlike HeadBucket, whose 403 has no body, its refusal names the S3 error code, so a bad signature or
 * an unknown key (auth) is told from an AccessDenied by policy (the request was authenticated: the
 * store is fine for this purpose). Any other HTTP answer counts as answered. Returns what is wrong.
 */
export async function probeStore(
  client: S3Client,
  bucket: string,
  signal: AbortSignal,
): Promise<ProbeFailure | undefined> {
  try {
    await client.send(new ListObjectsV2Command({ Bucket: bucket, MaxKeys: 1 }), { abortSignal: signal });
    return undefined;
  } catch (err) {
    const status = httpStatus(err);
    const name = (err as { name?: string }).name ?? '';
    const code = credentialCode(name) ?? credentialCode(errorMessage(err));
    if (status === 401 || (status === 403 && code)) {
      return { reason: 'auth', error: `${code ?? 'Unauthorized'} (HTTP ${status}): ${errorMessage(err)}` };
    }
    if (status !== undefined) return undefined;
    return {
      reason: 'unreachable',
      error: [(err as { code?: string }).code, name, errorMessage(err)].filter(Boolean).join(': '),
    };
  }
}
