// A shared bandwidth cap for the SDK copy path (rclone's children have --bwlimit): a token bucket of
// bytes per second with one second of burst. Chunks larger than the burst are admitted once the
// bucket is full and drive it into debt, so the long-run rate holds without splitting chunks.
import { Transform } from 'node:stream';

export class ByteRate {
  readonly #perSecond: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  constructor(bytesPerSecond: number, now: () => number = () => performance.now()) {
    if (!(bytesPerSecond > 0)) throw new Error(`bandwidth cap must be > 0 bytes/s: ${bytesPerSecond}`);
    this.#perSecond = bytesPerSecond;
    this.#now = now;
    this.#tokens = bytesPerSecond;
    this.#at = now();
  }

  /** Milliseconds to wait before `bytes` may pass (0: now); the bytes are counted as taken. */
  take(bytes: number): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#perSecond, this.#tokens + ((now - this.#at) / 1000) * this.#perSecond);
    this.#at = now;
    const wait =
      this.#tokens >= Math.min(bytes, this.#perSecond)
        ? 0
        : ((Math.min(bytes, this.#perSecond) - this.#tokens) / this.#perSecond) * 1000;
    this.#tokens -= bytes;
    return Math.max(0, Math.ceil(wait - 1e-6)); // float noise must not add a millisecond
  }

  /** A pass-through stream that holds each chunk until the cap lets it pass. */
  stream(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        const wait = this.take(chunk.length);
        if (wait === 0) done(null, chunk);
        else setTimeout(() => done(null, chunk), wait);
      },
    });
  }
}
