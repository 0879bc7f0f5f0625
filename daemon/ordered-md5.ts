// The MD5 of a whole object whose parts arrive out of order (the ranged copy fetches them in
// parallel): each part is hashed once every part before it has been, in slices, yielding between
// them so one 64 MiB part does not hold the event loop for its whole hash. A part's buffer must stay
// untouched until its add() resolves; a worker waiting there holds one buffer, which bounds memory.
import { createHash } from 'node:crypto';
import { setImmediate as yieldLoop } from 'node:timers/promises';

const SLICE = 4 * 1024 * 1024;

export class OrderedMd5 {
  readonly #hash = createHash('md5');
  readonly #waiting = new Map<number, { bytes: Buffer; resolve: () => void; reject: (err: Error) => void }>();
  #next = 0;
  #draining = false;
  #failed: Error | undefined;

  /** Resolves when part `index` (0-based) has been hashed; rejects once fail() is called. */
  add(index: number, bytes: Buffer): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (index < this.#next || this.#waiting.has(index)) throw new Error(`part ${index + 1} added twice`);
    return new Promise<void>((resolve, reject) => {
      this.#waiting.set(index, { bytes, resolve, reject });
      void this.#drain();
    });
  }

  /** Rejects every part still waiting: the copy has failed, the buffers are free. */
  fail(err: Error): void {
    this.#failed ??= err;
    for (const w of this.#waiting.values()) w.reject(this.#failed);
    this.#waiting.clear();
  }

  /** The MD5 (hex) of the parts hashed so far; call once every part's add() has resolved. */
  digest(): string {
    return this.#hash.digest('hex');
  }

  /** Parts hashed so far. */
  get hashed(): number {
    return this.#next;
  }

  async #drain(): Promise<void> {
    if (this.#draining) return;
    this.#draining = true;
    try {
      for (let w = this.#waiting.get(this.#next); w && !this.#failed; w = this.#waiting.get(this.#next)) {
        for (let at = 0; at < w.bytes.length; at += SLICE) {
          this.#hash.update(w.bytes.subarray(at, at + SLICE));
          if (at + SLICE < w.bytes.length) await yieldLoop();
          if (this.#failed) return;
        }
        this.#waiting.delete(this.#next);
        this.#next++;
        w.resolve();
      }
    } finally {
      this.#draining = false;
    }
  }
}
