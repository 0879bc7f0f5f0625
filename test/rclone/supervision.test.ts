// Supervision against real moto and real rclone: a child killed mid-copy (the copy moves to another
// child, the dead one is restarted), a hung child (health checks kill and restart it), children that
// keep dying (CopyError 'child'), and start failures that say what is wrong.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { CopyError } from '../../shared/errors.ts';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { RclonePool } from '../../daemon/rclone-pool.ts';
import { createMetrics } from '../../daemon/metrics.ts';
import { findExecutable } from '../../daemon/rclone-child.ts';
import { bytesRead, content, FAST, get, memoryLogger, poolOptions, put, running, sha256, waitFor } from './fixture.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3 } = localClients(stack);
const res = await createResources(stack, { name: 'supervise', secrets: false });

// Throttled so a copy of it takes seconds: long enough to kill its child mid-way.
const big = content(24 * 1024 * 1024, 'big');
await put(s3, res.sourceBucket, 'big.bin', big);

/** The pid of the child running the pool's only copy, once data is flowing through it. */
async function childMidCopy(pool: RclonePool): Promise<number> {
  let pid = 0;
  await waitFor('a child to take the copy', () => {
    pid = pool.childInfo().find((c) => c.busy > 0)?.pid ?? 0;
    return pid > 0;
  });
  const start = bytesRead(pid);
  await waitFor('the copy to move data', () => bytesRead(pid) - start > 2 * 1024 * 1024);
  return pid;
}

void t.test('a child killed mid-copy: the copy completes on another child, the dead one restarts', async (t) => {
  const metrics = createMetrics();
  const pool = new RclonePool(
    poolOptions(stack, memoryLogger('warn').log, {
      children: 2,
      transfersPerChild: 1,
      flags: ['--bwlimit=16M'],
      metrics,
    }),
  );
  await pool.start();
  t.teardown(() => pool.stop());
  const copy = pool.copy({
    srcBucket: res.sourceBucket,
    srcKey: 'big.bin',
    dstBucket: res.destBucket,
    dstKey: 'big.bin',
  });
  const victim = await childMidCopy(pool);
  process.kill(victim, 'SIGKILL');

  await copy;
  t.equal(sha256(await get(s3, res.destBucket, 'big.bin')), sha256(big), 'the object arrived whole');
  await waitFor('the dead child to be replaced', () => pool.stats().up === 2 && pool.stats().restarts >= 1);
  const pids = pool.childInfo().map((c) => c.pid);
  t.notOk(pids.includes(victim), 'the slot has a new child');
  t.ok(pids.every((pid) => pid !== undefined && running(pid)));
  t.match(pool.stats(), { up: 2, total: 2, restarts: 1, busy: 0 });
  const text = await metrics.registry.metrics();
  t.match(text, /rclone_migrate_rclone_child_restarts_total 1\b/);
  t.match(text, /rclone_migrate_rclone_children_up 2\b/);
  t.match(text, /rclone_migrate_rclone_children_configured 2\b/);
});

void t.test('a hung child fails its health checks and is killed and restarted', async (t) => {
  const pool = new RclonePool(poolOptions(stack, memoryLogger('silent').log, { children: 2, transfersPerChild: 1 }));
  await pool.start();
  t.teardown(() => pool.stop());
  const hung = pool.childInfo()[0]?.pid as number;
  process.kill(hung, 'SIGSTOP');
  await waitFor('the hung child to be replaced', () => {
    const first = pool.childInfo()[0];
    return first?.up === true && first.pid !== hung;
  });
  t.notOk(running(hung), 'the hung child was killed');
  t.match(pool.stats(), { up: 2, restarts: 1 });
  await put(s3, res.sourceBucket, 'after-hang', content(10, 'after'));
  await pool.copy({
    srcBucket: res.sourceBucket,
    srcKey: 'after-hang',
    dstBucket: res.destBucket,
    dstKey: 'after-hang',
  });
  t.equal(sha256(await get(s3, res.destBucket, 'after-hang')), sha256(content(10, 'after')));
});

void t.test('children that keep dying under a copy: CopyError child', async (t) => {
  const pool = new RclonePool(
    poolOptions(stack, memoryLogger('silent').log, {
      children: 1,
      transfersPerChild: 1,
      flags: ['--bwlimit=16M'],
      tuning: { backoffBaseMs: 50, childRetries: 1, healthIntervalMs: 60_000 },
    }),
  );
  await pool.start();
  t.teardown(() => pool.stop());
  const copy = pool
    .copy({ srcBucket: res.sourceBucket, srcKey: 'big.bin', dstBucket: res.destBucket, dstKey: 'doomed.bin' })
    .catch((err: unknown) => err);
  const first = await childMidCopy(pool);
  process.kill(first, 'SIGKILL');
  await waitFor('the copy to be retried on the restarted child', () => {
    const info = pool.childInfo()[0];
    return info?.busy === 1 && info.pid !== first;
  });
  const second = await childMidCopy(pool);
  t.not(second, first);
  process.kill(second, 'SIGKILL');
  const err = await copy;
  t.type(err, CopyError);
  t.match(err, { kind: 'child', key: 'big.bin', message: /kept failing/ });
  await waitFor('the pool to recover', () => pool.stats().up === 1);
  t.match(pool.stats(), { restarts: 2 });
});

