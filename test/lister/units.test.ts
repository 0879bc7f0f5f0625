// Pure parts of the lister: key order, range arithmetic, batching within SQS limits, merge diff,
// the galloping split search (against an in-memory sorted key list standing in for ListObjectsV2).
import t from 'tap';
import { commonPrefix, compareKeys, subtreeEnd } from '../../shared/key-order.ts';
import { clip, inRange, listPrefix, type RangeBounds } from '../../lister/ranges.ts';
import { headerBytes, planBatches, type MessageTemplate } from '../../lister/batcher.ts';
import { packEntries } from '../../lister/sqs-send.ts';
import { diffSorted } from '../../lister/diff.ts';
import { justBefore, proposeByProbes, proposePeel, type DirectoryProbe, type Probe } from '../../lister/peel.ts';
import {
  encodeMessage,
  messageBytes,
  MESSAGE_VERSION,
  parseMessage,
  SQS_MAX_MESSAGE_BYTES,
} from '../../shared/message.ts';

const utf8Order = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

void t.test('compareKeys sorts like S3 (UTF-8 bytes), not like UTF-16', async (t) => {
  const keys = ['a', 'ab', '\uFFFF', '\u{10000}', '\uE000', 'z', '', '\u00e9', '\u{10FFFF}', 'a\u0001', '日本'];
  const mine = [...keys].sort(compareKeys);
  t.same(mine, [...keys].sort(utf8Order));
  t.ok(compareKeys('\u{10000}', '\uFFFF') > 0, 'a supplementary character sorts after U+FFFF');
  t.ok(compareKeys('t0/anything', subtreeEnd('t0')) < 0, 'the subtree end follows every key under it');
  t.equal(commonPrefix('ab\u{1F600}x', 'ab\u{1F601}x'), 'ab', 'never ends inside a surrogate pair');
});

void t.test('ranges: bounds, narrowed listing prefix, clipping', async (t) => {
  const range: RangeBounds = { prefix: 'p/', after: 'p/b', upTo: subtreeEnd('p/d') };
  t.ok(inRange(range, 'p/c'));
  t.notOk(inRange(range, 'p/b'), 'after is exclusive');
  t.ok(inRange(range, 'p/d/zzz'));
  t.notOk(inRange(range, 'p/e'));
  t.equal(listPrefix({ prefix: 'p/', after: 'p/d/1', upTo: subtreeEnd('p/d') }, undefined), 'p/d');
  t.equal(listPrefix({ prefix: 'p/' }, 'p/x'), 'p/', 'open-ended ranges keep their prefix');
  const { kept, ended } = clip(range, 'p/c1', [{ key: 'p/c1' }, { key: 'p/c2' }, { key: 'p/d' }, { key: 'p/e' }]);
  t.same(
    kept.map((k) => k.key),
    ['p/c2', 'p/d'],
  );
  t.ok(ended);
});

const template: MessageTemplate = {
  v: MESSAGE_VERSION,
  job: 'j',
  source: { bucket: 'src-bucket' },
  dest: { bucket: 'dst-bucket', prefix: 'pre/' },
};

