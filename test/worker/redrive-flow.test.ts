// A failure, fixed at the source, then `rclone-migrate redrive`: from each source store (moto, Ceph RGW)
// the dead-lettered keys (one by rclone, one by the SDK path) are copied by the running worker.
import { spawn } from 'node:child_process';
import t from 'tap';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
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
import { SOURCE_STORES, sourceSide } from '../helpers/source-store.ts';
import { CLI, startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);

function redriveCli(queueUrl: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'redrive', '--log-level', 'warn'], {
    env: { ...process.env, ...stack.env, QUEUE_URL: queueUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

for (const store of SOURCE_STORES)
  t.test(`${store} source: keys dead-lettered while missing are copied after redrive`, async (t) => {
    const src = await sourceSide(t, store, stack, await createResources(stack, { name: `redrive-${store}` }));
    const res = src.res;
    const bodies = new Map([
      ['here', content(100, 'here')],
      ['late/rclone', content(200, 'late-r')],
      ['late//sdk', content(300, 'late-s')],
    ]);
    await putObject(src.s3, res.sourceBucket, 'here', bodies.get('here') as Buffer);
    await enqueue(
      sqs,
      res.queueUrl,
      batch(
        res,
        [...bodies].map(([key, body]) => ({ key, size: body.length })),
      ),
    );
    const worker = await startWorker(stack, workerArgs(res, [...src.args, '--max-attempts', '1']), src.env);
    t.teardown(() => worker.stop('SIGKILL'));
    await waitFor(
      'two keys dead-lettered',
      async () => (await worker.metric('rclone_migrate_objects_dead_lettered_total')) === 2,
    );
    t.equal(await sha256Of(s3, res.destBucket, 'here'), sha256(bodies.get('here') as Buffer), 'the present key copied');

    for (const key of ['late/rclone', 'late//sdk'])
      await putObject(src.s3, res.sourceBucket, key, bodies.get(key) as Buffer);
    const moved = await redriveCli(res.queueUrl);
    t.equal(moved.code, 0, moved.stderr);
    t.match(moved.stdout, /moved 1 messages \(2 keys\)/);
    await waitFor('both late keys copied', async () => {
      for (const key of ['late/rclone', 'late//sdk'])
        if ((await sha256Of(s3, res.destBucket, key)) !== sha256(bodies.get(key) as Buffer)) return false;
      return true;
    });
    t.equal(await worker.metric('rclone_migrate_objects_copied_total', { path: 'rclone' }), 2, 'here, late/rclone');
    t.equal(await worker.metric('rclone_migrate_objects_copied_total', { path: 'sdk' }), 1, 'late//sdk');
    await waitFor('the work queue empty', async () => (await queueDepth(sqs, res.queueUrl)) === 0);
    t.same(deadLetters(await takeAll(sqs, res.deadLetterUrl, 0)), [], 'nothing left dead-lettered');
  });
