// The happy path against real moto and real rclone: a realistic mix of keys copied byte for byte,
// odd keys by the SDK path, and no secret in any command line or log line.
import { readFileSync, readdirSync } from 'node:fs';
import t from 'tap';
import { createResources, localClients, startLocalStack, LOCAL_CREDENTIALS } from '../../scripts/local-stack.ts';
import { batch, content, enqueue, putObject, queueDepth, sha256, sha256Of, takeAll } from '../helpers/queues.ts';
import { startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);

/** Command lines of a process and all its descendants. */
function commandLines(rootPid: number): string[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // exited meanwhile
    }
  }
  const family = new Set([rootPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (family.has(ppid) && !family.has(pid)) {
        family.add(pid);
        grew = true;
      }
    }
  }
  return [...family].map((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      return '';
    }
  });
}

t.test('copies a mixed batch byte for byte, odd keys included, and keeps secrets out of sight', async (t) => {
  const res = await createResources(stack, { name: 'copy' });
  const objects = new Map<string, Buffer>([
    ['plain/a.txt', content(1000, 'a')],
    ['empty', Buffer.alloc(0)],
    ['ünïcödé/日本語/😀 file name.bin', content(70_000, 'u')],
    ['spaces and+plus%percent#hash?q', content(10, 's')],
    ['fullwidth／slash‛quote＼back', content(11, 'f')],
    ['big/5MiB.bin', content(5 * 1024 * 1024, 'big')],
    ['a//b', content(12, 'odd1')],
    ['/leading', content(13, 'odd2')],
    ['trailing/', Buffer.alloc(0)],
    ['x/./y', content(14, 'odd3')],
    ['x/../y', content(15, 'odd4')],
    ['..', content(16, 'odd5')],
  ]);
  for (const [key, body] of objects) await putObject(s3, res.sourceBucket, key, body);
  const keys = [...objects].map(([key, body]) => ({ key, size: body.length }));
  await enqueue(sqs, res.queueUrl, batch(res, keys.slice(0, 6)));
  await enqueue(sqs, res.queueUrl, batch(res, keys.slice(6)));

  // Source keys come from Secrets Manager; AWS_CA_BUNDLE is set as on the real machines.
  const worker = await startWorker(stack, workerArgs(res), { AWS_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt' });
  t.teardown(() => worker.stop('SIGKILL'));
  await waitFor(
    'both messages settled',
    async () => (await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'deleted' })) === 2,
  );

  for (const [key, body] of objects)
    t.equal(await sha256Of(s3, res.destBucket, key), sha256(body), `byte-identical: ${JSON.stringify(key)}`);
  t.equal(await worker.metric('rclone_migrate_objects_copied_total', { path: 'rclone' }), 6);
  t.equal(await worker.metric('rclone_migrate_objects_copied_total', { path: 'sdk' }), 6);
  const bytes = [...objects.values()].reduce((n, b) => n + b.length, 0);
  t.equal(await worker.metric('rclone_migrate_bytes_copied_total'), bytes);
  t.equal(await worker.metric('rclone_migrate_rclone_children_up'), 2);
  t.equal(await worker.metric('rclone_migrate_verify_requests_total', { method: 'list' }), 2, 'one listing per batch');
  t.equal(await worker.metric('rclone_migrate_verify_requests_total', { method: 'head' }), 0, 'no HEAD needed');
  t.equal(await queueDepth(sqs, res.queueUrl), 0);
  t.same(await takeAll(sqs, res.deadLetterUrl, 0), [], 'nothing dead-lettered');

  const lines = commandLines(worker.child.pid as number);
  t.ok(lines.filter((l) => l.includes('rcd')).length >= 2, 'rclone children found');
  const pid = worker.child.pid as number;
  t.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'rclone-migrate', 'the daemon is named rclone-migrate');
  t.match(lines[0], /^rclone-migrate worker/, 'its command line shows the command');
  for (const line of lines) t.notOk(line.includes(LOCAL_CREDENTIALS.secretAccessKey), 'no secret on a command line');
  const health = await fetch(worker.metricsUrl.replace('/metrics', '/healthz'));
  t.equal(health.status, 200);
  t.equal((await worker.stop()).code, 0, 'SIGTERM exits 0');
  t.notOk(worker.output().includes(LOCAL_CREDENTIALS.secretAccessKey), 'no secret in the logs');
});

t.test('a source that refuses the credentials fails clearly and dead-letters with the reason', async (t) => {
  const res = await createResources(stack, { name: 'badcreds', secrets: false });
  await putObject(s3, res.sourceBucket, 'k', content(5, 'k'));
  await enqueue(sqs, res.queueUrl, batch(res, [{ key: 'k', size: 5 }]));
  const worker = await startWorker(
    stack,
    // One low-level retry: rclone's default ten, with back-off, take 90 s to give up on a dead endpoint.
    workerArgs(res, [
      '--max-attempts',
      '1',
      '--source-endpoint',
      stack.endpoint.replace(/:\d+$/, ':1'),
      '--rclone-flags',
      '["--low-level-retries","1"]',
    ]),
    { RCLONE_MIGRATE_SOURCE_ACCESS_KEY_ID: 'x', RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY: 'y' },
  );
  t.teardown(() => worker.stop('SIGKILL'));
  const letters = await waitFor('a dead letter', async () => {
    const got = await takeAll(sqs, res.deadLetterUrl, 1);
    return got.length ? got : undefined;
  });
  const letter = JSON.parse(letters[0] as string) as { failures: Array<{ key: string; error: string }> };
  t.equal(letter.failures[0]?.key, 'k');
  t.match(letter.failures[0]?.error, /connect|refused|dial/i, 'the reason says the endpoint cannot be reached');
});
