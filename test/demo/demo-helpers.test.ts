// Pure parts of the demo's machinery: metrics parsing, drain decision, the fill plan and its content,
// digest comparison, bounded concurrency.
import { createHash } from 'node:crypto';
import t from 'tap';
import {
  attributeCounts,
  DEFAULT_PLAN,
  KiB,
  MiB,
  ODD_KEYS,
  objectBytes,
  objectStream,
  planObjects,
  utf8OnTheWire,
} from '../../scripts/fill-source.ts';
import { forEachLimit } from '../../scripts/for-each-limit.ts';
import { byLabel, histogramQuantile, parsePrometheusText, sumOf } from '../../scripts/prometheus-text.ts';
import { isDrained } from '../../scripts/queue-drain.ts';
import { carriedParts, compareDigests } from '../../scripts/verify-copy.ts';
import { attributesOf } from '../../shared/object-attributes.ts';

const EXPOSITION = `# HELP x_copied_total Objects copied
# TYPE x_copied_total counter
x_copied_total{path="rclone"} 40
x_copied_total{path="sdk"} 2
x_bytes_total 1.5e6
x_label_escapes{reason="a \\"quoted\\" \\\\ value"} 1
# TYPE x_duration_seconds histogram
x_duration_seconds_bucket{le="0.1",outcome="ok"} 10
x_duration_seconds_bucket{le="1",outcome="ok"} 90
x_duration_seconds_bucket{le="+Inf",outcome="ok"} 100
x_duration_seconds_bucket{le="0.1",outcome="failed"} 0
x_duration_seconds_bucket{le="1",outcome="failed"} 0
x_duration_seconds_bucket{le="+Inf",outcome="failed"} 0
x_duration_seconds_sum{outcome="ok"} 42
x_duration_seconds_count{outcome="ok"} 100
`;

void t.test('Prometheus text: samples, sums, labels', async (t) => {
  const samples = parsePrometheusText(EXPOSITION);
  t.equal(sumOf(samples, 'x_copied_total'), 42);
  t.equal(sumOf(samples, 'x_copied_total', { path: 'sdk' }), 2);
  t.equal(sumOf(samples, 'x_bytes_total'), 1.5e6);
  t.equal(sumOf(samples, 'absent_total'), 0);
  t.same(byLabel(samples, 'x_copied_total', 'path'), { rclone: 40, sdk: 2 });
  t.equal(samples.find((s) => s.name === 'x_label_escapes')?.labels.reason, 'a "quoted" \\ value');
  t.equal(samples.find((s) => s.labels.le === '+Inf')?.value, 100);
});

void t.test('histogram quantiles interpolate inside the bucket', async (t) => {
  const samples = parsePrometheusText(EXPOSITION);
  t.equal(histogramQuantile(samples, 'x_duration_seconds', 0.05), 0.05, 'half of the first bucket');
  t.equal(histogramQuantile(samples, 'x_duration_seconds', 0.5), 0.55);
  t.equal(histogramQuantile(samples, 'x_duration_seconds', 0.99), 1, 'in +Inf: the highest finite bound');
  t.equal(histogramQuantile(samples, 'x_duration_seconds', 0.5, { outcome: 'failed' }), undefined, 'no observations');
});

void t.test('drained only after enough empty readings in a row', async (t) => {
  const empty = { visible: 0, inFlight: 0, delayed: 0 };
  const busy = { visible: 0, inFlight: 1, delayed: 0 };
  t.notOk(isDrained([empty, empty], 3));
  t.ok(isDrained([busy, empty, empty, empty], 3));
  t.notOk(isDrained([empty, busy, empty], 3));
  t.notOk(isDrained([empty, empty, { visible: 0, inFlight: 0, delayed: 2 }], 3), 'delayed messages are work');
});

