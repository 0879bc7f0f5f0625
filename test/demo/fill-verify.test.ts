// The demo's fill and verification against a real moto server, with the copy made here by the SDK so
// that the verifier's verdicts can be checked: a complete copy (bytes, metadata, tags) passes; a
// missing, a corrupted, a truncated and a stray destination object are each reported by key, and so are
// a lost Content-Encoding, a changed user metadata value and a lost tag, field by field.
import t from 'tap';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { attributeCounts, DEFAULT_PLAN, fillSource, MiB, type PlanOptions } from '../../scripts/fill-source.ts';
import { hasTags, taggingHeader, tagRecord } from '../../shared/object-attributes.ts';
import { forEachLimit } from '../../scripts/for-each-limit.ts';
import {
  createResources,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  localClients,
  startLocalStack,
} from '../../scripts/local-stack.ts';
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

let planned = { system: 0, user: 0, tags: 0 };
/** Three small objects planned as compressed logs (Content-Encoding gzip, tags retention and class). */
let gzipped: string[] = [];

void t.test('fill creates every planned object with its planned size', async (t) => {
  const fill = await fillSource({ s3, bucket: resources.sourceBucket, plan, partBytes: 5 * MiB });
  const listed = await listAll(source);
  t.equal(listed.length, fill.objects.length);
  const sizes = new Map(listed.map((o) => [o.key, o.size]));
  for (const o of fill.objects) t.equal(sizes.get(o.key), o.size, JSON.stringify(o.key));
  planned = attributeCounts(fill.objects);
  gzipped = fill.objects
    .filter((o) => o.kind === 'small' && o.attributes.ContentEncoding === 'gzip')
    .slice(0, 3)
    .map((o) => o.key);
  t.equal(gzipped.length, 3);
  t.ok(planned.system > 5 && planned.user > 5 && planned.tags > 5, 'a mix with metadata and tags');
  const large = fill.objects.find((o) => o.kind === 'large');
  t.ok(large?.attributes.tags && large.attributes.Metadata, 'the multipart object carries metadata and tags');
});

/**
 * The whole object as a copier must move it. Header values travel as the bytes the source answered: the
 * SDK reads them as Latin-1 and Node writes them back as Latin-1, provided the headers go out with the
 * body. With `Expect: 100-continue` (the SDK's default for bodies of 2 MB and more) Node flushes the
 * headers alone and writes them as UTF-8, so a non-ASCII value would arrive re-encoded: this copier
 * does without it.
 */
const copier = new S3Client({
  region: LOCAL_REGION,
  endpoint: stack.endpoint,
  forcePathStyle: true,
  credentials: { ...LOCAL_CREDENTIALS },
  expectContinueHeader: false,
});

async function copyWhole(key: string): Promise<void> {
  const got = await s3.send(new GetObjectCommand({ Bucket: source.bucket, Key: key }));
  const body = Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
  const tags = hasTags(got)
    ? tagRecord((await s3.send(new GetObjectTaggingCommand({ Bucket: source.bucket, Key: key }))).TagSet ?? [])
    : undefined;
  const metadata = got.Metadata ?? {};
  await copier.send(
    new PutObjectCommand({
      Bucket: dest.bucket,
      Key: key,
      Body: body,
      ContentType: got.ContentType,
      ContentEncoding: got.ContentEncoding,
      CacheControl: got.CacheControl,
      ContentDisposition: got.ContentDisposition,
      ContentLanguage: got.ContentLanguage,
      Expires: got.Expires,
      Metadata: metadata,
      Tagging: taggingHeader(tags),
    }),
  );
}

void t.test('verification passes a complete copy and names each bad key', async (t) => {
  const objects = await listAll(source);
  await forEachLimit(objects, 8, async (o) => copyWhole(o.key));
  const good = await verifyCopy({ source, dest, reportExtra: true, compareAttributes: true });
  t.ok(isOk(good), `a complete copy is identical: ${JSON.stringify(good.attributes.slice(0, 3))}`);
  t.equal(good.identical, objects.length);
  t.same(good.carried, planned, 'the source carries the planned metadata and tags');

  const small = objects.filter((o) => o.size > 16).map((o) => o.key);
  const [gone, corrupt, short] = [small[0] as string, 'x/../y', 'unicode/normalization/cafe\u0301.txt'];
  await s3.send(new DeleteObjectCommand({ Bucket: dest.bucket, Key: gone }));
  const original = objects.find((o) => o.key === corrupt)?.size ?? 0;
  await s3.send(new PutObjectCommand({ Bucket: dest.bucket, Key: corrupt, Body: Buffer.alloc(original, 7) }));
  await s3.send(new PutObjectCommand({ Bucket: dest.bucket, Key: short, Body: 'short' }));
  await s3.send(new PutObjectCommand({ Bucket: dest.bucket, Key: 'stray/key', Body: 'x' }));
  // Same bytes, other attributes: a lost Content-Encoding, a changed metadata value, a lost tag.
  const [encodingLost, metaChanged, tagLost] = gzipped as [string, string, string];
  await s3.send(
    new CopyObjectCommand({
      Bucket: dest.bucket,
      Key: encodingLost,
      CopySource: encodeURI(`${dest.bucket}/${encodingLost}`),
      MetadataDirective: 'REPLACE',
      ContentType: 'text/plain; charset=utf-8',
      CacheControl: 'no-cache',
      Metadata: { source: 'fluent-bit', 'rotated-by': 'logrotate' },
      TaggingDirective: 'COPY',
    }),
  );
  await s3.send(
    new CopyObjectCommand({
      Bucket: dest.bucket,
      Key: metaChanged,
      CopySource: encodeURI(`${dest.bucket}/${metaChanged}`),
      MetadataDirective: 'REPLACE',
      ContentType: 'text/plain; charset=utf-8',
      ContentEncoding: 'gzip',
      CacheControl: 'no-cache',
      Metadata: { source: 'vector', 'rotated-by': 'logrotate' },
    }),
  );
  await s3.send(
    new PutObjectTaggingCommand({
      Bucket: dest.bucket,
      Key: tagLost,
      Tagging: { TagSet: [{ Key: 'class', Value: 'logs' }] },
    }),
  );
  const bad = await verifyCopy({ source, dest, reportExtra: true, concurrency: 3, compareAttributes: true });
  t.notOk(isOk(bad));
  t.same(
    bad.attributes,
    [
      { key: encodingLost, differences: [{ field: 'Content-Encoding', source: 'gzip', dest: undefined }] },
      { key: metaChanged, differences: [{ field: 'x-amz-meta-source', source: 'fluent-bit', dest: 'vector' }] },
      { key: tagLost, differences: [{ field: 'tag:retention', source: '90d', dest: undefined }] },
    ].sort((a, b) => (a.key < b.key ? -1 : 1)),
  );
  const bytesOnly = await verifyCopy({ source, dest, reportExtra: true });
  t.same(bytesOnly.attributes, [], 'without compareAttributes only bytes are compared');
  t.same(bad.missing, [gone]);
  t.same(
    bad.different.map((d) => d.key),
    [corrupt, short].sort(),
  );
  t.match(bad.different.find((d) => d.key === corrupt)?.reason, /content differs/);
  t.match(bad.different.find((d) => d.key === short)?.reason, /size 5 at the destination/);
  t.same(bad.extra, ['stray/key']);
  t.equal(bad.identical, objects.length - 6);
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
