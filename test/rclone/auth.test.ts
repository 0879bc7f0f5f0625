// Source credentials refused → CopyError 'auth'; new credentials → a rolling restart that copies again.
// moto checks signatures only once asked to (POST /moto-api/reset-auth), and then only for keys of
// IAM users it knows: the test creates one, puts its objects, then turns checking on.
import t from 'tap';
import { CopyError } from '../../shared/errors.ts';
import { createResources, localClients, LOCAL_REGION, startLocalStack } from '../../scripts/local-stack.ts';
import { RclonePool } from '../../daemon/rclone-pool.ts';
import { content, get, memoryLogger, poolOptions, put, running, sha256, waitFor } from './fixture.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3 } = localClients(stack);
const res = await createResources(stack, { name: 'auth', secrets: false });

/** moto's IAM query API; unsigned requests are fine while moto is not checking. */
async function iam(params: Record<string, string>): Promise<string> {
  const reply = await fetch(stack.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=test/20240101/${LOCAL_REGION}/iam/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: new URLSearchParams({ Version: '2010-05-08', ...params }),
  });
  const text = await reply.text();
  if (!reply.ok) throw new Error(`IAM ${params.Action}: ${reply.status} ${text}`);
  return text;
}

async function checkSignatures(on: boolean): Promise<void> {
  const reply = await fetch(`${stack.endpoint}/moto-api/reset-auth`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain' },
    body: on ? '0' : 'inf',
  });
  if (!reply.ok) throw new Error(`reset-auth: ${reply.status}`);
}

await iam({ Action: 'CreateUser', UserName: 'migrator' });
const keyXml = await iam({ Action: 'CreateAccessKey', UserName: 'migrator' });
const accessKeyId = /<AccessKeyId>([^<]+)</.exec(keyXml)?.[1] as string;
const secretAccessKey = /<SecretAccessKey>([^<]+)</.exec(keyXml)?.[1] as string;
await iam({
  Action: 'PutUserPolicy',
  UserName: 'migrator',
  PolicyName: 'all',
  PolicyDocument: JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }],
  }),
});
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
  await checkSignatures(true);
  t.teardown(() => checkSignatures(false));

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
  await checkSignatures(false);
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