void t.test('start fails clearly when rclone is missing or no child comes up', async (t) => {
  const missing = new RclonePool(
    poolOptions(stack, memoryLogger('silent').log, { binary: '/nonexistent/rclone', children: 2 }),
  );
  await t.rejects(missing.start(), /no rclone child came up: rclone executable "\/nonexistent\/rclone" was not found/);
  t.match(missing.stats(), { up: 0, restarts: 0 });

  // `false` starts and exits at once, like an rclone that cannot run here
  const broken = new RclonePool(poolOptions(stack, memoryLogger('silent').log, { binary: 'false', children: 1 }));
  await t.rejects(broken.start(), /no rclone child came up: rclone rcd exited during start \(code 1/);
  t.match(broken.stats(), { up: 0 });
});

void t.test('copies fail (kind child) while no child can run, and the pool recovers when rclone is back', async (t) => {
  // rclone reached through a PATH entry the test controls: removing it is rclone going missing
  const dir = mkdtempSync(join(tmpdir(), 'rclone-path-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const real = findExecutable('rclone', process.env.PATH ?? '') as string;
  symlinkSync(real, join(dir, 'rclone'));
  const base = poolOptions(stack, memoryLogger('silent').log, {
    children: 1,
    tuning: { ...FAST, noChildTimeoutMs: 500, backoffMaxMs: 200 },
  });
  const pool = new RclonePool({ ...base, baseEnv: { ...base.baseEnv, PATH: dir } });
  await pool.start();
  t.teardown(() => pool.stop());
  const pid = pool.childInfo()[0]?.pid as number;
  rmSync(join(dir, 'rclone'));
  process.kill(pid, 'SIGKILL');
  await waitFor('the pool to notice', () => pool.stats().up === 0);
  await put(s3, res.sourceBucket, 'while-down', content(10, 'down'));
  const copy = () =>
    pool.copy({ srcBucket: res.sourceBucket, srcKey: 'while-down', dstBucket: res.destBucket, dstKey: 'while-down' });
  t.match(await copy().catch((err: unknown) => err), { kind: 'child', message: /no rclone child has been up/ });
  symlinkSync(real, join(dir, 'rclone'));
  await waitFor('a child to come back', () => pool.stats().up === 1);
  await copy();
  t.ok(pool.stats().restarts >= 2, 'restarts kept being tried with back-off');
});

void t.test('a daemon killed with SIGKILL leaves no rclone behind', async (t) => {
  // A separate Node process runs a pool and prints its children's pids; then it is killed outright.
  const script = `
    import { RclonePool } from ${JSON.stringify(new URL('../../daemon/rclone-pool.ts', import.meta.url).href)};
    import { createLogger } from ${JSON.stringify(new URL('../../shared/logger.ts', import.meta.url).href)};
    const options = JSON.parse(process.env.POOL_OPTIONS);
    const pool = new RclonePool({ ...options, baseEnv: process.env, log: createLogger('silent') });
    await pool.start();
    console.log(JSON.stringify(pool.childInfo().map((c) => c.pid)));
    setInterval(() => {}, 1000);
  `;
  const { log: _log, baseEnv, ...options } = poolOptions(stack, memoryLogger('silent').log, { children: 2 });
  const daemon = spawn(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...baseEnv, POOL_OPTIONS: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => daemon.kill('SIGKILL'));
  let out = '';
  daemon.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await waitFor('the daemon to report its children', () => out.includes('\n'));
  const pids = JSON.parse(out) as number[];
  t.equal(pids.length, 2);
  t.ok(pids.every(running));
  daemon.kill('SIGKILL');
  await waitFor('the children to die with their parent', () => pids.every((pid) => !running(pid)));
  t.pass('no orphans');
});

void t.test('killNow kills every child at once', async (t) => {
  const pool = new RclonePool(poolOptions(stack, memoryLogger('silent').log, { children: 2 }));
  await pool.start();
  const pids = pool.childInfo().map((c) => c.pid as number);
  pool.killNow();
  await waitFor('the children to die', () => pids.every((pid) => !running(pid)));
  await pool.stop();
  t.match(pool.stats(), { up: 0, restarts: 0 }, 'and does not restart them');
});
