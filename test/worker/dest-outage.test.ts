// A destination that refuses connections for about 40 s, against real moto and real rclone: the
// destination (rclone's remote and the SDK client that verifies) is reached through a loopback
// pass-through that is stopped and started again on the same port. With the default store timeouts
// the worker must see it (rclone_migrate_stores_unreachable 1) well before rclone's own defaults would
// have failed a copy (90 s), dead-letter nothing, and copy everything once the destination is back.
import t from 'tap';
import { startLatencyProxy } from '../../scripts/latency-proxy.ts';
import { createResources, freePort, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { takeAll } from '../helpers/queues.ts';
import { expectAllCopied, outageBatches } from '../helpers/outage-run.ts';
import { startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);

const OUTAGE_MS = 40_000;

t.test('a destination refusing connections pauses receiving within 30 s and nothing is lost', async (t) => {
  const res = await createResources(stack, { name: 'destout' });
  const { bodies, send } = await outageBatches({ s3, sqs }, res, {
    prefix: 'd',
    messages: 6,
    perMessage: 4,
    size: 200,
  });
  const port = await freePort();
  let proxy = await startLatencyProxy({ target: stack.endpoint, delayMs: 0, port });
  t.teardown(() => proxy.stop());
  const worker = await startWorker(
    stack,
    // default store timeouts and rclone retries: what is under test
    workerArgs(res, ['--dest-endpoint', proxy.endpoint, '--outage-probe-seconds', '5', '--max-attempts', '3']),
  );
  t.teardown(() => worker.stop('SIGKILL'));
  await send(0);
  await waitFor(
    'the first batch copied',
    async () => (await worker.metric('rclone_migrate_objects_copied_total')) === 4,
  );

  await proxy.stop();
  const stoppedAt = Date.now();
  for (let m = 1; m < 6; m++) await send(m);
  await waitFor(
    'receiving paused',
    async () => (await worker.metric('rclone_migrate_stores_unreachable')) === 1,
    60_000,
    50,
  );
  const seenMs = Date.now() - stoppedAt;
  t.comment(`destination refusing connections: stores_unreachable 1 after ${(seenMs / 1000).toFixed(1)} s`);
  t.ok(seenMs < 60_000, "seen before rclone's default retries would have failed one copy");
  t.equal(
    await worker.metric('rclone_migrate_objects_failed_total', { reason: 'verify' }),
    0,
    'no answer is not "verify"',
  );
  t.ok((await worker.metric('rclone_migrate_objects_failed_total', { reason: 'unreachable' })) > 0);
  const line = await waitFor('the error line of the first probe', () =>
    worker.logs.find((l) => l.level === 'error' && /does not answer/.test(l.msg)),
  );
  t.match(line, { store: 'destination', endpoint: proxy.endpoint, bucket: res.destBucket, reason: 'unreachable' });

  // The outage lasts its course; the worker keeps probing meanwhile.
  await waitFor(
    `${OUTAGE_MS / 1000} s of outage with failed probes`,
    async () =>
      Date.now() - stoppedAt >= OUTAGE_MS &&
      (await worker.metric('rclone_migrate_outage_probes_total', { result: 'unreachable' })) >= 2,
    OUTAGE_MS + 60_000,
    500,
  );
  t.same(await takeAll(sqs, res.deadLetterUrl, 0), [], 'nothing dead-lettered during the outage');
  proxy = await startLatencyProxy({ target: stack.endpoint, delayMs: 0, port });
  await expectAllCopied(t, worker, { s3, sqs }, res, bodies);
});
