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
        // A message settled while the call was on its way is refused harmlessly. One still in
        // flight lapsed: it may be redelivered elsewhere, which idempotent copies make harmless.
        const lapsed = refused.filter((handle) => this.#handles.has(handle)).length;
        if (lapsed > 0) this.#log.warn({ lapsed }, 'visibility extension refused for in-flight messages');
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
