import t from 'tap';
import { mismatch, provenMd5 } from '../../daemon/verify.ts';

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
