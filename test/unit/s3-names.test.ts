import t from 'tap';
import { bucketNameProblem, keyProblem, rcloneCanAddress } from '../../shared/s3-names.ts';

t.test('bucket names', async (t) => {
  for (const ok of ['abc', 'my.bucket-1', 'a'.repeat(63)]) t.equal(bucketNameProblem(ok), undefined, ok);
  for (const bad of ['ab', 'A-bucket', 'a_b', '-abc', 'abc-', 'a..b', '10.0.0.1', 'a'.repeat(64)]) {
    t.match(bucketNameProblem(bad), /bucket name/, bad);
  }
});

t.test('keys: any UTF-8 up to 1,024 bytes', async (t) => {
  for (const ok of ['a', ' ', 'a//b', '..', '日本語', '😀'.repeat(256), 'x'.repeat(1024)])
    t.equal(keyProblem(ok), undefined);
  t.match(keyProblem(''), /empty/);
  t.match(keyProblem('x'.repeat(1025)), /1025 bytes/);
  t.match(keyProblem('😀'.repeat(257)), /1028 bytes/);
  t.match(keyProblem('bad\uD800'), /UTF-8/);
});

t.test('which keys rclone can address', async (t) => {
  for (const ok of ['a/b', 'a b', 'a.b', '...', 'a/.hidden', 'x/..y', '日本/語']) t.ok(rcloneCanAddress(ok), ok);
  for (const odd of ['a//b', '/lead', 'trail/', 'x/./y', 'x/../y', '.', '..', './a', 'a/..', '/']) {
    t.notOk(rcloneCanAddress(odd), odd);
  }
});
