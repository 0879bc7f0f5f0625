// The demo's fill and byte-for-byte verification against a real moto server, with the copy made here
// by the SDK so that the verifier's verdicts can be checked: a complete copy passes; a missing, a
// corrupted, a truncated and a stray destination object are each reported by key.
import t from 'tap';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { DEFAULT_PLAN, fillSource, MiB, type PlanOptions } from '../../scripts/fill-source.ts';
import { forEachLimit } from '../../scripts/for-each-limit.ts';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { waitForDrain } from '../../scripts/queue-drain.ts';
import { isOk, listAll, verifyCopy } from '../../scripts/verify-copy.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const resources = await createResources(stack, { name: 'fillverify', secrets: false });
const { s3, sqs } = localClients(stack);
const source = { s3, bucket: resources.sourceBucket };
const dest = { s3, bucket: resources.destBucket };

// Small, but with every kind: one object large enough for the streamed multipart path.
const plan: PlanOptions = { ...DEFAULT_PLAN, smallCount: 30, largeCount: 1, largeBytes: 17 * MiB, oddLargeBytes: 0 };

void t.test('fill creates every planned object with its planned size', async (t) => {
  const fill = await fillSource({ s3, bucket: resources.sourceBucket, plan, partBytes: 5 * MiB });
  const listed = await listAll(source);
  t.equal(listed.length, fill.objects.length);
  const sizes = new Map(listed.map((o) => [o.key, o.size]));
  for (const o of fill.objects) t.equal(sizes.get(o.key), o.size, JSON.stringify(o.key));
});

void t.test('verification passes a complete copy and names each bad key', async (t) => {
  const objects = await listAll(source);
  await forEachLimit(objects, 8, async (o) => {
    const got = await s3.send(new GetObjectCommand({ Bucket: source.bucket, Key: o.key }));
    const body = Buffer.from(
      await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray(),
    );
    await s3.send(new PutObjectCommand({ Bucket: dest.bucket, Key: o.key, Body: body }));
  });
  const good = await verifyCopy({ source, dest, reportExtra: true });
  t.ok(isOk(good), 'a complete copy is identical');
  t.equal(good.identical, objects.length);

  const small = objects.filter((o) => o.size > 16).map((o) => o.key);
  const [gone, corrupt, short] = [small[0] as string, 'x/../y', 'unicode/normalization/cafe\u0301.txt'];
  await s3.send(new DeleteObjectCommand({ Bucket: dest.bucket, Key: gone }));
  const original = objects.find((o) => o.key === corrupt)?.size ?? 0;
  await s3.send(new PutObjectCommand({ Bucket: dest.bucket, Key: corrupt, Body: Buffer.alloc(original, 7) }));
  await s3.send(new PutObjectCommand({ Bucket: dest.bucket, Key: short, Body: 'short' }));
  await s3.send(new PutObjectCommand({ Bucket: dest.bucket, Key: 'stray/key', Body: 'x' }));
  const bad = await verifyCopy({ source, dest, reportExtra: true, concurrency: 3 });
  t.notOk(isOk(bad));
  t.same(bad.missing, [gone]);
  t.same(
    bad.different.map((d) => d.key),
    [corrupt, short].sort(),
  );
  t.match(bad.different.find((d) => d.key === corrupt)?.reason, /content differs/);
  t.match(bad.different.find((d) => d.key === short)?.reason, /size 5 at the destination/);
  t.same(bad.extra, ['stray/key']);
  t.equal(bad.identical, objects.length - 3);
});

void t.test('drain wait: an empty queue drains; a queue with work does not, within its deadline', async (t) => {
  const drained = await waitForDrain({ sqs, queueUrl: resources.queueUrl, deadlineMs: 10_000, intervalMs: 50 });
  t.ok(drained.drained);
  await sqs.send(new SendMessageCommand({ QueueUrl: resources.queueUrl, MessageBody: 'work' }));
  const busy = await waitForDrain({ sqs, queueUrl: resources.queueUrl, deadlineMs: 300, intervalMs: 50 });
  t.notOk(busy.drained);
  t.match(busy, { reason: /not drained/, depth: { visible: 1 } });
  const stopped = await waitForDrain({
    sqs,
    queueUrl: resources.queueUrl,
    deadlineMs: 10_000,
    intervalMs: 50,
    onPoll: () => 'worker died',
  });
  t.match(stopped, { drained: false, reason: 'worker died' });
});
