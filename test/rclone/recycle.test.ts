// Recycling against real moto and real rclone: a child past its copy count or RSS limit takes no new
// copies, finishes the ones in flight, and is restarted in its slot; no copy fails or is retried, and
// with several children at most one is out at a time.
import t from 'tap';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { startLatencyProxy } from '../../scripts/latency-proxy.ts';
import { RclonePool } from '../../daemon/rclone-pool.ts';
import { createMetrics } from '../../daemon/metrics.ts';
import { content, FAST, get, memoryLogger, poolOptions, put, running, sha256, waitFor } from './fixture.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3 } = localClients(stack);
const res = await createResources(stack, { name: 'recycle', secrets: false });

// The held object's GET waits at the proxy until the test lets it go: a copy in flight on demand.
let release: () => void = () => undefined;
const gate = new Promise<void>((resolve) => (release = resolve));
let heldGets = 0;
let heldArrived: () => void = () => undefined;
const arrived = new Promise<void>((resolve) => (heldArrived = resolve));
const proxy = await startLatencyProxy({
  target: stack.endpoint,
  delayMs: 0,
  hold: (req) => {
    if (req.method !== 'GET' || !req.url?.includes('/held.bin')) return undefined;
    heldGets++;
    heldArrived();
    return gate;
  },
});
t.teardown(() => {
  release();
  return proxy.stop();
});

const held = content(256 * 1024, 'held');
await put(s3, res.sourceBucket, 'held.bin', held);
const smalls = Array.from({ length: 5 }, (_, i) => ({ key: `small-${i}`, body: content(1000 + i, `small-${i}`) }));
for (const { key, body } of smalls) await put(s3, res.sourceBucket, key, body);

const copyOf = (key: string) => ({ srcBucket: res.sourceBucket, srcKey: key, dstBucket: res.destBucket, dstKey: key });

type Line = { msg: string; slot?: number; pid?: number; reason?: string; copies?: number };
const lines = (text: string): Line[] =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

void t.test('recycleAfterCopies: drained after N copies, restarted, every copy succeeds once', async (t) => {
  const metrics = createMetrics();
  const logs = memoryLogger('debug');
  const base = poolOptions(stack, logs.log, {
    children: 1,
    transfersPerChild: 2,
    metrics,
    recycle: { rssMiB: 0, afterCopies: 2 },
    // long enough that rclone never cuts the held GET itself
    timeouts: { connectMs: 5_000, idleMs: 120_000 },
  });
  const pool = new RclonePool({ ...base, source: { ...base.source, endpoint: proxy.endpoint } });
  await pool.start();
  t.teardown(() => pool.stop());
  const oldPid = pool.childInfo()[0]?.pid as number;

  const first = pool.copy(copyOf('held.bin')); // copy 1, held at the proxy
  await arrived;
  await pool.copy(copyOf('small-0')); // copy 2: the child reaches its count and stops taking copies
  const recycles = async () => (await metrics.childRecycles.get()).values;
  t.same(
    (await recycles()).map((v) => [v.labels.reason, v.value]),
    [['copies', 1]],
  );
  t.equal(pool.childInfo()[0]?.pid, oldPid, 'the draining child is not stopped under its copy in flight');
  t.ok(running(oldPid));

  // copies 3-6 wait: the only child takes no new copies until it has been restarted
  const rest = smalls.slice(1).map(({ key }) => pool.copy(copyOf(key)));
  t.equal(pool.stats().busy, 1, 'only the held copy is dispatched');
  t.equal(heldGets, 1);
  release();
  await first;
  await Promise.all(rest);

  for (const { key, body } of [{ key: 'held.bin', body: held }, ...smalls]) {
    t.equal(sha256(await get(s3, res.destBucket, key)), sha256(body), `${key} arrived whole`);
  }
  t.equal(heldGets, 1, 'the held copy was not retried: it completed on the old child');
  t.notOk(running(oldPid), 'the old child was stopped');
  // 6 copies, 2 per child: each of three children recycled at its second copy
  t.same(
    (await recycles()).map((v) => [v.labels.reason, v.value]),
    [['copies', 3]],
  );
  const recycled = lines(logs.text()).filter((l) => l.msg.startsWith('recycling rclone child'));
  t.equal(recycled.length, 3, 'one info line per recycle');
  t.match(recycled[0], { slot: 0, pid: oldPid, reason: 'copies', copies: 2 });
  t.equal(new Set(recycled.map((l) => l.pid)).size, 3, 'a new child each time');
  await waitFor('the last recycled child to be up', () => pool.stats().up === 1);
  const newPid = pool.childInfo()[0]?.pid as number;
  t.not(newPid, oldPid, 'the slot runs a new child');
  t.ok(running(newPid));
  t.notMatch(logs.text(), /retrying on another child|rclone child exited|failed/, 'no copy failed or moved');
  t.match(pool.stats(), { restarts: 0, busy: 0 }, 'recycles are not crash restarts');
});

void t.test('recycleRssMiB: a child over the limit is recycled for rss, one child at a time', async (t) => {
  const metrics = createMetrics();
  const logs = memoryLogger('debug');
  // every rclone is well over 1 MiB: each health check after a restart finds one to recycle
  const pool = new RclonePool(
    poolOptions(stack, logs.log, {
      children: 3,
      transfersPerChild: 1,
      metrics,
      recycle: { rssMiB: 1, afterCopies: 0 },
      tuning: FAST,
    }),
  );
  await pool.start();
  t.teardown(() => pool.stop());

  // copies keep going while children are recycled under them
  let copied = 0;
  await waitFor(
    'four recycles',
    async () => {
      const { key, body } = smalls[copied % smalls.length] as { key: string; body: Buffer };
      await pool.copy({ ...copyOf(key), dstKey: `rss-${copied}` });
      t.equal(sha256(await get(s3, res.destBucket, `rss-${copied}`)), sha256(body), `rss-${copied} arrived whole`);
      copied++;
      const up = lines(logs.text()).filter((l) => l.msg === 'recycled rclone child is up');
      return up.length >= 4;
    },
    60_000,
  );
  const text = await metrics.registry.metrics();
  const rss = /rclone_migrate_rclone_child_rss_bytes\{slot="0"\} (\d+)/.exec(text);
  t.ok(rss && Number(rss[1]) > 1024 * 1024, `RSS of slot 0 sampled: ${rss?.[1]}`);
  const count = /rclone_migrate_rclone_child_recycles_total\{reason="rss"\} (\d+)/.exec(text);
  t.ok(count && Number(count[1]) >= 4, `recycles counted for rss: ${count?.[1]}`);
  t.notMatch(text, /recycles_total\{reason="copies"\}/);

  // the pool's own log of the recycles: each one's child is up again before the next starts
  const events = lines(logs.text()).filter(
    (l) => l.msg.startsWith('recycling rclone child') || l.msg === 'recycled rclone child is up',
  );
  // "+1" a recycle of slot 1 begins, "-1" its new child is up: never two recycles open at once
  const sequence = events.map((e) => `${e.msg.startsWith('recycling') ? '+' : '-'}${e.slot}`).join(' ');
  t.match(`${sequence} `, /^(\+(\d) -\2 )*(\+\d )?$/, 'each recycled child is up before the next recycle begins');
  t.ok(
    events.every((e) => !e.msg.startsWith('recycling') || e.reason === 'rss'),
    'every recycle for rss',
  );
  t.ok(copied > 0, `${copied} copies made meanwhile`);
  t.notMatch(logs.text(), /retrying on another child|rclone child exited|restart failed/, 'no copy failed or moved');
  t.equal(pool.stats().restarts, 0);
});
