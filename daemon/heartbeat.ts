// Keeps in-flight messages invisible to other workers while their copies run, however long that is.
import type { Logger } from '../shared/logger.ts';
import { errorMessage } from '../shared/errors.ts';
import type { WorkQueue } from './queue.ts';

export class Heartbeat {
  readonly #handles = new Set<string>();
  readonly #queue: WorkQueue;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;
  #beating: Promise<void> | undefined;

  constructor(queue: WorkQueue, intervalMs: number, log: Logger) {
    this.#queue = queue;
    this.#log = log;
    this.#timer = setInterval(() => void this.beat(), intervalMs);
    this.#timer.unref();
  }

  add(receiptHandle: string): void {
    this.#handles.add(receiptHandle);
  }

  remove(receiptHandle: string): void {
    this.#handles.delete(receiptHandle);
  }

  /** Extends every in-flight message at once (batched ten a call); one beat at a time. */
  async beat(): Promise<void> {
    if (this.#beating || this.#handles.size === 0) return this.#beating;
    this.#beating = (async () => {
      try {
        const refused = await this.#queue.extendVisibility([...this.#handles]);
        // Refused handles are settled meanwhile, or their visibility lapsed: the message may be
        // redelivered elsewhere, and idempotent copies make that harmless.
        if (refused.length > 0) this.#log.warn({ refused: refused.length }, 'visibility extension refused');
      } catch (err) {
        this.#log.warn({ err: errorMessage(err) }, 'visibility extension failed; retrying next beat');
      } finally {
        this.#beating = undefined;
      }
    })();
    return this.#beating;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
