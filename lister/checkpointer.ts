// Group commit of the job manifest. Every change bumps a version; one write at a time carries the
// latest snapshot, and whoever needs a change to be durable waits for a write at or past its version.
// Many ranges' pages share one write, so checkpointing costs one store round trip, not one per page.
import type { JobManifest, ManifestStore } from './manifest.ts';
import { backoffMs, sleep } from './limiter.ts';

const WRITE_ATTEMPTS = 6;

export class Checkpointer {
  readonly #store: ManifestStore;
  readonly #snapshot: () => JobManifest;
  #version = 0;
  #durable = 0;
  #writing: Promise<void> | undefined;
  #failure: Error | undefined;
  readonly #waiters: Array<{ version: number; resolve: () => void; reject: (err: Error) => void }> = [];
  writes = 0;

  constructor(store: ManifestStore, snapshot: () => JobManifest) {
    this.#store = store;
    this.#snapshot = snapshot;
  }

  /** Records that the state changed; returns the version that includes the change. */
  bump(): number {
    this.#version++;
    this.#kick();
    return this.#version;
  }

  get version(): number {
    return this.#version;
  }

  /** Resolves once a write holding `version` (or later) has completed. */
  async durable(version: number): Promise<void> {
    if (this.#failure) throw this.#failure;
    if (this.#durable >= version) return;
    await new Promise<void>((resolve, reject) => {
      this.#waiters.push({ version, resolve, reject });
      this.#kick();
    });
  }

  /** Waits until everything recorded so far is durable. */
  async flush(): Promise<void> {
    await this.durable(this.#version);
  }

  async #writeWithRetries(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#store.write(this.#snapshot());
        return;
      } catch (err) {
        if (attempt >= WRITE_ATTEMPTS) throw err;
        await sleep(backoffMs(attempt, 200, 5000));
      }
    }
  }

  #kick(): void {
    if (this.#writing || this.#failure || this.#durable >= this.#version) return;
    this.#writing = this.#writeLoop().finally(() => {
      this.#writing = undefined;
      this.#kick();
    });
  }

  async #writeLoop(): Promise<void> {
    while (this.#durable < this.#version) {
      const version = this.#version;
      try {
        await this.#writeWithRetries();
      } catch (err) {
        this.#failure = new Error(
          `cannot write the job manifest to ${this.#store.location}: ${(err as Error).message}`,
        );
        for (const w of this.#waiters.splice(0)) w.reject(this.#failure);
        return;
      }
      this.writes++;
      this.#durable = version;
      for (let i = this.#waiters.length - 1; i >= 0; i--) {
        const w = this.#waiters[i];
        if (w && w.version <= version) {
          this.#waiters.splice(i, 1);
          w.resolve();
        }
      }
    }
  }
}
