// The termination lifecycle hook. moto implements neither CompleteLifecycleAction nor
// RecordLifecycleActionHeartbeat, and there is no instance metadata service off EC2: both are loopback
// stand-ins here (test/fleet/stand-ins.ts), spoken to by the real AWS SDK client and IMDS client.
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import t, { type Test } from 'tap';
import { createLogger } from '../../shared/logger.ts';
import { createImds, ImdsError } from '../../daemon/imds.ts';
import { watchLifecycle, type LifecycleOptions } from '../../daemon/lifecycle.ts';
import {
  startAutoScalingStandIn,
  startImdsStandIn,
  until,
  type AutoScalingStandIn,
  type ImdsStandIn,
} from './stand-ins.ts';

const log = createLogger('silent');
const member = { instanceId: 'i-0123456789abcdef0', autoScalingGroupName: 'workers' };

async function fixture(t: Test): Promise<{ imds: ImdsStandIn; asg: AutoScalingStandIn; options: LifecycleOptions }> {
  const imds = await startImdsStandIn({ instanceId: member.instanceId });
  const asg = await startAutoScalingStandIn();
  t.teardown(async () => {
    await imds.close();
    await asg.close();
  });
  const client = new AutoScalingClient({
    region: 'us-east-1',
    endpoint: asg.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  return {
    imds,
    asg,
    options: {
      imds: createImds({ endpoint: imds.endpoint }),
      client,
      ...member,
      hookName: 'drain',
      pollMs: 20,
      heartbeatMs: 20,
      log,
      onTerminate: async () => {},
      completeRetryMs: 10,
    },
  };
}

void t.test('on Terminated: drains with heartbeats, then completes the lifecycle action once', async (t) => {
  const { imds, asg, options } = await fixture(t);
  let drains = 0;
  let finishDrain: () => void = () => {};
  const watch = watchLifecycle({
    ...options,
    onTerminate: () => {
      drains++;
      return new Promise<void>((resolve) => (finishDrain = resolve));
    },
  });
  t.equal(watch.terminating, false);
  imds.lifecycleState = 'Terminated';
  await until(() => drains === 1, 'the drain to start');
  t.equal(watch.terminating, true);
  await until(() => asg.calls.filter((c) => c.action === 'RecordLifecycleActionHeartbeat').length >= 2, 'heartbeats');
  t.notOk(
    asg.calls.some((c) => c.action === 'CompleteLifecycleAction'),
    'not completed while draining',
  );
  finishDrain();
  await watch.done;
  const completes = asg.calls.filter((c) => c.action === 'CompleteLifecycleAction');
  t.equal(completes.length, 1);
  t.match(completes[0]?.params, {
    AutoScalingGroupName: 'workers',
    LifecycleHookName: 'drain',
    InstanceId: member.instanceId,
    LifecycleActionResult: 'CONTINUE',
  });
  t.match(asg.calls.find((c) => c.action === 'RecordLifecycleActionHeartbeat')?.params, {
    LifecycleHookName: 'drain',
    InstanceId: member.instanceId,
  });
  t.equal(drains, 1, 'drained once');
  t.equal(imds.tokensIssued, 1, 'one IMDSv2 token reused across polls');
  t.equal(imds.unauthorised, 0);
});

void t.test('rides out a metadata outage, and a failed completion is retried', async (t) => {
  const { imds, asg, options } = await fixture(t);
  imds.failWith = 503;
  asg.failNext('CompleteLifecycleAction', 'InternalFailure', 1);
  const watch = watchLifecycle(options);
  await until(() => imds.requests >= 5, 'polls during the outage');
  t.equal(watch.terminating, false, 'an unreadable state is not a termination');
  imds.failWith = undefined;
  imds.lifecycleState = 'Terminated';
  await watch.done;
  t.equal(asg.calls.filter((c) => c.action === 'CompleteLifecycleAction').length, 1, 'completed on the second try');
});

void t.test('no pending action (ValidationError) is not retried; a failing drain still completes', async (t) => {
  const { imds, asg, options } = await fixture(t);
  asg.failNext('CompleteLifecycleAction', 'ValidationError', 5);
  imds.lifecycleState = 'Terminated';
  const watch = watchLifecycle({
    ...options,
    onTerminate: async () => {
      throw new Error('drain blew up');
    },
  });
  await watch.done;
  t.same(asg.attempted, ['CompleteLifecycleAction'], 'one attempt, not retried');
  asg.failNext('CompleteLifecycleAction', 'ValidationError', 0);

  const imds2 = await startImdsStandIn({ instanceId: member.instanceId });
  t.teardown(() => imds2.close());
  imds2.lifecycleState = 'Terminated';
  const watch2 = watchLifecycle({
    ...options,
    imds: createImds({ endpoint: imds2.endpoint }),
    onTerminate: async () => {
      throw new Error('drain blew up');
    },
  });
  await watch2.done;
  t.equal(
    asg.calls.filter((c) => c.action === 'CompleteLifecycleAction').length,
    1,
    'completed despite the drain error',
  );
});

void t.test('stop() ends polling without draining', async (t) => {
  const { imds, asg, options } = await fixture(t);
  let drains = 0;
  const watch = watchLifecycle({
    ...options,
    onTerminate: async () => {
      drains++;
    },
  });
  await until(() => imds.requests >= 2, 'a first poll');
  watch.stop();
  await watch.done;
  const requests = imds.requests;
  imds.lifecycleState = 'Terminated';
  t.equal(drains, 0);
  t.equal(imds.requests, requests, 'polling ended with done');
  t.equal(asg.calls.length, 0);
});

void t.test('IMDSv2 client: token reuse, renewal after 401, 404 as absent, unreachable as ImdsError', async (t) => {
  const stand = await startImdsStandIn({ instanceId: member.instanceId });
  t.teardown(() => stand.close());
  const imds = createImds({ endpoint: stand.endpoint });
  t.equal(await imds.get('/latest/meta-data/instance-id'), member.instanceId);
  t.equal(await imds.get('/latest/meta-data/instance-id'), member.instanceId);
  t.equal(stand.tokensIssued, 1);
  stand.revokeTokens();
  t.equal(await imds.get('/latest/meta-data/instance-id'), member.instanceId, 'renewed after 401');
  t.equal(stand.tokensIssued, 2);
  stand.lifecycleState = undefined;
  t.equal(await imds.get('/latest/meta-data/autoscaling/target-lifecycle-state'), undefined);
  await t.rejects(
    createImds({ endpoint: 'http://127.0.0.1:9', timeoutMs: 500 }).get('/latest/meta-data/instance-id'),
    ImdsError,
  );
});
