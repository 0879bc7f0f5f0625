// Fleet behaviour of a worker on an Auto Scaling instance, in one place for the worker loop to wire in:
// which instance and group we are, scale-in protection while busy, and the termination lifecycle hook.
// Off the fleet (a laptop, CI, the demo) `fleet.enabled=auto` finds no instance metadata and does nothing.
import { DescribeAutoScalingInstancesCommand, type AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { Config } from '../shared/config.ts';
import { ConfigError, errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { autoScalingClient } from '../shared/aws.ts';
import { createImds, type Imds } from './imds.ts';
import { watchLifecycle, type LifecycleWatch } from './lifecycle.ts';
import { ScaleInProtection, type Clock } from './scale-in.ts';

export type FleetMember = { instanceId: string; autoScalingGroupName: string };

/**
 * This instance and its group, from settings where given, else from instance metadata and
 * DescribeAutoScalingInstances. Undefined when not on EC2 or not in a group (and fleet.enabled is not "on").
 */
export async function resolveFleetMember(
  settings: Config['fleet'],
  deps: { imds: Imds; client: AutoScalingClient; log: Logger },
): Promise<FleetMember | undefined> {
  if (settings.enabled === 'off') return undefined;
  const required = settings.enabled === 'on';
  const missing = (why: string): undefined => {
    if (required) throw new ConfigError(`fleet.enabled is "on" but ${why}`);
    deps.log.info({ why }, 'not an Auto Scaling worker: fleet behaviour off');
    return undefined;
  };
  let instanceId = settings.instanceId;
  if (!instanceId) {
    try {
      instanceId = (await deps.imds.get('/latest/meta-data/instance-id')) ?? '';
    } catch (err) {
      return missing(`instance metadata did not answer (${errorMessage(err)})`);
    }
    if (!instanceId) return missing('instance metadata has no instance id');
  }
  let autoScalingGroupName = settings.autoScalingGroupName;
  if (!autoScalingGroupName) {
    const out = await deps.client.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }));
    autoScalingGroupName = out.AutoScalingInstances?.[0]?.AutoScalingGroupName ?? '';
    if (!autoScalingGroupName) return missing(`instance ${instanceId} is in no Auto Scaling group`);
  }
  return { instanceId, autoScalingGroupName };
}

export type Fleet = {
  member: FleetMember | undefined;
  /** Work started (a message was received). */
  busy(): void;
  /** Nothing is in flight. */
  idle(): void;
  /** True once the group has begun terminating this instance. */
  readonly terminating: boolean;
  /** Resolves when a termination being handled has been completed (immediately when there is none). */
  readonly lifecycleDone: Promise<void>;
  /** Clears protection and stops watching (does not wait for a termination being handled). */
  stop(): Promise<void>;
};

export type FleetOptions = {
  config: Config;
  log: Logger;
  /** Drain like SIGTERM; resolves when in-flight work is finished or handed back. */
  onTerminate: () => Promise<void>;
  client?: AutoScalingClient;
  imds?: Imds;
  clock?: Clock;
};

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const settings = options.config.fleet;
  const log = options.log.child({ component: 'fleet' });
  const client = options.client ?? autoScalingClient(options.config.dest.region);
  const imds = options.imds ?? createImds({ endpoint: settings.imdsEndpoint, timeoutMs: 2_000 });
  const member = await resolveFleetMember(settings, { imds, client, log });
  if (!member) {
    return {
      member,
      busy() {},
      idle() {},
      terminating: false,
      lifecycleDone: Promise.resolve(),
      async stop() {},
    };
  }
  log.info(member, 'Auto Scaling worker: scale-in protection and termination hook on');
  const protection = new ScaleInProtection({
    client,
    ...member,
    idleSeconds: settings.idleSeconds,
    log,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const watch: LifecycleWatch = watchLifecycle({
    imds,
    client,
    ...member,
    hookName: settings.lifecycleHookName,
    pollMs: settings.lifecyclePollSeconds * 1000,
    heartbeatMs: settings.lifecycleHeartbeatSeconds * 1000,
    log,
    onTerminate: options.onTerminate,
  });
  return {
    member,
    busy: () => protection.busy(),
    idle: () => protection.idle(),
    get terminating() {
      return watch.terminating;
    },
    get lifecycleDone() {
      return watch.terminating ? watch.done : Promise.resolve();
    },
    async stop() {
      watch.stop();
      await protection.stop();
    },
  };
}
