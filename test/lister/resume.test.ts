// A lister killed with SIGKILL and started again with the same job id resumes from its manifest:
// no key is lost, at most one page per unfinished range is listed and sent again. From each source
// store (moto, Ceph RGW, whose continuation tokens are raw keys).
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import type { JobManifest } from '../../lister/manifest.ts';
import { drainQueue, parseAll, putObjects, sentKeys } from './helpers.ts';
import { SOURCE_STORES, sourceSide } from '../helpers/source-store.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { sqs } = localClients(stack);

const PAGE = 5;
const job = (store: string) => `resume job/${store}`;

for (const store of SOURCE_STORES)
  void t.test(`${store} source: SIGKILL mid-listing, then resume with the same job id`, async (t) => {
    const side = await sourceSide(
      t,
      store,
      stack,
      await createResources(stack, { name: `resume-${store}`, secrets: false }),
    );
    const r = side.res;
    const keys = Array.from({ length: 900 }, (_, i) => `d${i % 3}/${String(i).padStart(5, '0')}`);
    await putObjects(
      side.s3,
      r.sourceBucket,
      keys.map((key) => ({ key })),
    );
    const state = t.testdir();
    const manifestPath = join(state, `${encodeURIComponent(job(store))}.json`);
    const start = (): ChildProcess =>
      spawn(
        process.execPath,
        [
          'bin/rclone-migrate.ts',
          'list',
          '--log-level',
          'warn',
          '--page-size',
          String(PAGE),
          '--list-concurrency',
          '3',
        ],
        {
          env: {
            ...process.env,
            ...stack.env,
            SOURCE_BUCKET: r.sourceBucket,
            DEST_BUCKET: r.destBucket,
            QUEUE_URL: r.queueUrl,
            RCLONE_MIGRATE_JOB_ID: job(store),
            RCLONE_MIGRATE_LISTER_STATE: state,
            RCLONE_MIGRATE_SOURCE_ENDPOINT: side.ceph?.endpoint ?? stack.endpoint,
            RCLONE_MIGRATE_SOURCE_ACCESS_KEY_ID: 'test',
            RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY: 'test-secret-key',
            ...side.env,
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
    const read = (): JobManifest | undefined =>
      existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as JobManifest) : undefined;

    const first = start();
    const exited = new Promise((resolve) => first.on('exit', resolve));
    // Kill once a fair part (but not all) is checkpointed; poll with a bounded deadline.
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && (read()?.totals.keys ?? 0) < 200) await new Promise((r) => setTimeout(r, 20));
    first.kill('SIGKILL');
    await exited;
    const atKill = read();
    t.ok(atKill, 'a manifest was written');
    if (!atKill) return;
    t.notOk(atKill.finishedAt, 'killed before the end');
    const unfinished = atKill.ranges.filter((range) => !range.done).length;

    const second = start();
    let stdout = '';
    second.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise((resolve) => second.on('exit', resolve));
    t.equal(code, 0);
    const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
      resumed: boolean;
      keys: number;
      listedThisRun: number;
    };
    t.ok(summary.resumed);
    t.equal(summary.keys, keys.length, 'the manifest counts every key once');
    t.equal(
      summary.listedThisRun,
      keys.length - atKill.totals.keys,
      'the resumed run listed only what no checkpoint held',
    );

    const sent = sentKeys(parseAll(await drainQueue(sqs, r.queueUrl)));
    t.same([...new Set(sent)], [...keys].sort(), 'no key lost');
    const duplicates = sent.length - keys.length;
    t.ok(
      duplicates <= unfinished * PAGE,
      `${duplicates} keys sent twice; at most one page for each of ${unfinished} ranges`,
    );
    t.ok(read()?.finishedAt, 'finished after the resume');
  });
