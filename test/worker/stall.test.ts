// A source that stops answering without refusing anything (connections accepted, never answered),
// against real moto and real rclone: the source is reached through a loopback pass-through that is
// replaced by a black hole on the same port, then restored. rclone alone takes about eight idle
// timeouts to give up on a silent GET; the worker must see the stall, probe, pause receiving and
// hand the stalled copies back (not fail them), then copy everything once the source answers.
import t from 'tap';
import { startBlackHole } from '../../scripts/black-hole.ts';
import { startLatencyProxy } from '../../scripts/latency-proxy.ts';
import { createResources, freePort, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { takeAll } from '../helpers/queues.ts';
import { expectAllCopied, outageBatches } from '../helpers/outage-run.ts';
import { startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);

t.test('a silent source is seen, stalled copies are handed back, and all is copied after', async (t) => {
  const res = await createResources(stack, { name: 'stall' });
  const { bodies, send } = await outageBatches({ s3, sqs }, res, {
    prefix: 's',
    messages: 5,
    perMessage: 4,
    size: 300,
  });
  const port = await freePort();
  let proxy = await startLatencyProxy({ target: stack.endpoint, delayMs: 0, port });
  // default store timeouts (connect 5 s, idle 10 s): what is under test
  const worker = await startWorker(
    stack,
    workerArgs(res, ['--source-endpoint', proxy.endpoint, '--outage-probe-seconds', '5', '--max-attempts', '3']),
  );
  t.teardown(() => worker.stop('SIGKILL'));
  await send(0);
  await waitFor(
    'the first batch copied',
    async () => (await worker.metric('rclone_migrate_objects_copied_total')) === 4,
  );

  await proxy.stop();
  const hole = await startBlackHole(port);
  const silentAt = Date.now();
  for (let m = 1; m < 5; m++) await send(m);
  await waitFor(
    'receiving paused',
    async () => (await worker.metric('rclone_migrate_stores_unreachable')) === 1,
    45_000,
  );
  const seenMs = Date.now() - silentAt;
  t.comment(`silent source: stores_unreachable 1 after ${(seenMs / 1000).toFixed(1)} s`);
  t.ok(hole.connections() > 0, 'the copies did reach the black hole');
  const line = worker.logs.find((l) => l.level === 'error' && /copies stalled/.test(l.msg));
  t.match(line, { store: 'source', endpoint: proxy.endpoint, bucket: res.sourceBucket, reason: 'unreachable' });
  await waitFor(
    'the stalled batches handed back',
    async () => (await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'released' })) >= 1,
  );
  t.equal(await worker.metric('rclone_migrate_objects_failed_total', { reason: 'verify' }), 0);
  t.equal(await worker.metric('rclone_migrate_objects_failed_total', { reason: 'copy' }), 0);
  t.same(await takeAll(sqs, res.deadLetterUrl, 0), [], 'nothing dead-lettered while silent');

  await hole.stop();
  proxy = await startLatencyProxy({ target: stack.endpoint, delayMs: 0, port });
  t.teardown(() => proxy.stop());
  await expectAllCopied(t, worker, { s3, sqs }, res, bodies);
});
