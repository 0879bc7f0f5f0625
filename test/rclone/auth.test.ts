// Source credentials refused → CopyError 'auth'; new credentials → a rolling restart that copies again.
// moto checks signatures only once asked to, and then only for keys of IAM users it knows
// (helpers/moto-auth.ts): the test creates one, puts its objects, then turns checking on.
import t from 'tap';
import { CopyError } from '../../shared/errors.ts';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { RclonePool } from '../../daemon/rclone-pool.ts';
import { checkSignatures, motoUser } from '../helpers/moto-auth.ts';
import { content, get, memoryLogger, poolOptions, put, running, sha256, waitFor } from './fixture.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3 } = localClients(stack);
const res = await createResources(stack, { name: 'auth', secrets: false });

const { accessKeyId, secretAccessKey } = await motoUser(stack.endpoint, 'migrator');
const body = content(50_000, 'guarded');
await put(s3, res.sourceBucket, 'guarded.bin', body);

void t.test('refused source credentials are CopyError auth; new ones roll the children', async (t) => {
  const { log, text } = memoryLogger();
  const base = poolOptions(stack, log);
  const pool = new RclonePool({
    ...base,
    source: { ...base.source, accessKeyId, secretAccessKey: 'wrong-secret-0123456789' },
    // the destination's env_auth credentials must be a known key too
    baseEnv: { ...base.baseEnv, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey },
  });
  await pool.start();
  t.teardown(() => pool.stop());
  await checkSignatures(stack.endpoint, true);
  t.teardown(() => checkSignatures(stack.endpoint, false));

  const copy = (dstKey: string) =>
    pool.copy({ srcBucket: res.sourceBucket, srcKey: 'guarded.bin', dstBucket: res.destBucket, dstKey });
  const wrongSecret = await copy('guarded.bin').catch((err: unknown) => err);
  t.type(wrongSecret, CopyError);
  t.match(wrongSecret, { kind: 'auth', key: 'guarded.bin', message: /403/ }, 'SignatureDoesNotMatch');

  const before = pool.childInfo().map((c) => c.pid as number);
  await pool.updateSource({ ...base.source, accessKeyId: 'AKIANOSUCHKEY0000000', secretAccessKey: 'whatever' });
  const after = pool.childInfo().map((c) => c.pid as number);
  t.equal(after.filter((pid) => before.includes(pid)).length, 0, 'every child was replaced');
  t.match(await copy('guarded.bin').catch((err: unknown) => err), { kind: 'auth' }, 'InvalidAccessKeyId');
  await waitFor('the replaced children to exit', () => before.every((pid) => !running(pid)));

  await pool.updateSource({ ...base.source, accessKeyId, secretAccessKey });
  t.match(pool.stats(), { up: 2, total: 2, restarts: 0 }, 'a credentials change is not a restart after failure');
  await copy('guarded.bin');
  await copy('guarded-again.bin');
  await checkSignatures(stack.endpoint, false);
  t.equal(sha256(await get(s3, res.destBucket, 'guarded.bin')), sha256(body));
  t.notOk(text().includes(secretAccessKey), 'no secret in the logs');
});

void t.test('copies under way finish on the child they started on while the pool rolls', async (t) => {
  const base = poolOptions(stack, memoryLogger('warn').log, {
    children: 1,
    transfersPerChild: 2,
    flags: ['--bwlimit=1M'],
  });
  const pool = new RclonePool(base);
  await pool.start();
  t.teardown(() => pool.stop());
  const slow = content(3 * 1024 * 1024, 'slow roll'); // ≥ 3 s at 1M/s
  await put(s3, res.sourceBucket, 'slow-roll.bin', slow);
  const old = pool.childInfo()[0]?.pid as number;
  const underWay = pool.copy({
    srcBucket: res.sourceBucket,
    srcKey: 'slow-roll.bin',
    dstBucket: res.destBucket,
    dstKey: 'slow-roll.bin',
  });
  t.match(pool.stats(), { busy: 1 });
  await pool.updateSource({ ...base.source, secretAccessKey: 'rotated-secret-0123456789' });
  const fresh = pool.childInfo()[0]?.pid as number;
  t.not(fresh, old, 'the slot has a new child');
  t.ok(running(old), 'the old child keeps running while its copy does');
  t.match(pool.stats(), { busy: 1, capacity: 2 }, 'the copy under way still counts against the slot');
  await underWay;
  t.equal(sha256(await get(s3, res.destBucket, 'slow-roll.bin')), sha256(slow));
  await waitFor('the old child to exit once its copy finished', () => !running(old));
  t.ok(running(fresh));
});
