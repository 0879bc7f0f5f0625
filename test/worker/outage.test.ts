// A source that stops answering, against real moto and real rclone: the worker pauses receiving
// instead of walking messages into the dead-letter queue, probes, and resumes when the source is
// back. The source is reached through a loopback pass-through that is stopped (connections refused)
// and started again on the same port.
import t from 'tap';
import { queueCounts } from '../../shared/queue-counts.ts';
import { startLatencyProxy } from '../../scripts/latency-proxy.ts';
import { createResources, freePort, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { batch, content, enqueue, putObject, sha256, sha256Of, takeAll } from '../helpers/queues.ts';
import { startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);

t.test('a source outage pauses receiving, nothing is dead-lettered, and copying resumes', async (t) => {
  const res = await createResources(stack, { name: 'outage' });
  const bodies = new Map([
    ['o/1', content(100, '1')],
    ['o/2', content(200, '2')],
  ]);
  for (const [key, body] of bodies) await putObject(s3, res.sourceBucket, key, body);
  const port = await freePort();
  const worker = await startWorker(
    stack,
    workerArgs(res, [
      '--source-endpoint',
      `http://127.0.0.1:${port}`,
      // One low-level retry: rclone's default ten, with back-off, take 90 s to give up on a dead endpoint.
      '--rclone-flags',
      '["--low-level-retries","1"]',
      '--outage-probe-seconds',
      '1',
      '--max-attempts',
      '3',
    ]),
  );
  t.teardown(() => worker.stop('SIGKILL'));
  await enqueue(
    sqs,
    res.queueUrl,
    batch(
      res,
      [...bodies].map(([key, body]) => ({ key, size: body.length })),
    ),
  );

  // Nothing listens on the port: the batch fails, and the worker stops receiving.
  await waitFor('receiving paused', async () => (await worker.metric('rclone_migrate_stores_unreachable')) === 1);
  await waitFor(
    'two failed probes',
    async () => (await worker.metric('rclone_migrate_outage_probes_total', { result: 'unreachable' })) >= 2,
  );
  t.equal(await worker.metric('rclone_migrate_messages_received_total'), 1, 'nothing received while paused');
  t.equal(await worker.metric('rclone_migrate_objects_failed_total', { reason: 'unreachable' }), 2);
  t.equal((await queueCounts(sqs, res.queueUrl)).visible, 1, 'the failed keys wait on the queue, re-sent once');
  t.match(worker.output(), /the source does not answer: receiving paused until it does/);

  // The source comes back where it was.
  const proxy = await startLatencyProxy({ target: stack.endpoint, delayMs: 0, port });
  t.teardown(() => proxy.stop());
  await waitFor(
    'the re-sent batch copied',
    async () => (await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'deleted' })) === 1,
  );
  t.equal(await worker.metric('rclone_migrate_stores_unreachable'), 0, 'receiving resumed');
  t.ok((await worker.metric('rclone_migrate_outage_probes_total', { result: 'answered' })) >= 1);
  for (const [key, body] of bodies) t.equal(await sha256Of(s3, res.destBucket, key), sha256(body), key);
  t.same(await takeAll(sqs, res.deadLetterUrl, 0), [], 'nothing dead-lettered');
  t.equal((await worker.stop()).code, 0);
});
