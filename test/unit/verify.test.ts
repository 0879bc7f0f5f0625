import t from 'tap';
import { justBefore, listRange } from '../../daemon/verify-batch.ts';
import { listVerdict, mismatch, provenMd5 } from '../../daemon/verify.ts';
import { compareKeys, PAST } from '../../shared/key-order.ts';

const md5 = '9e107d9d372bb6826bd81d3542a419d6';

t.test('size always counts', async (t) => {
  t.equal(mismatch({ size: 5 }, { size: 5 }, true), undefined);
  t.match(mismatch({ size: 5 }, { size: 4 }, true), /size 4 differs from source size 5/);
});

t.test('ETags are compared only where both prove an MD5', async (t) => {
  t.equal(mismatch({ size: 1, etag: md5 }, { size: 1, etag: `"${md5}"` }, true), undefined);
  t.match(mismatch({ size: 1, etag: md5 }, { size: 1, etag: 'ffffffffffffffffffffffffffffffff' }, true), /MD5/);
  t.equal(
    mismatch({ size: 1, etag: `${md5}-3` }, { size: 1, etag: 'ffffffffffffffffffffffffffffffff' }, true),
    undefined,
    'multipart source',
  );
  t.equal(mismatch({ size: 1, etag: md5 }, { size: 1, etag: 'abc-2' }, true), undefined, 'multipart destination');
  t.equal(
    mismatch({ size: 1, etag: md5 }, { size: 1, etag: 'ffffffffffffffffffffffffffffffff', sse: 'aws:kms' }, true),
    undefined,
    'KMS ETag is no MD5',
  );
  t.equal(
    mismatch({ size: 1, etag: md5 }, { size: 1, etag: 'ffffffffffffffffffffffffffffffff' }, false),
    undefined,
    'turned off',
  );
});

t.test("rclone's md5chksum metadata proves a multipart destination's MD5", async (t) => {
  const meta = Buffer.from(md5, 'hex').toString('base64');
  t.equal(provenMd5({ size: 1, etag: 'abc-2', md5Meta: meta }), md5);
  t.match(
    mismatch({ size: 1, etag: 'ffffffffffffffffffffffffffffffff' }, { size: 1, etag: 'abc-2', md5Meta: meta }, true),
    /MD5/,
  );
});

t.test('a listing entry settles a copy only where it proves what a HEAD would', async (t) => {
  const other = 'ffffffffffffffffffffffffffffffff';
  t.equal(listVerdict({ size: 3, etag: md5 }, { size: 3, etag: md5 }, true, true), 'ok', 'size and MD5 agree');
  t.equal(listVerdict({ size: 3, etag: md5 }, undefined, true, true), 'head', 'not on the page');
  t.equal(listVerdict({ size: 3, etag: md5 }, { size: 4, etag: md5 }, true, true), 'head', 'size differs');
  t.equal(listVerdict({ size: 3, etag: md5 }, { size: 3, etag: other }, true, true), 'head', 'ETag differs');
  t.equal(listVerdict({ size: 3, etag: md5 }, { size: 3, etag: 'abc-2' }, true, true), 'head', 'multipart');
  t.equal(listVerdict({ etag: md5 }, { size: 3, etag: md5 }, true, true), 'head', 'no size listed: ask the source');
  t.equal(listVerdict({ size: 3 }, { size: 3, etag: other }, true, true), 'ok', 'no ETag listed: size is all');
  t.equal(listVerdict({ size: 3, etag: `${md5}-2` }, { size: 3, etag: other }, true, true), 'ok', 'multipart source');
  t.equal(listVerdict({ size: 3, etag: md5 }, { size: 3, etag: other }, false, true), 'ok', 'ETags not compared');
  t.equal(listVerdict({ size: 3, etag: md5 }, { size: 3, etag: other }, true, false), 'ok', 'KMS: size is all');
  t.equal(listVerdict({ size: 3, etag: md5 }, { size: 3, etag: 'abc-2' }, true, false), 'head', 'KMS multipart');
});

t.test('the listing range starts just before the first key and spans the batch in S3 order', async (t) => {
  const keys = ['b/file0100.txt', 'b/file010.txt', 'b/file0101.txt', 'b/😀', 'b/\uffff'];
  const range = listRange(keys);
  t.equal(range.prefix, 'b/');
  t.equal(range.last, 'b/😀', 'U+1F600 sorts after U+FFFF in UTF-8 order');
  const start = range.startAfter as string;
  t.ok(compareKeys(start, 'b/file010.txt') < 0, 'before the first key');
  t.ok(compareKeys(start, 'b/file01') > 0, 'after a key that is not in the batch');
  t.ok(compareKeys(start, 'b/file010-') > 0, "after the first key's stem with a lesser next character");
  t.equal(justBefore(''), undefined);
  t.equal(justBefore('a'), `\`${PAST}`);
  t.equal(justBefore('x\ue000'), `x\ud7ff${PAST}`, 'steps over the surrogate block');
  t.equal(justBefore('x\u0000'), 'x');
  for (const key of ['a', 'abc', 'x😀', 'x\ue000', '日本']) {
    t.ok(compareKeys(justBefore(key) ?? '', key) < 0, `${JSON.stringify(key)}: before it`);
  }
});
