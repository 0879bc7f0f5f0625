// Termination lifecycle hook: the Auto Scaling group marks an instance it is about to terminate, and the
// instance sees it in its metadata (`autoscaling/target-lifecycle-state` becomes "Terminated"). The worker
// then drains as on SIGTERM, keeps the lifecycle action alive with heartbeats while it drains, and
// completes it so the instance goes as soon as its work is handed back rather than at the hook's timeout.
import {
  CompleteLifecycleActionCommand,
  RecordLifecycleActionHeartbeatCommand,
  type AutoScalingClient,
} from '@aws-sdk/client-auto-scaling';
import { errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Imds } from './imds.ts';

export const TARGET_LIFECYCLE_STATE_PATH = '/latest/meta-data/autoscaling/target-lifecycle-state';

export type LifecycleOptions = {
  imds: Imds;
  client: AutoScalingClient;
  instanceId: string;
  autoScalingGroupName: string;
  /** The termination hook to complete (empty: drain only, nothing to complete). */
  hookName: string;
  pollMs: number;
  heartbeatMs: number;
  log: Logger;
  /** Drain like SIGTERM; resolves when in-flight work is finished or handed back. */
  onTerminate: () => Promise<void>;
  /** Attempts at CompleteLifecycleAction and the pause between them. */
  completeAttempts?: number;
  completeRetryMs?: number;
};

export type LifecycleWatch = {
  /** True once the termination was seen (the drain has been asked for). */
  readonly terminating: boolean;
  /**
   * Resolves when watching ended: stopped, or the termination was handled (drained and the action
   * completed). When `terminating`, await it before exiting; never from inside onTerminate (it waits on that).
   */
  readonly done: Promise<void>;
  /** Stops polling; a termination already being handled goes on to completion. */
  stop(): void;
};

/** Whether a metadata lifecycle state means this instance is on its way out. */
export function isTerminating(state: string | undefined): boolean {
  return state === 'Terminated';
}

export function watchLifecycle(options: LifecycleOptions): LifecycleWatch {
  const log = options.log.child({ component: 'lifecycle' });
  let stopped = false;
  let terminating = false;
  let wake: (() => void) | undefined;
  let wakeTimer: NodeJS.Timeout | undefined;

  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      wakeTimer = setTimeout(resolve, ms);
    });

  const target = {
    AutoScalingGroupName: options.autoScalingGroupName,
    LifecycleHookName: options.hookName,
    InstanceId: options.instanceId,
  };

  const heartbeat = async (): Promise<void> => {
    try {
      await options.client.send(new RecordLifecycleActionHeartbeatCommand(target));
      log.debug('lifecycle action heartbeat recorded');
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'lifecycle action heartbeat failed');
    }
  };

  const complete = async (): Promise<void> => {
    const attempts = options.completeAttempts ?? 3;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        await options.client.send(new CompleteLifecycleActionCommand({ ...target, LifecycleActionResult: 'CONTINUE' }));
        log.info({ hook: options.hookName }, 'lifecycle action completed: the instance may terminate');
        return;
      } catch (err) {
        // No pending action (terminated without the hook, or already timed out) will not get better.
        const final = (err as { name?: string }).name === 'ValidationError' || attempt === attempts;
        log.warn(
          { hook: options.hookName, attempt, err: errorMessage(err) },
          final ? 'could not complete the lifecycle action; the hook timeout will end it' : 'retrying',
        );
        if (final) return;
        await new Promise((r) => setTimeout(r, options.completeRetryMs ?? 2_000));
      }
    }
  };

  const handleTermination = async (): Promise<void> => {
    terminating = true;
    log.warn({ instanceId: options.instanceId }, 'instance is being terminated by its Auto Scaling group: draining');
    const beat = options.hookName ? setInterval(() => void heartbeat(), options.heartbeatMs) : undefined;
    try {
      await options.onTerminate();
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'draining for termination failed; completing the lifecycle action anyway');
    } finally {
      clearInterval(beat);
    }
    if (options.hookName) await complete();
  };

  const run = async (): Promise<void> => {
    let failing = false;
    while (!stopped) {
      let state: string | undefined;
      try {
        state = await options.imds.get(TARGET_LIFECYCLE_STATE_PATH);
        if (failing) log.info('instance metadata answers again');
        failing = false;
      } catch (err) {
        // Logged once per outage: a poll every few seconds would otherwise flood the log.
        if (!failing) log.warn({ err: errorMessage(err) }, 'cannot read the target lifecycle state; still trying');
        failing = true;
      }
      if (stopped) return;
      if (isTerminating(state)) return handleTermination();
      await pause(options.pollMs);
    }
  };

  const done = run();
  return {
    get terminating() {
      return terminating;
    },
    done,
    stop() {
      stopped = true;
      clearTimeout(wakeTimer);
      wake?.();
    },
  };
}