void t.test('the fill plan has the realistic mix, unique keys, and is deterministic', async (t) => {
  const plan = planObjects(DEFAULT_PLAN);
  const keys = plan.map((o) => o.key);
  t.equal(new Set(keys).size, keys.length, 'keys are unique');
  t.equal(plan.filter((o) => o.kind === 'small').length, 3000);
  t.ok(plan.filter((o) => o.kind === 'small').every((o) => o.size >= KiB && o.size <= 64 * KiB));
  t.equal(plan.filter((o) => o.size > 300e6).length, 2, 'two objects over 300 MB');
  t.ok(plan.some((o) => o.size === 0));
  for (const key of ODD_KEYS) t.ok(keys.includes(key), `odd key ${JSON.stringify(key)}`);
  for (const c of [' ', '+', '%', '#', '?', '／', '🚀', '日本', 'ע'])
    t.ok(
      keys.some((k) => k.includes(c)),
      `a key with ${c}`,
    );
  t.ok(keys.includes('unicode/normalization/caf\u00e9.txt') && keys.includes('unicode/normalization/cafe\u0301.txt'));
  t.equal(Math.max(...keys.map((k) => Buffer.byteLength(k))), 1024, 'the longest key S3 allows');
  const depths = new Set(keys.map((k) => k.split('/').length));
  t.ok(depths.size >= 5, 'varied depths');
  t.same(planObjects(DEFAULT_PLAN), plan, 'same plan from the same seed');
  t.notSame(
    planObjects({ ...DEFAULT_PLAN, seed: 'other' }).map((o) => o.size),
    plan.map((o) => o.size),
  );
});

void t.test('the fill plan puts metadata and tags on every kind of object', async (t) => {
  const objects = planObjects(DEFAULT_PLAN);
  for (const kind of ['small', 'large', 'empty', 'unicode', 'special', 'odd'] as const) {
    const some = objects.filter((o) => o.kind === kind);
    t.ok(
      some.some((o) => Object.keys(o.attributes).length > 0),
      `${kind}: some objects carry attributes`,
    );
  }
  const gzip = objects.filter((o) => o.attributes.ContentEncoding === 'gzip').length;
  t.ok(gzip > 100, `${gzip} gzip objects`);
  const counts = attributeCounts(objects);
  t.ok(counts.system > 1000 && counts.user > 1000 && counts.tags > 1000, JSON.stringify(counts));
  t.ok(counts.system < objects.length, 'and some carry nothing but their bytes');
  t.equal(utf8OnTheWire('Zoë'), 'Zo\u00c3\u00ab', 'UTF-8 bytes as Latin-1 characters');
  t.same(carriedParts(attributesOf({ ContentType: 'x/y', Metadata: {} }, [])), {
    system: false,
    user: false,
    tags: false,
  });
  t.same(carriedParts(attributesOf({ ContentEncoding: 'gzip', Metadata: { a: 'b' } }, [{ Key: 'k', Value: 'v' }])), {
    system: true,
    user: true,
    tags: true,
  });
});

void t.test('streamed content equals the in-memory content and differs per key', async (t) => {
  const size = 2 * MiB + 123;
  const whole = objectBytes('s', 'k', size);
  const chunks: Buffer[] = [];
  for await (const c of objectStream('s', 'k', size, 64 * KiB)) chunks.push(c as Buffer);
  t.equal(Buffer.concat(chunks).length, size);
  t.ok(Buffer.concat(chunks).equals(whole));
  t.notOk(objectBytes('s', 'k2', 64).equals(whole.subarray(0, 64)));
  t.equal(objectBytes('s', 'empty', 0).length, 0);
});

void t.test('digest comparison', async (t) => {
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  const src = { sha256: sha('abc'), size: 3 };
  t.equal(compareDigests(src, { ...src }), undefined);
  t.same(compareDigests(src, undefined), { missing: true });
  t.match(compareDigests(src, { sha256: sha('abd'), size: 3 }), { reason: /content differs/ });
  t.match(compareDigests(src, { sha256: sha('ab'), size: 2 }), { reason: /size 2/ });
});

void t.test('forEachLimit bounds concurrency, visits every item and reports the first error', async (t) => {
  let running = 0;
  let peak = 0;
  const seen: number[] = [];
  await forEachLimit(
    Array.from({ length: 50 }, (_, i) => i),
    4,
    async (i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setImmediate(r));
      seen.push(i);
      running--;
    },
  );
  t.ok(peak <= 4 && peak > 1, `peak ${peak}`);
  t.same(
    [...seen].sort((a, b) => a - b),
    Array.from({ length: 50 }, (_, i) => i),
  );
  await t.rejects(
    forEachLimit([1, 2, 3], 2, async (i) => {
      if (i === 2) throw new Error('boom 2');
    }),
    /boom 2/,
  );
  await t.rejects(
    forEachLimit([1], 0, async () => undefined),
    /limit/,
  );
});
