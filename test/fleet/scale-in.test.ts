// Scale-in protection against moto's Auto Scaling (which creates fake instances and implements
// SetInstanceProtection), with a fake clock to step through idle periods instead of waiting them out.
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  CreateLaunchConfigurationCommand,
  DescribeAutoScalingInstancesCommand,
  SetInstanceProtectionCommand,
} from '@aws-sdk/client-auto-scaling';
import t from 'tap';
import { createLogger } from '../../shared/logger.ts';
import { ScaleInProtection, type Clock } from '../../daemon/scale-in.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalStack } from '../../scripts/local-stack.ts';

/** Timers that fire only when the test advances time. */
class FakeClock implements Clock {
  time = 0;
  #next = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.time + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  advance(ms: number): void {
    this.time += ms;
    for (const [id, timer] of [...this.#timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > this.time) break;
      this.#timers.delete(id);
      timer.fn();
    }
  }
}

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const log = createLogger('silent');

/** A client that counts the SetInstanceProtection calls it makes. */
function countingClient(): { client: AutoScalingClient; calls: boolean[] } {
  const client = new AutoScalingClient({
    region: LOCAL_REGION,
    endpoint: stack.endpoint,
    credentials: { ...LOCAL_CREDENTIALS },
  });
  const calls: boolean[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'SetInstanceProtectionCommand') {
        calls.push((args.input as { ProtectedFromScaleIn: boolean }).ProtectedFromScaleIn);
      }
      return next(args);
    },
    { step: 'initialize', name: 'countProtectionCalls' },
  );
  return { client, calls };
}

async function group(name: string): Promise<{ instanceId: string; autoScalingGroupName: string }> {
  const { client } = countingClient();
  await client.send(
    new CreateLaunchConfigurationCommand({
      LaunchConfigurationName: `${name}-lc`,
      ImageId: 'ami-12c6146b',
      InstanceType: 't3.micro',
    }),
  );
  await client.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      LaunchConfigurationName: `${name}-lc`,
      MinSize: 1,
      MaxSize: 1,
      DesiredCapacity: 1,
      AvailabilityZones: [`${LOCAL_REGION}a`],
    }),
  );
  const instanceId = await client
    .send(new DescribeAutoScalingInstancesCommand({}))
    .then((out) => out.AutoScalingInstances?.find((i) => i.AutoScalingGroupName === name)?.InstanceId);
  if (!instanceId) throw new Error(`moto created no instance in ${name}`);
  return { instanceId, autoScalingGroupName: name };
}

async function isProtected(client: AutoScalingClient, instanceId: string): Promise<boolean | undefined> {
  const out = await client.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }));
  return out.AutoScalingInstances?.[0]?.ProtectedFromScaleIn;
}

void t.test('clears protection left by an earlier run, then protects once while work comes and goes', async (t) => {
  const member = await group('hysteresis');
  const { client, calls } = countingClient();
  await client.send(
    new SetInstanceProtectionCommand({
      AutoScalingGroupName: member.autoScalingGroupName,
      InstanceIds: [member.instanceId],
      ProtectedFromScaleIn: true,
    }),
  );
  calls.length = 0;
  const clock = new FakeClock();
  const protection = new ScaleInProtection({ client, ...member, idleSeconds: 300, log, clock });
  await protection.settled();
  t.equal(await isProtected(client, member.instanceId), false, 'leftover protection cleared at start');

  protection.busy();
  await protection.settled();
  t.equal(protection.protected, true);
  t.equal(await isProtected(client, member.instanceId), true, 'protected once work starts');

  // A trickle: idle for a minute, then a message, fifty times over. Protection must not flap.
  for (let i = 0; i < 50; i++) {
    protection.idle();
    clock.advance(60_000);
    protection.busy();
    await protection.settled();
  }
  protection.idle();
  clock.advance(299_000);
  protection.idle(); // repeated idle() does not restart the countdown
  await protection.settled();
  t.equal(await isProtected(client, member.instanceId), true, 'still protected before idleSeconds');
  clock.advance(1_000);
  await protection.settled();
  t.equal(protection.protected, false);
  t.equal(await isProtected(client, member.instanceId), false, 'cleared after idleSeconds of idleness');
  t.same(calls, [false, true, false], 'one call to clear at start, one to set, one to clear');
  await protection.stop();
  t.same(calls, [false, true, false], 'stop() makes no call when already clear');
});

void t.test('stop() clears protection while busy', async (t) => {
  const member = await group('stopping');
  const { client, calls } = countingClient();
  const protection = new ScaleInProtection({ client, ...member, idleSeconds: 300, log, clock: new FakeClock() });
  protection.busy();
  await protection.settled();
  t.equal(await isProtected(client, member.instanceId), true);
  await protection.stop();
  t.equal(await isProtected(client, member.instanceId), false);
  protection.busy();
  await protection.settled();
  t.same(calls, [false, true, false], 'busy() after stop() is ignored');
});

void t.test('a failed call is retried after a pause, not in a tight loop', async (t) => {
  const member = await group('retrying');
  const { client, calls } = countingClient();
  const clock = new FakeClock();
  const protection = new ScaleInProtection({
    client,
    instanceId: member.instanceId,
    autoScalingGroupName: 'no-such-group',
    idleSeconds: 300,
    retrySeconds: 10,
    log,
    clock,
  });
  await protection.settled();
  protection.busy();
  await protection.settled();
  const before = calls.length;
  t.equal(protection.protected, false, 'the call failed');
  clock.advance(9_000);
  await protection.settled();
  t.equal(calls.length, before, 'no retry before the pause');
  clock.advance(1_000);
  await protection.settled();
  t.equal(calls.length, before + 1, 'one retry after the pause');
  await protection.stop();
});
