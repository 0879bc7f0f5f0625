// A stop strands nothing: a busy worker (a real process, fed while it long-polls) is stopped with
// SIGTERM again and again at random points of its receive cycle, as scale-in does all day. A receive in
// flight when draining begins must be let finish and what it returns handed back (visibility 0), so
// afterwards no message is left invisible: ApproximateNumberOfMessagesNotVisible is 0 and every message
// is either done (its object at the destination) or received back from the queue.
// The visibility timeout is long (600 s), so a stranded message stays invisible until the test counts.
import t from 'tap';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { queueCounts } from '../../shared/queue-counts.ts';
import { batch, content, enqueue, putObject, sha256Of, takeAll } from '../helpers/queues.ts';
import { startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);

const STOPS = 8;
const WAIT_SECONDS = 2;
const SIZE = 1024;

t.test('SIGTERM at random points of the receive cycle leaves no message invisible', async (t) => {
  const res = await createResources(stack, { name: 'stops' });
  const keys: string[] = [];
  let producing = true;
  // Messages arrive one at a time while the worker long-polls, so stops land mid-poll with a message
  // about to be handed out (bounded: at most 400 messages, and only while the test runs).
  const producer = (async () => {
    for (let n = 0; producing && n < 400; n++) {
      const key = `obj-${n}`;
      await putObject(s3, res.sourceBucket, key, content(SIZE, key));
      await enqueue(sqs, res.queueUrl, batch(res, [{ key, size: SIZE }]));
      keys.push(key);
      await new Promise((r) => setTimeout(r, 150));
    }
  })();
  t.teardown(() => {
    producing = false;
    return producer;
  });

  const args = workerArgs(res, ['--wait-seconds', String(WAIT_SECONDS), '--visibility-seconds', '600']);
  const stopsAt: number[] = [];
  let handedBack = 0;
  for (let round = 0; round < STOPS; round++) {
    const worker = await startWorker(stack, args);
    t.teardown(() => worker.stop('SIGKILL'));
    const before = await worker.metric('rclone_migrate_messages_received_total');
    await waitFor(
      'the worker busy',
      async () => (await worker.metric('rclone_migrate_messages_received_total')) > before,
    );
    // A random point within one long poll (and the copies between polls).
    const delayMs = Math.floor(Math.random() * WAIT_SECONDS * 1000);
    stopsAt.push(delayMs);
    await new Promise((r) => setTimeout(r, delayMs));
    const exit = await Promise.race([
      worker.stop('SIGTERM'),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('worker did not exit in 60 s')), 60_000)),
    ]);
    t.same(exit, { code: 0, signal: null }, `stop ${round + 1} (${delayMs} ms into the cycle) exits 0`);
    handedBack += worker.logs.filter((l) => l.msg === 'received while draining: handed back').length;
  }
  producing = false;
  await producer;
  t.comment(`stopped at ${stopsAt.join(', ')} ms after a receive; ${handedBack} stop(s) handed a receive back`);

  const counts = await queueCounts(sqs, res.queueUrl);
  t.equal(counts.inFlight, 0, 'ApproximateNumberOfMessagesNotVisible is 0 after the stops');
  const back = takeAll(sqs, res.queueUrl, 0).then((bodies) =>
    bodies.map((b) => (JSON.parse(b) as { objects: Array<{ key: string }> }).objects[0]?.key),
  );
  const returned = new Set(await back);
  const lost: string[] = [];
  for (const key of keys) {
    if (returned.has(key)) continue;
    if ((await sha256Of(s3, res.destBucket, key)) === undefined) lost.push(key);
  }
  t.same(lost, [], `each of ${keys.length} messages is done or back on the queue (${returned.size} back)`);
  t.same(await takeAll(sqs, res.deadLetterUrl, 0), [], 'nothing dead-lettered');
});
