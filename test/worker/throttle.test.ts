// A throttling source, against real moto, the fault proxy (scripts/latency-proxy.ts) and real rclone
// children: under a SlowDown storm (a token bucket far below what the worker would ask, plus a share
// refused at random) the worker lowers its copy limit, retries the refused attempts itself instead of
// spending the message's attempts (one allowed here), and every object arrives. With the adaptation
// off the throttled counter and the limit gauge stay silent, so this test fails without it.
import t from 'tap';
import { queueCounts } from '../../shared/queue-counts.ts';
import { startLatencyProxy } from '../../scripts/latency-proxy.ts';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { batch, content, enqueue, putObject, sha256, sha256Of, takeAll } from '../helpers/queues.ts';
import { startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);

t.test(
  'under a SlowDown storm the limit falls, the throttled counter counts, and nothing is dead-lettered',
  async (t) => {
    const res = await createResources(stack, { name: 'throttle' });
    const bodies = new Map(
      Array.from({ length: 60 }, (_, i) => [`t/${String(i).padStart(3, '0')}`, content(512 + i, `t${i}`)]),
    );
    for (const [key, body] of bodies) await putObject(s3, res.sourceBucket, key, body);
    const proxy = await startLatencyProxy({
      target: stack.endpoint,
      delayMs: 0,
      throttle: { ratePerSecond: 10, burst: 1, slowDownFraction: 0.3 },
      lifetimeMs: 600_000,
    });
    t.teardown(() => proxy.stop());
    const capacity = 2 * 4; // workerArgs' two children × rclone's default four transfers each
    const worker = await startWorker(
      stack,
      workerArgs(res, [
        '--source-endpoint',
        proxy.endpoint,
        '--max-attempts',
        '1',
        '--rclone-transfers-per-child',
        '4',
      ]),
    );
    t.teardown(() => worker.stop('SIGKILL'));
    const keys = [...bodies].map(([key, body]) => ({ key, size: body.length }));
    for (let i = 0; i < keys.length; i += 20) await enqueue(sqs, res.queueUrl, batch(res, keys.slice(i, i + 20)));

    let lowest = Number.POSITIVE_INFINITY;
    await waitFor(
      'every batch settled',
      async () => {
        const limit = await worker.metric('rclone_migrate_copy_concurrency_limit', { store: 'source' });
        if (limit > 0) lowest = Math.min(lowest, limit);
        return (await worker.metric('rclone_migrate_messages_settled_total')) >= 3;
      },
      240_000,
      50,
    );
    t.ok(proxy.throttled() > 0, `the proxy refused ${proxy.throttled()} of ${proxy.requests()} source requests`);
    const counted = await worker.metric('rclone_migrate_throttled_requests_total', { store: 'source' });
    t.ok(counted > 0, `the throttled counter counts (${counted})`);
    t.ok(counted <= proxy.throttled(), 'and counts no more than the store refused');
    t.ok(lowest >= 1 && lowest < capacity, `the source limit fell below the ${capacity} copy slots (lowest ${lowest})`);
    t.equal(await worker.metric('rclone_migrate_objects_dead_lettered_total'), 0, 'nothing dead-lettered (metric)');
    t.equal(
      await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'deleted' }),
      3,
      'every batch deleted whole',
    );
    for (const [key, body] of bodies) t.equal(await sha256Of(s3, res.destBucket, key), sha256(body), key);
    t.same(await takeAll(sqs, res.deadLetterUrl, 0), [], 'the dead-letter queue is empty');
    const left = await queueCounts(sqs, res.queueUrl);
    t.equal(left.visible + left.inFlight, 0, 'the work queue is empty');
    t.equal((await worker.stop()).code, 0);
  },
);