void t.test('batches by count, by bytes (a large object travels alone) and by encoded size', async (t) => {
  const header = headerBytes(template);
  const small = Array.from({ length: 45 }, (_, i) => ({ key: `k${i}`, size: 10 }));
  t.same(
    planBatches(small, { count: 20, bytes: 1e9, messageBytes: SQS_MAX_MESSAGE_BYTES }, header).map((b) => b.length),
    [20, 20, 5],
  );
  const mixed = [
    { key: 'a', size: 400 },
    { key: 'b', size: 400 },
    { key: 'huge', size: 5000 },
    { key: 'c', size: 300 },
    { key: 'd', size: 300 },
  ];
  t.same(
    planBatches(mixed, { count: 20, bytes: 1000, messageBytes: SQS_MAX_MESSAGE_BYTES }, header).map((b) =>
      b.map((o) => o.key),
    ),
    [['a', 'b'], ['huge'], ['c', 'd']],
  );
  // 1,024-byte destination keys (prefix included) of control characters: each byte becomes \u00XX (6 bytes) in JSON.
  const nasty = Array.from({ length: 60 }, (_, i) => ({
    key: String.fromCharCode(1 + (i % 30)).repeat(1016) + String(i).padStart(4, '0'),
    size: 1,
    etag: 'd41d8cd98f00b204e9800998ecf8427e',
  }));
  const batches = planBatches(nasty, { count: 1000, bytes: 1e12, messageBytes: SQS_MAX_MESSAGE_BYTES }, header);
  t.ok(batches.length > 1, 'split by encoded size');
  for (const objects of batches) {
    const body = encodeMessage({ ...template, attempt: 1, objects });
    t.ok(messageBytes(body) <= SQS_MAX_MESSAGE_BYTES, `${messageBytes(body)} bytes fit`);
    t.equal(parseMessage(body).objects.length, objects.length, 'parses back');
  }
  t.same(batches.flat(), nasty, 'nothing lost or reordered');
});

void t.test('SendMessageBatch calls hold at most 10 entries and 256 KiB', async (t) => {
  const bodies = [
    ...Array.from({ length: 25 }, () => 'x'.repeat(10)),
    ...Array.from({ length: 5 }, () => 'y'.repeat(100_000)),
  ];
  const calls = packEntries(bodies);
  for (const call of calls) {
    t.ok(call.length <= 10);
    t.ok(call.reduce((n, b) => n + messageBytes(b), 0) <= SQS_MAX_MESSAGE_BYTES);
  }
  t.same(calls.flat(), bodies);
});

void t.test('diff finds missing and different keys, comparing ETags only where comparable', async (t) => {
  const source = [
    { key: 'a', size: 1, etag: 'e1' },
    { key: 'b', size: 2, etag: 'e2' },
    { key: 'c', size: 3, etag: 'e3' },
    { key: 'd', size: 4, etag: 'm-2' },
    { key: 'e', size: 5, etag: 'e5' },
  ];
  const dest = [
    { key: '0', size: 9 },
    { key: 'a', size: 1, etag: 'e1' },
    { key: 'b', size: 2, etag: 'other' },
    { key: 'd', size: 4, etag: 'different-3' },
    { key: 'e', size: 6, etag: 'e5' },
  ];
  t.same(
    diffSorted(source, dest).map((d) => [d.kind, d.key]),
    [
      ['mismatched', 'b'],
      ['missing', 'c'],
      ['mismatched', 'e'],
    ],
  );
});

/** ListObjectsV2 with MaxKeys 1 over a sorted in-memory key list (a stand-in for the probes only). */
function memoryProbe(keys: string[], counter: { n: number }): Probe {
  const sorted = [...keys].sort(compareKeys);
  return async (prefix, startAfter) => {
    counter.n++;
    return sorted.find((k) => k.startsWith(prefix) && (startAfter === undefined || compareKeys(k, startAfter) > 0));
  };
}

/** ListObjectsV2 with Delimiter '/' over an in-memory key list, dropping entries at or before StartAfter. */
function memoryDirectories(keys: string[]): DirectoryProbe {
  const sorted = [...keys].sort(compareKeys);
  return async (prefix, startAfter) => {
    const prefixes = new Set<string>();
    const plain: string[] = [];
    for (const k of sorted) {
      if (!k.startsWith(prefix)) continue;
      const slash = k.indexOf('/', prefix.length);
      if (slash === -1) plain.push(k);
      else prefixes.add(k.slice(0, slash + 1));
    }
    const after = (x: string): boolean => startAfter === undefined || compareKeys(x, startAfter) > 0;
    return { prefixes: [...prefixes].filter(after), keys: plain.filter(after) };
  };
}

