// Batches that fail, part or whole, and messages that are not batches: every key ends copied or
// dead-lettered with a reason; the worker never crashes on a message.
import t from 'tap';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { parseMessage, type DeadLetter } from '../../shared/message.ts';
import {
  batch,
  content,
  deadLetters,
  enqueue,
  putObject,
  queueDepth,
  sha256,
  sha256Of,
  takeAll,
} from '../helpers/queues.ts';
import { startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);

t.test('a partly failed batch re-sends only the failed keys, with attempt + 1', async (t) => {
  const res = await createResources(stack, { name: 'partial' });
  for (const key of ['ok-1', 'ok-2']) await putObject(s3, res.sourceBucket, key, content(100, key));
  const keys = [
    { key: 'ok-1', size: 100 },
    { key: 'missing', size: 7 },
    { key: 'ok-2', size: 100 },
  ];
  await enqueue(sqs, res.queueUrl, batch(res, keys));
  // moto delivers a re-sent message at once (it ignores DelaySeconds), so the re-sent message is
  // read where it ends: two attempts, then the dead-letter queue, whose letter carries the body of
  // the last attempt.
  const worker = await startWorker(stack, workerArgs(res, ['--max-attempts', '2']));
  t.teardown(() => worker.stop('SIGKILL'));
  await waitFor('dead-lettered', async () => (await worker.metric('rclone_migrate_objects_dead_lettered_total')) === 1);
  t.equal(await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'resent' }), 1);
  t.equal(await worker.metric('rclone_migrate_objects_copied_total'), 2, 'the good keys were copied once, not again');
  for (const key of ['ok-1', 'ok-2']) t.equal(await sha256Of(s3, res.destBucket, key), sha256(content(100, key)));
  const [letter] = deadLetters(await takeAll(sqs, res.deadLetterUrl));
  t.equal(letter?.attempt, 2, 'the re-sent message carried attempt 2');
  t.same(
    letter?.failures?.map((f) => f.key),
    ['missing'],
    'and only the failed key',
  );
});

t.test('keys that fail every attempt go to the dead-letter queue with their errors', async (t) => {
  const res = await createResources(stack, { name: 'exhausted' });
  await putObject(s3, res.sourceBucket, 'fine', content(10, 'fine'));
  await enqueue(
    sqs,
    res.queueUrl,
    batch(res, [
      { key: 'fine', size: 10 },
      { key: 'gone-1', size: 1 },
      { key: 'gone-2', size: 2 },
    ]),
  );
  const worker = await startWorker(stack, workerArgs(res, ['--max-attempts', '3']));
  t.teardown(() => worker.stop('SIGKILL'));
  await waitFor('dead-lettered', async () => (await worker.metric('rclone_migrate_objects_dead_lettered_total')) === 2);
  t.equal(
    await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'resent' }),
    2,
    'attempts 1 and 2 re-sent',
  );
  const [letter, ...rest] = deadLetters(await takeAll(sqs, res.deadLetterUrl));
  t.same(rest, []);
  t.equal(letter?.attempt, 3);
  t.same(
    letter?.failures?.map((f) => f.key),
    ['gone-1', 'gone-2'],
  );
  for (const f of letter?.failures ?? []) t.match(f.error, /not found|404|exist/i, 'an actionable reason');
  t.same(
    parseMessage(letter?.original ?? '').objects.map((o) => o.key),
    ['gone-1', 'gone-2'],
    'redrivable original',
  );
  t.equal(await sha256Of(s3, res.destBucket, 'fine'), sha256(content(10, 'fine')));
  t.equal(await queueDepth(sqs, res.queueUrl), 0);
});

t.test('malformed messages are dead-lettered at once with the reason', async (t) => {
  const res = await createResources(stack, { name: 'malformed' });
  const good = batch(res, [{ key: 'k' }]);
  const bodies = [
    'not json at all',
    JSON.stringify({ hello: 'world' }),
    JSON.stringify({ ...good, source: { bucket: 'Not_A_Bucket' } }),
    JSON.stringify({ ...good, objects: [{ key: 'x'.repeat(1025) }] }),
  ];
  for (const body of bodies) await enqueue(sqs, res.queueUrl, body);
  const worker = await startWorker(stack, workerArgs(res));
  t.teardown(() => worker.stop('SIGKILL'));
  await waitFor(
    'all four settled',
    async () => (await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'malformed' })) === 4,
  );
  const letters = new Map(
    deadLetters(await takeAll(sqs, res.deadLetterUrl)).map((l: DeadLetter) => [l.original, l.reason]),
  );
  t.equal(letters.size, 4);
  t.match(letters.get(bodies[0] as string), /not JSON/);
  t.match(letters.get(bodies[1] as string), /version/);
  t.match(letters.get(bodies[2] as string), /bucket name "Not_A_Bucket"/);
  t.match(letters.get(bodies[3] as string), /1025 bytes/);
  t.equal(worker.child.exitCode, null, 'still running');
  t.equal((await fetch(worker.metricsUrl.replace('/metrics', '/healthz'))).status, 200);
});
