// The fleet wiring end to end: this instance found through instance metadata (a loopback IMDSv2
// stand-in) and moto's DescribeAutoScalingInstances, protection set and cleared in moto, and the
// termination hook completed. moto lacks CompleteLifecycleAction and RecordLifecycleActionHeartbeat,
// so the Auto Scaling endpoint is a loopback stand-in that answers those two and forwards the rest to moto.
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  CreateLaunchConfigurationCommand,
  DescribeAutoScalingInstancesCommand,
} from '@aws-sdk/client-auto-scaling';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig } from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/logger.ts';
import { startFleet } from '../../daemon/fleet.ts';
import { createImds } from '../../daemon/imds.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startLocalStack } from '../../scripts/local-stack.ts';
import { startAutoScalingStandIn, startImdsStandIn, until } from './stand-ins.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const asg = await startAutoScalingStandIn({ forwardTo: stack.endpoint });
t.teardown(() => asg.close());
const client = new AutoScalingClient({
  region: LOCAL_REGION,
  endpoint: asg.endpoint,
  credentials: { ...LOCAL_CREDENTIALS },
  maxAttempts: 1,
});
const log = createLogger('silent');

await client.send(
  new CreateLaunchConfigurationCommand({
    LaunchConfigurationName: 'lc',
    ImageId: 'ami-12c6146b',
    InstanceType: 't3.micro',
  }),
);
await client.send(
  new CreateAutoScalingGroupCommand({
    AutoScalingGroupName: 'rclone-migrate-workers',
    LaunchConfigurationName: 'lc',
    MinSize: 0,
    MaxSize: 2,
    DesiredCapacity: 1,
    AvailabilityZones: [`${LOCAL_REGION}a`],
  }),
);
const described = await client.send(new DescribeAutoScalingInstancesCommand({}));
const instanceId = described.AutoScalingInstances?.[0]?.InstanceId ?? '';
const imds = await startImdsStandIn({ instanceId });
t.teardown(() => imds.close());

const isProtected = async (): Promise<boolean | undefined> =>
  (await client.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }))).AutoScalingInstances?.[0]
    ?.ProtectedFromScaleIn;

const emptyConfigFile = join(mkdtempSync(join(tmpdir(), 'rm-fleet-')), 'config.json');
writeFileSync(emptyConfigFile, '{}');
const config = (env: Record<string, string>) =>
  loadConfig({ env: { RCLONE_MIGRATE_CONFIG: emptyConfigFile, ...env }, argv: [] });

void t.test('finds its group, protects while busy, drains and completes on termination', async (t) => {
  let drained = 0;
  const fleet = await startFleet({
    config: config({ RCLONE_MIGRATE_IDLE_SECONDS: '0', RCLONE_MIGRATE_LIFECYCLE_POLL_SECONDS: '1' }),
    log,
    client,
    imds: createImds({ endpoint: imds.endpoint }),
    onTerminate: async () => {
      drained++;
    },
  });
  t.same(fleet.member, { instanceId, autoScalingGroupName: 'rclone-migrate-workers' });
  fleet.busy();
  let protectedNow: boolean | undefined;
  const deadline = Date.now() + 10_000;
  while (protectedNow !== true && Date.now() < deadline) {
    protectedNow = await isProtected();
    if (!protectedNow) await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(protectedNow, true, 'protected while busy');

  imds.lifecycleState = 'Terminated';
  await until(() => fleet.terminating, 'termination seen', 15_000);
  await fleet.lifecycleDone;
  t.equal(drained, 1);
  t.match(asg.calls.find((c) => c.action === 'CompleteLifecycleAction')?.params, {
    AutoScalingGroupName: 'rclone-migrate-workers',
    LifecycleHookName: 'rclone-migrate-drain',
    InstanceId: instanceId,
  });
  await fleet.stop();
  t.equal(await isProtected(), false, 'protection cleared on stop');
});

void t.test('off EC2: auto turns fleet behaviour off, on makes it a configuration error', async (t) => {
  const unreachable = createImds({ endpoint: 'http://127.0.0.1:9', timeoutMs: 500 });
  const fleet = await startFleet({ config: config({}), log, client, imds: unreachable, onTerminate: async () => {} });
  t.equal(fleet.member, undefined);
  fleet.busy();
  fleet.idle();
  await fleet.lifecycleDone;
  await fleet.stop();
  await t.rejects(
    startFleet({
      config: config({ RCLONE_MIGRATE_FLEET: 'on' }),
      log,
      client,
      imds: unreachable,
      onTerminate: async () => {},
    }),
    ConfigError,
  );
  const off = await startFleet({
    config: config({ RCLONE_MIGRATE_FLEET: 'off' }),
    log,
    client,
    onTerminate: async () => {},
  });
  t.equal(off.member, undefined, 'off does not even ask instance metadata');
});