void t.test(
  'character sampling: one probe when branching is right below the node, few for long shared prefixes',
  async (t) => {
    const tenants = Array.from({ length: 50 }, (_, i) => `t${String(i % 10).padStart(2, '0')}x2024xobj-${i}`);
    let counter = { n: 0 };
    const first = [...tenants].sort(compareKeys)[0] as string;
    const split = await proposeByProbes({ prefix: '' }, first, 't0', memoryProbe(tenants, counter));
    t.match(split, { kind: 'split', cuts: [{ at: subtreeEnd('t00'), hint: 't0' }], hint: 't00' });
    t.equal(counter.n, 1);

    const flat = Array.from({ length: 2000 }, (_, i) => `a-very-long-shared-name-prefix-${String(i).padStart(6, '0')}`);
    counter = { n: 0 };
    const flatSplit = await proposeByProbes({ prefix: '' }, flat[0] as string, '', memoryProbe(flat, counter));
    t.match(flatSplit, { kind: 'split', cuts: [{ at: subtreeEnd('a-very-long-shared-name-prefix-000') }] });
    t.ok(counter.n <= 12, `${counter.n} probes`);

    t.match(
      await proposePeel({ prefix: '' }, () => 'only/one/key', undefined, {
        probe: memoryProbe(['only/one/key'], { n: 0 }),
      }),
      {
        kind: 'exhausted',
      },
    );
  },
);

void t.test('directory sampling: one request fans a tree out; cuts tile the range', async (t) => {
  const keys = Array.from({ length: 200 }, (_, i) => `data/t${i % 8}/2024/${String(i).padStart(4, '0')}`);
  const probes = { probe: memoryProbe(keys, { n: 0 }), directories: memoryDirectories(keys) };
  // From the start: "data/" alone deepens; 8 tenants, 4 pieces wanted.
  const split = await proposePeel({ prefix: '' }, () => undefined, undefined, probes, 4);
  t.equal(split.kind, 'split');
  if (split.kind !== 'split') return;
  t.equal(split.cuts.length, 3);
  const cuts = split.cuts.map((c) => c.at);
  t.same([...cuts].sort(compareKeys), cuts, 'ascending');
  for (const cut of cuts) t.notOk(keys.includes(cut), 'a cut falls between keys');
  // Every key falls in exactly one piece, each piece holds whole tenants.
  const bounds = [undefined, ...cuts, undefined];
  const pieces = bounds.slice(0, -1).map((after, i) => {
    const upTo = bounds[i + 1];
    return keys.filter(
      (k) => (after === undefined || compareKeys(k, after) > 0) && (upTo === undefined || compareKeys(k, upTo) <= 0),
    );
  });
  t.equal(
    pieces.reduce((n, p) => n + p.length, 0),
    keys.length,
  );
  t.ok(
    pieces.every((p) => p.length === 50),
    'two tenants per piece',
  );
  // A cursor inside t1: three pieces of about the same number of tenants, cut where a tenant ends.
  const later = await proposePeel({ prefix: '' }, () => 'data/t1/2024/0009', 'data/', probes, 3);
  t.match(later, { kind: 'split', cuts: [{ at: subtreeEnd('data/t2/') }, { at: subtreeEnd('data/t4/') }] });
  // Flat names under the node: character sampling takes over.
  const flat = Array.from({ length: 100 }, (_, i) => `f${String(i).padStart(3, '0')}`);
  const flatSplit = await proposePeel(
    { prefix: '' },
    () => 'f010',
    undefined,
    { probe: memoryProbe(flat, { n: 0 }), directories: memoryDirectories(flat) },
    4,
  );
  t.match(flatSplit, { kind: 'split', cuts: [{ at: subtreeEnd('f01') }] });
});

void t.test('justBefore sorts right before every key of the prefix', async (t) => {
  for (const prefix of ['a/', 'x', 'é/', '\u{10000}/', '\uE000', 'a\u0000']) {
    const before = justBefore(prefix);
    t.ok(compareKeys(before, prefix) < 0, JSON.stringify(prefix));
    t.ok(before.isWellFormed());
  }
});
