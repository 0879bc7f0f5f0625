// The happy path against real rclone, from each source store (moto, Ceph RGW) into moto: a realistic mix
// of keys copied byte for byte, odd keys by the SDK path, multipart objects on both paths, and no secret
// in any command line or log line.
import { readFileSync, readdirSync } from 'node:fs';
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import t from 'tap';
import { bareEtag } from '../../shared/key-order.ts';
import { createResources, localClients, startLocalStack, LOCAL_CREDENTIALS } from '../../scripts/local-stack.ts';
import { batch, content, enqueue, putObject, queueDepth, sha256, sha256Of, takeAll } from '../helpers/queues.ts';
import { startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';
import { SOURCE_STORES, sourceSide } from '../helpers/source-store.ts';

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

for (const store of SOURCE_STORES)
  t.test(
    `${store} source: copies a mixed batch byte for byte, odd keys included, and keeps secrets out of sight`,
    async (t) => {
      const src = await sourceSide(t, store, stack, await createResources(stack, { name: `copy-${store}` }));
      const res = src.res;
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
      for (const [key, body] of objects) await putObject(src.s3, res.sourceBucket, key, body);
      const keys = [...objects].map(([key, body]) => ({ key, size: body.length }));
      await enqueue(sqs, res.queueUrl, batch(res, keys.slice(0, 6)));
      await enqueue(sqs, res.queueUrl, batch(res, keys.slice(6)));

      // Source keys come from Secrets Manager; AWS_CA_BUNDLE is set as on the real machines.
      const worker = await startWorker(stack, workerArgs(res, src.args), {
        AWS_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt',
        ...src.env,
      });
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
      t.equal(
        await worker.metric('rclone_migrate_verify_requests_total', { method: 'list' }),
        2,
        'one listing per batch',
      );
      t.equal(await worker.metric('rclone_migrate_verify_requests_total', { method: 'head' }), 0, 'no HEAD needed');
      t.equal(await queueDepth(sqs, res.queueUrl), 0);
      t.same(await takeAll(sqs, res.deadLetterUrl, 0), [], 'nothing dead-lettered');

      const lines = commandLines(worker.child.pid as number);
      t.ok(lines.filter((l) => l.includes('rcd')).length >= 2, 'rclone children found');
      const pid = worker.child.pid as number;
      t.equal(readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), 'rclone-migrate', 'the daemon is named rclone-migrate');
      t.match(lines[0], /^rclone-migrate worker/, 'its command line shows the command');
      const secrets = [LOCAL_CREDENTIALS.secretAccessKey, ...(src.ceph ? [src.ceph.secretAccessKey] : [])];
      for (const line of lines)
        t.notOk(
          secrets.some((secret) => line.includes(secret)),
          'no secret on a command line',
        );
      const health = await fetch(worker.metricsUrl.replace('/metrics', '/healthz'));
      t.equal(health.status, 200);
      t.equal((await worker.stop()).code, 0, 'SIGTERM exits 0');
      t.notOk(
        secrets.some((secret) => worker.output().includes(secret)),
        'no secret in the logs',
      );
    },
  );

/** Each key's ETag as the source lists it, as the lister would put it in the message. */
async function listedEtags(client: S3Client, bucket: string): Promise<Map<string, string>> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
  return new Map((out.Contents ?? []).map((o) => [o.Key ?? '', bareEtag(o.ETag) ?? '']));
}

for (const store of SOURCE_STORES)
  t.test(`${store} source: multipart objects on both paths, from single-part and multipart sources`, async (t) => {
    const src = await sourceSide(t, store, stack, await createResources(stack, { name: `multi-${store}` }));
    const res = src.res;
    const MiB = 1024 * 1024;
    const single = new Map<string, Buffer>([
      ['multi/rclone-11MiB.bin', content(11 * MiB, 'r11')],
      ['odd//sdk-11MiB.bin', content(11 * MiB, 's11')],
    ]);
    // Uploaded in parts at the source: their listed ETag is a multipart one (`-N`), no MD5.
    const parted = new Map<string, Buffer>([
      ['multi/source-parts.bin', content(11 * MiB + 7, 'p11')],
      ['/lead/source-parts.bin', content(11 * MiB + 9, 'q11')],
    ]);
    for (const [key, body] of single) await putObject(src.s3, res.sourceBucket, key, body);
    for (const [key, body] of parted)
      await new Upload({
        client: src.s3,
        params: { Bucket: res.sourceBucket, Key: key, Body: body },
        partSize: 5 * MiB,
      }).done();
    const etags = await listedEtags(src.s3, res.sourceBucket);
    for (const key of parted.keys()) t.match(etags.get(key), /^[0-9a-f]{32}-3$/, `listed multipart ETag: ${key}`);
    const all = new Map([...single, ...parted]);
    await enqueue(
      sqs,
      res.queueUrl,
      batch(
        res,
        [...all].map(([key, body]) => ({ key, size: body.length, etag: etags.get(key) as string })),
      ),
    );
    // rclone uploads in 5 MiB parts from 5 MiB up, so 11 MiB objects take its multipart path too.
    const rcloneParts = JSON.stringify({ upload_cutoff: '5M', chunk_size: '5M' });
    const args = workerArgs(res, [...src.args, '--sdk-part-size-mib', '5', '--dest-rclone-options', rcloneParts]);
    const worker = await startWorker(stack, args, src.env);
    t.teardown(() => worker.stop('SIGKILL'));
    await waitFor(
      'the message settled',
      async () => (await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'deleted' })) === 1,
      120_000,
    );
    for (const [key, body] of all) {
      t.equal(await sha256Of(s3, res.destBucket, key), sha256(body), `byte-identical: ${key}`);
      const head = await s3.send(new HeadObjectCommand({ Bucket: res.destBucket, Key: key }));
      t.match(head.ETag, /-3"$/, `stored in three parts at the destination: ${key}`);
    }
    t.equal(await worker.metric('rclone_migrate_objects_copied_total', { path: 'rclone' }), 2);
    t.equal(await worker.metric('rclone_migrate_objects_copied_total', { path: 'sdk' }), 2);
    t.same(await takeAll(sqs, res.deadLetterUrl, 0), [], 'nothing dead-lettered');
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
