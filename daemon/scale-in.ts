// Auto Scaling scale-in protection while the worker has work, with hysteresis: set once when work starts,
// cleared only after the worker has been idle for `idleSeconds` without a break, so a queue that trickles
// does not make the instance flap between protected and not (each flip is an API call and a chance for
// the group to pick a busy instance). Calls are serialised; a failed call is retried after a pause.
import { SetInstanceProtectionCommand, type AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';

/** Time and timers, injectable so tests can step through idle periods without waiting. */
export type Clock = {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
};

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export type ScaleInOptions = {
  client: AutoScalingClient;
  instanceId: string;
  autoScalingGroupName: string;
  idleSeconds: number;
  log: Logger;
  clock?: Clock;
  /** Pause before a failed call is tried again. */
  retrySeconds?: number;
};

export class ScaleInProtection {
  readonly #options: ScaleInOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  /** What protection should be; what AWS last confirmed (undefined: unknown). */
  #want = false;
  #have: boolean | undefined;
  #idleTimer: unknown;
  #retryTimer: unknown;
  #applying: Promise<void> | undefined;
  #stopped = false;

  /** Starts by clearing any protection a previous run of the worker left behind (after a crash). */
  constructor(options: ScaleInOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log.child({ component: 'scale-in' });
    this.#reconcile();
  }

  /** Protection as AWS last confirmed it. */
  get protected(): boolean {
    return this.#have === true;
  }

  /** Work started: protect now (once) and forget any idle countdown. */
  busy(): void {
    if (this.#stopped) return;
    this.#cancelIdle();
    this.#want = true;
    this.#reconcile();
  }

  /** Nothing is in flight: clear protection once this lasts `idleSeconds`. Repeated calls do not restart the countdown. */
  idle(): void {
    if (this.#stopped || !this.#want || this.#idleTimer !== undefined) return;
    this.#idleTimer = this.#clock.setTimeout(() => {
      this.#idleTimer = undefined;
      this.#want = false;
      this.#reconcile();
    }, this.#options.idleSeconds * 1000);
  }

  /** Resolves when no call is in flight. */
  async settled(): Promise<void> {
    while (this.#applying) await this.#applying;
  }

  /** Clears protection (one more direct try if the last one failed) and stops. */
  async stop(): Promise<void> {
    this.#cancelIdle();
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#want = false;
    this.#reconcile();
    await this.settled();
    this.#stopped = true;
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#have !== false) await this.#apply(false);
  }

  #cancelIdle(): void {
    if (this.#idleTimer !== undefined) this.#clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  #reconcile(): void {
    if (this.#stopped || this.#applying || this.#retryTimer !== undefined || this.#have === this.#want) return;
    const target = this.#want;
    this.#applying = this.#apply(target).then((ok) => {
      this.#applying = undefined;
      if (!ok && !this.#stopped) {
        this.#retryTimer = this.#clock.setTimeout(
          () => {
            this.#retryTimer = undefined;
            this.#reconcile();
          },
          (this.#options.retrySeconds ?? 10) * 1000,
        );
        return;
      }
      // The wish may have changed while the call was in flight.
      this.#reconcile();
    });
  }

  async #apply(target: boolean): Promise<boolean> {
    const { client, instanceId, autoScalingGroupName } = this.#options;
    try {
      await client.send(
        new SetInstanceProtectionCommand({
          AutoScalingGroupName: autoScalingGroupName,
          InstanceIds: [instanceId],
          ProtectedFromScaleIn: target,
        }),
      );
      const changed = this.#have !== target;
      this.#have = target;
      if (changed)
        this.#log.info({ instanceId, protected: target }, `scale-in protection ${target ? 'set' : 'cleared'}`);
      return true;
    } catch (err) {
      this.#log.warn(
        { instanceId, autoScalingGroupName, protected: target, err: errorMessage(err) },
        'could not change scale-in protection; will retry',
      );
      return false;
    }
  }
}
