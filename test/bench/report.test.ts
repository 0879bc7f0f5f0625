// The bench's pure report pieces: which targets a scenario has on each store and the verdict on a
// ratio, the rclone children's memory rows, the counter read from a daemon's /metrics, the keys
// parsed from radosgw-admin's answer, and the bound on a step. No store is started here.
import t from 'tap';
import { bounded, StepTimeout } from '../../scripts/bench/bounded.ts';
import { childRssRows, goalsOf, renderBlocks, verdict, type ReportInput } from '../../scripts/bench/report.ts';
import { counterTotal, type RunResult } from '../../scripts/bench/run.ts';
import { parseUserKeys } from '../../scripts/ceph-rgw.ts';

const MiB = 1024 * 1024;

t.test('Ceph targets: 10× the reference only with source latency; 0.8× the ceiling on small objects', async (t) => {
  const goal = (id: string, kind: 'small' | 'large', against: string) =>
    goalsOf({ id, kind, store: 'ceph' }).find((g) => g.against === against)?.goal;
  t.equal(goal('ceph-small-latency', 'small', 'reference'), 10);
  t.equal(goal('ceph-small-latency', 'small', 'ceiling'), 0.8);
  t.equal(goal('ceph-small', 'small', 'ceiling'), 0.8);
  t.ok(Number.isNaN(goal('ceph-small', 'small', 'reference')), 'no reference target without latency');
  t.equal(goal('ceph-large', 'large', 'rclone-direct'), 0.95);
  t.equal(goal('ceph-large-latency', 'large', 'ceiling'), 0.8);
});

t.test("moto keeps issue 5's targets, also for results saved without a store", async (t) => {
  t.same(goalsOf({ id: 'small', kind: 'small' }), [
    { against: 'reference', goal: 10 },
    { against: 'ceiling', goal: 0.7 },
  ]);
  t.equal(goalsOf({ id: 'large', kind: 'large', store: 'moto' })[0]?.goal, 0.95);
});

t.test('verdict: met at the goal, missed below it, blank without a goal or a figure', async (t) => {
  t.equal(verdict(0.8, 0.8), 'yes');
  t.equal(verdict(0.79, 0.8), '**no**');
  t.equal(verdict(Number.NaN, 0.8), '');
  t.equal(verdict(3, Number.NaN), '');
});

t.test("childRssRows: one row per child PID, times from the first child's first sample", async (t) => {
  const rows = childRssRows([
    {
      pid: 11,
      comm: 'rclone',
      firstAt: 1000,
      lastAt: 21_000,
      rss: Array.from({ length: 20 }, (_, i) => (40 + i) * MiB),
    },
    { pid: 12, comm: 'rclone', firstAt: 5000, lastAt: 9000, rss: [30 * MiB, 50 * MiB] },
  ]);
  t.equal(rows.length, 2);
  t.match(rows[0], { pid: 11, fromS: 0, toS: 20, samples: 20, peak: 59 });
  t.equal(rows[0]?.first, 42, 'median of the first quarter (40..44)');
  t.equal(rows[0]?.last, 57, 'median of the last quarter (55..59)');
  t.equal(rows[0]?.tenths.length, 10);
  t.match(rows[1], { pid: 12, fromS: 4, toS: 8, samples: 2, first: 30, last: 50, peak: 50 });
  t.same(rows[1]?.tenths, [], 'too few samples for tenths');
});

t.test('counterTotal sums a counter over its labels, undefined where the daemon lacks it', async (t) => {
  const text = [
    '# TYPE rclone_migrate_rclone_child_recycles_total counter',
    'rclone_migrate_rclone_child_recycles_total{reason="rss"} 2',
    'rclone_migrate_rclone_child_recycles_total{reason="age"} 1',
    'rclone_migrate_copies_total 7',
  ].join('\n');
  t.equal(counterTotal(text, 'rclone_migrate_rclone_child_recycles_total'), 3);
  t.equal(counterTotal('rclone_migrate_copies_total 7\n', 'rclone_migrate_rclone_child_recycles_total'), undefined);
});

t.test("parseUserKeys reads radosgw-admin's JSON after any log lines, and names no secret when it fails", async (t) => {
  const answer =
    '2026-12-04T01:00:00 7f0 warning: something\n' +
    JSON.stringify({ user_id: 'bench-dest', keys: [{ user: 'bench-dest', access_key: 'AK1', secret_key: 'SK1' }] });
  t.same(parseUserKeys(answer, 'bench-dest'), { uid: 'bench-dest', accessKeyId: 'AK1', secretAccessKey: 'SK1' });
  t.throws(() => parseUserKeys('{"keys":[]}', 'u'), /no S3 key/);
  t.throws(() => parseUserKeys('radosgw-admin: error', 'u'), /no JSON/);
});

t.test('bounded: the answer within the bound, an error naming the step after it', async (t) => {
  t.equal(await bounded(Promise.resolve(5), 1000, 'quick'), 5);
  const never = new Promise<number>(() => undefined);
  await t.rejects(bounded(never, 20, 'emptying the destination'), StepTimeout);
  await t.rejects(bounded(never, 20, 'emptying the destination'), /emptying the destination: no answer/);
});

function run(partial: Partial<RunResult> & Pick<RunResult, 'scenario' | 'copier' | 'objectsPerSecond'>): RunResult {
  return {
    run: 1,
    objects: 100,
    bytes: 409_600,
    seconds: 100 / partial.objectsPerSecond,
    mbPerSecond: 0.4,
    problems: [],
    ...partial,
  };
}

t.test('renderBlocks: a Ceph block of its own with its targets judged, moto left out when not run', async (t) => {
  const input: ReportInput = {
    machine: {
      date: '2026-12-04T00:00:00Z',
      cpus: 2,
      cpuModel: 'x',
      memoryGiB: 8,
      node: 'v24',
      rclone: 'rclone v1.75.2',
      moto: '5.2.1',
      agent: '0.1.0',
    },
    scenarios: [
      { id: 'ceph-small-latency', kind: 'small', title: 'Small objects (Ceph RGW), 40 ms', store: 'ceph' },
      { id: 'small', kind: 'small', title: 'Small objects', store: 'moto' },
    ],
    copiers: [{ name: 'agent', describe: 'the worker' }],
    results: [
      run({
        scenario: 'ceph-small-latency',
        copier: 'agent',
        objectsPerSecond: 200,
        storeCpuSeconds: 50,
        load: [1, 2],
      }),
      run({ scenario: 'ceph-small-latency', copier: 'reference', objectsPerSecond: 10 }),
      run({ scenario: 'ceph-small-latency', copier: 'ceiling', objectsPerSecond: 300 }),
    ],
    notes: [],
    storeNotes: { ceph: ['a note of the Ceph round'] },
    storeDescribe: { ceph: 'both buckets on one Ceph RGW' },
    flatnessNotes: [],
    wallSeconds: 60,
    command: 'npm run bench -- --stores ceph',
  };
  const blocks = renderBlocks(input);
  t.same(
    blocks.map((b) => b.id),
    ['copy-bench-ceph'],
  );
  const text = blocks[0]?.text ?? '';
  t.match(text, /agent ÷ reference \| 20\.00× \| ≥ 10× \| yes \|/);
  t.match(text, /agent ÷ ceiling \| 0\.67× \| ≥ 0\.8× \| \*\*no\*\* \|/);
  t.match(text, /Ceph CPU \(cores\)/);
  t.match(text, /\| 1\.00 → 2\.00 \|/, 'the load average beside the figure');
  t.match(text, /a note of the Ceph round/);
  t.match(text, /both buckets on one Ceph RGW/);
});
