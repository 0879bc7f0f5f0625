import t from 'tap';
import {
  choosePartSize,
  parseContentRange,
  partRanges,
  rangeHeader,
  S3_PARTS,
  usesRangedCopy,
} from '../../daemon/part-plan.ts';

const MiB = 1024 * 1024;

t.test('ranged parts only for objects listed above one part', async (t) => {
  t.equal(usesRangedCopy(undefined, 64 * MiB), false, 'no listed size: one GET');
  t.equal(usesRangedCopy(64 * MiB, 64 * MiB), false, 'exactly one part');
  t.equal(usesRangedCopy(64 * MiB + 1, 64 * MiB), true, 'one byte more');
  t.equal(usesRangedCopy(4 * MiB, 1 * MiB), false, 'never below S3’s smallest part');
  t.equal(usesRangedCopy(6 * MiB, 1 * MiB), true);
});

t.test('part size: spread over the concurrency, within S3’s limits', async (t) => {
  t.equal(choosePartSize(1024 * MiB, 64 * MiB, 4), 64 * MiB, 'a large object: the configured size');
  t.equal(choosePartSize(128 * MiB, 64 * MiB, 4), 32 * MiB, '128 MiB in four parts at once');
  t.equal(choosePartSize(130 * MiB, 64 * MiB, 4), 33 * MiB, 'whole MiB, rounded up');
  t.equal(choosePartSize(12 * MiB, 5 * MiB, 4), 5 * MiB, 'never below 5 MiB');
  t.equal(choosePartSize(12 * MiB, 2 * MiB, 1), 5 * MiB, 'a configured size below 5 MiB is raised');
  t.equal(choosePartSize(1000 * 1024 * MiB, 64 * MiB, 4), 103 * MiB, '1000 GiB does not fit 10,000 × 64 MiB');
  t.throws(() => choosePartSize(6 * 1024 * 1024 * MiB * 10_000, 64 * MiB, 4), /do not fit/);
  t.throws(() => choosePartSize(10, 64 * MiB, 0), /concurrency 0/);
});

t.test('part ranges cover the object exactly, the last takes the rest', async (t) => {
  t.same(partRanges(12 * MiB, 5 * MiB), [
    { part: 1, start: 0, end: 5 * MiB - 1 },
    { part: 2, start: 5 * MiB, end: 10 * MiB - 1 },
    { part: 3, start: 10 * MiB, end: 12 * MiB - 1 },
  ]);
  t.same(partRanges(10, 5), [
    { part: 1, start: 0, end: 4 },
    { part: 2, start: 5, end: 9 },
  ]);
  t.same(partRanges(3, 5), [{ part: 1, start: 0, end: 2 }], 'smaller than a part');
  for (const size of [1, 7 * MiB + 3, 256 * MiB, 1000 * 1024 * MiB]) {
    const part = choosePartSize(size, 64 * MiB, 4);
    const ranges = partRanges(size, part);
    t.ok(ranges.length <= S3_PARTS.maxCount, `${size}: within 10,000 parts`);
    t.equal(ranges.at(-1)?.end, size - 1, `${size}: ends at the last byte`);
    t.ok(
      ranges.every((r, i) => i === 0 || r.start === (ranges[i - 1]?.end ?? 0) + 1),
      `${size}: no gaps`,
    );
  }
  t.throws(() => partRanges(0, 5), /no parts/);
  t.throws(() => partRanges(10_001, 1), /over S3's 10000/);
  t.equal(rangeHeader({ start: 5, end: 9 }), 'bytes=5-9');
});

t.test('Content-Range answers', async (t) => {
  t.same(parseContentRange('bytes 0-99/1000'), { start: 0, end: 99, total: 1000 });
  t.same(parseContentRange(' bytes 5-5/6 '), { start: 5, end: 5, total: 6 });
  t.equal(parseContentRange(undefined), undefined);
  t.equal(parseContentRange('bytes */1000'), undefined, 'an unsatisfied range');
  t.equal(parseContentRange('bytes 0-1000/1000'), undefined, 'past the end');
  t.equal(parseContentRange('bytes 9-3/1000'), undefined, 'backwards');
});
