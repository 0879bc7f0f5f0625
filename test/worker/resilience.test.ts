// The worker under the failures it must survive: an rclone child killed mid-copy, the worker itself
// killed and restarted, SIGTERM with and without time to finish, and copies slower than the
// visibility timeout. rclone's --bwlimit makes copies slow enough to be caught in flight.
import { readFileSync, readdirSync } from 'node:fs';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import t from 'tap';
import { createResources, localClients, startLocalStack, type Resources } from '../../scripts/local-stack.ts';
import { batch, content, enqueue, putObject, queueDepth, sha256, sha256Of, takeAll } from '../helpers/queues.ts';
import { killGroup, startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);
const MiB = 1024 * 1024;

function rcloneChildren(parentPid: number): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        return ppid === parentPid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('rcd');
      } catch {
        return false;
      }
    })
    .map(Number);
}

async function seed(res: Resources, keys: string[], size: number): Promise<void> {
  for (const key of keys) await putObject(s3, res.sourceBucket, key, content(size, key));
  await enqueue(
    sqs,
    res.queueUrl,
    batch(
      res,
      keys.map((key) => ({ key, size })),
    ),
  );
}

/** The keys whose destination object is missing or differs from the source. */
async function notCopied(res: Resources, keys: string[], size: number): Promise<string[]> {
  const bad: string[] = [];
  for (const key of keys) if ((await sha256Of(s3, res.destBucket, key)) !== sha256(content(size, key))) bad.push(key);
  return bad;
}

t.test('an rclone child killed mid-batch: its copy is retried on another child and it is restarted', async (t) => {
  const res = await createResources(stack, { name: 'childkill' });
  const keys = ['big-1', 'big-2'];
  await seed(res, keys, 8 * MiB);
  const worker = await startWorker(stack, workerArgs(res, ['--rclone-flags', '["--bwlimit","4M"]']));
  t.teardown(() => worker.stop('SIGKILL'));
  await waitFor('copies in flight', async () => (await worker.metric('rclone_migrate_copies_in_flight')) === 2);
  const [victim] = rcloneChildren(worker.child.pid as number);
  process.kill(victim as number, 'SIGKILL');
  await waitFor(
    'the batch settled',
    async () => (await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'deleted' })) === 1,
  );
  t.same(await notCopied(res, keys, 8 * MiB), [], 'every object byte-identical');
  t.ok((await worker.metric('rclone_migrate_rclone_child_restarts_total')) >= 1, 'the dead child was restarted');
  await waitFor('both children up again', async () => (await worker.metric('rclone_migrate_rclone_children_up')) === 2);
  t.notOk(rcloneChildren(worker.child.pid as number).includes(victim as number));
  t.same(await takeAll(sqs, res.deadLetterUrl, 0), []);
});

t.test('the worker killed with SIGKILL mid-batch and started again loses nothing', async (t) => {
  const res = await createResources(stack, { name: 'sigkill' });
  const keys = ['k-1', 'k-2', 'k-3'];
  await seed(res, keys, 6 * MiB);
  const args = ['--visibility-seconds', '4', '--heartbeat-seconds', '2'];
  const first = await startWorker(stack, workerArgs(res, [...args, '--rclone-flags', '["--bwlimit","2M"]']));
  await waitFor('copies in flight', async () => (await first.metric('rclone_migrate_copies_in_flight')) > 0);
  killGroup(first);
  await first.exited;
  t.equal(await sha256Of(s3, res.destBucket, 'k-3'), undefined, 'killed before the batch finished');
  const second = await startWorker(stack, workerArgs(res, args));
  t.teardown(() => second.stop('SIGKILL'));
  // The message comes back when the visibility set by the dead worker lapses.
  await waitFor(
    'the batch settled after redelivery',
    async () => (await second.metric('rclone_migrate_messages_settled_total', { outcome: 'deleted' })) === 1,
  );
  t.same(await notCopied(res, keys, 6 * MiB), [], 'every object byte-identical');
  t.equal(await queueDepth(sqs, res.queueUrl), 0);
});

t.test('SIGTERM lets in-flight work finish, then exits 0', async (t) => {
  const res = await createResources(stack, { name: 'drain' });
  await seed(res, ['slow'], 6 * MiB);
  const worker = await startWorker(stack, workerArgs(res, ['--rclone-flags', '["--bwlimit","4M"]']));
  await waitFor('the copy in flight', async () => (await worker.metric('rclone_migrate_copies_in_flight')) === 1);
  const exit = await worker.stop('SIGTERM');
  t.same(exit, { code: 0, signal: null });
  t.same(await notCopied(res, ['slow'], 6 * MiB), [], 'every object byte-identical');
  t.equal(await queueDepth(sqs, res.queueUrl), 0, 'finished and deleted before exit');
  t.ok(worker.logs.some((l) => l.msg === 'drained'));
  t.same(rcloneChildren(worker.child.pid as number), [], 'children stopped');
});

t.test('SIGTERM past the drain deadline hands the message back at once', async (t) => {
  const res = await createResources(stack, { name: 'deadline', visibilitySeconds: 600 });
  await seed(res, ['slower'], 16 * MiB);
  const worker = await startWorker(
    stack,
    workerArgs(res, ['--drain-seconds', '1', '--visibility-seconds', '600', '--rclone-flags', '["--bwlimit","1M"]']),
  );
  await waitFor('the copy in flight', async () => (await worker.metric('rclone_migrate_copies_in_flight')) === 1);
  t.same(await worker.stop('SIGTERM'), { code: 0, signal: null });
  // Released with visibility 0: receivable now, not after the 600 s visibility.
  const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: res.queueUrl, WaitTimeSeconds: 5 }));
  t.equal(again.Messages?.length, 1, 'the message is back on the queue');
});

t.test('the heartbeat keeps a copy slower than the visibility timeout from being redelivered', async (t) => {
  const res = await createResources(stack, { name: 'heartbeat', visibilitySeconds: 4 });
  await seed(res, ['crawl'], 8 * MiB);
  const worker = await startWorker(
    stack,
    workerArgs(res, ['--visibility-seconds', '4', '--heartbeat-seconds', '1', '--rclone-flags', '["--bwlimit","1M"]']),
  );
  t.teardown(() => worker.stop('SIGKILL'));
  await waitFor('the copy in flight', async () => (await worker.metric('rclone_migrate_copies_in_flight')) === 1);
  // Poll as a second worker would, for longer than the visibility timeout, while the copy runs.
  let stolen = 0;
  for (let i = 0; i < 3 && (await worker.metric('rclone_migrate_copies_in_flight')) === 1; i++) {
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: res.queueUrl, WaitTimeSeconds: 2 }));
    stolen += got.Messages?.length ?? 0;
  }
  await waitFor(
    'the batch settled',
    async () => (await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'deleted' })) === 1,
    60_000,
  );
  t.equal(stolen, 0, 'no other receiver got the message');
  t.equal(await worker.metric('rclone_migrate_messages_received_total'), 1, 'received once');
  t.ok((await worker.metric('rclone_migrate_visibility_extensions_total')) >= 2, 'visibility extended while copying');
  t.same(await notCopied(res, ['crawl'], 8 * MiB), [], 'every object byte-identical');
});
