// How Ceph RGW (16) differs from AWS S3, pinned against the real store, each with what the product does
// about it (docs/stores.md). Where the product never meets a difference, the test shows the part of the
// product that would (rclone's downloads, the lister's ETags, the SDK path's metadata) doing the right
// thing from Ceph, and the fact itself, so that a Ceph that changes is noticed here first.
import { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetBucketLocationCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import t from 'tap';
import { startLatencyProxy } from '../../scripts/latency-proxy.ts';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { httpStatus } from '../../shared/errors.ts';
import { cephClient, cephStore, uniqueBucket } from '../helpers/ceph.ts';
import { batch, content, enqueue, sha256, sha256Of } from '../helpers/queues.ts';
import { startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';

const MiB = 1024 * 1024;
const ceph = await cephStore(t);
const rgw = cephClient(ceph);
const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);

/** A client with the SDK's default checksum behaviour (what the SDK does unless told otherwise). */
const defaults = new S3Client({
  endpoint: ceph.endpoint,
  region: ceph.region,
  forcePathStyle: true,
  credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
});

async function bucket(label: string): Promise<string> {
  const name = uniqueBucket(label);
  await rgw.send(new CreateBucketCommand({ Bucket: name }));
  return name;
}

/** Uploads `body` in `parts` parts of 5 MiB (the last one shorter); returns CompleteMultipartUpload's ETag. */
async function multipart(b: string, key: string, body: Buffer): Promise<string | undefined> {
  const { UploadId } = await rgw.send(new CreateMultipartUploadCommand({ Bucket: b, Key: key }));
  const Parts = [];
  for (let i = 0, n = 1; i < body.length; i += 5 * MiB, n++) {
    const part = await rgw.send(
      new UploadPartCommand({ Bucket: b, Key: key, UploadId, PartNumber: n, Body: body.subarray(i, i + 5 * MiB) }),
    );
    Parts.push({ ETag: part.ETag, PartNumber: n });
  }
  const done = await rgw.send(
    new CompleteMultipartUploadCommand({ Bucket: b, Key: key, UploadId, MultipartUpload: { Parts } }),
  );
  return done.ETag;
}

t.test(
  'PutObject with a stream body: 411 with the SDK defaults, accepted when checksums are WHEN_REQUIRED',
  async (t) => {
    const b = await bucket('stream-put');
    const put = (client: S3Client, key: string) =>
      client.send(
        new PutObjectCommand({ Bucket: b, Key: key, Body: Readable.from([content(1000, key)]), ContentLength: 1000 }),
      );
    const refused = await put(defaults, 'default').catch((err: unknown) => err);
    t.equal(httpStatus(refused), 411, 'the default (aws-chunked with a trailing checksum) is refused');
    t.match(refused, { name: 'MissingContentLength' });
    await put(rgw, 'when-required');
    t.equal(await sha256Of(rgw, b, 'when-required'), sha256(content(1000, 'when-required')));
  },
);

t.test(
  'CompleteMultipartUpload answers an empty ETag; the listing (which the lister reads) has the -N one',
  async (t) => {
    const b = await bucket('mpu-etag');
    t.equal(await multipart(b, 'mp', content(11 * MiB, 'mp')), '', 'empty ETag from CompleteMultipartUpload');
    const listed = await rgw.send(new ListObjectsV2Command({ Bucket: b }));
    t.match(listed.Contents?.[0]?.ETag, /^"[0-9a-f]{32}-3"$/);
    const head = await rgw.send(new HeadObjectCommand({ Bucket: b, Key: 'mp' }));
    t.equal(head.ETag, listed.Contents?.[0]?.ETag, 'HEAD agrees with the listing');
  },
);

t.test('continuation tokens are raw keys; listing LastModified has milliseconds, HEAD whole seconds', async (t) => {
  const b = await bucket('tokens');
  for (const key of ['a', 'b//c', 'd']) await rgw.send(new PutObjectCommand({ Bucket: b, Key: key, Body: key }));
  const page = await rgw.send(new ListObjectsV2Command({ Bucket: b, MaxKeys: 2 }));
  t.equal(page.NextContinuationToken, 'b//c', 'the token is the last key of the page');
  const next = await rgw.send(new ListObjectsV2Command({ Bucket: b, ContinuationToken: page.NextContinuationToken }));
  t.same(
    next.Contents?.map((c) => c.Key),
    ['d'],
    'and passed back as given, it continues after it',
  );
  const head = await rgw.send(new HeadObjectCommand({ Bucket: b, Key: 'a' }));
  t.equal((head.LastModified?.getTime() ?? 1) % 1000, 0, 'HEAD: whole seconds');
  t.equal(
    Math.floor((page.Contents?.[0]?.LastModified?.getTime() ?? 0) / 1000) * 1000,
    head.LastModified?.getTime(),
    'the same second',
  );
});

t.test("GetBucketLocation answers 'default'; GET ?partNumber=1 answers the whole object", async (t) => {
  const b = await bucket('location');
  const location = await rgw.send(new GetBucketLocationCommand({ Bucket: b }));
  t.equal(location.LocationConstraint, 'default');
  const body = content(11 * MiB, 'parts');
  await multipart(b, 'mp', body);
  const part = await rgw.send(new GetObjectCommand({ Bucket: b, Key: 'mp', PartNumber: 1 }));
  await part.Body?.transformToByteArray();
  t.equal(part.$metadata.httpStatusCode, 200, 'not 206');
  t.equal(part.ContentLength, body.length, 'the whole object, not part 1');
});

t.test(
  'the worker from Ceph: rclone reads a multipart source with Range requests (never ?partNumber, never ' +
    '?location), and the SDK path carries the metadata RGW answers',
  async (t) => {
    const res = await createResources(stack, { name: 'differences' });
    const b = await bucket('worker');
    const big = content(11 * MiB + 3, 'big');
    await multipart(b, 'multi/big.bin', big);
    // RGW turns '_' in user-metadata names into '-' when it stores them: the source has 'my-key'.
    await rgw.send(
      new PutObjectCommand({ Bucket: b, Key: 'odd//meta', Body: 'meta', Metadata: { my_key: 'v', plain: 'w' } }),
    );
    const head = await rgw.send(new HeadObjectCommand({ Bucket: b, Key: 'odd//meta' }));
    t.same(head.Metadata, { 'my-key': 'v', plain: 'w' }, "RGW answers '-' for '_'");

    const proxy = await startLatencyProxy({ target: ceph.endpoint, delayMs: 0, record: true });
    t.teardown(() => proxy.stop());
    const source = { ...res, sourceBucket: b };
    await enqueue(
      sqs,
      res.queueUrl,
      batch(source, [
        { key: 'multi/big.bin', size: big.length },
        { key: 'odd//meta', size: 4 },
      ]),
    );
    const worker = await startWorker(
      stack,
      workerArgs(source, [
        '--source-endpoint',
        proxy.endpoint,
        '--source-provider',
        'Ceph',
        // Multi-thread downloads allowed from 1 MiB (rclone's default cutoff is 256 MiB): whichever way
        // rclone reads, it must not ask for parts by number.
        '--rclone-flags',
        JSON.stringify(['--multi-thread-cutoff', '1M', '--multi-thread-streams', '4']),
      ]),
      {
        RCLONE_MIGRATE_SOURCE_ACCESS_KEY_ID: ceph.accessKeyId,
        RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY: ceph.secretAccessKey,
      },
    );
    t.teardown(() => worker.stop('SIGKILL'));
    await waitFor(
      'the message settled',
      async () => (await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'deleted' })) === 1,
    );
    t.equal(await sha256Of(s3, res.destBucket, 'multi/big.bin'), sha256(big), 'byte-identical');
    const lines = proxy.requestLines();
    t.ok(
      lines.some((l) => l.startsWith('GET /') && l.includes('/multi/big.bin')),
      'rclone read it from Ceph',
    );
    t.notOk(
      lines.some((l) => /[?&]partNumber=/i.test(l)),
      'no ?partNumber request (RGW would answer the whole object)',
    );
    t.notOk(
      lines.some((l) => /[?&]location/.test(l)),
      'no GetBucketLocation',
    );
    const copied = await s3.send(new HeadObjectCommand({ Bucket: res.destBucket, Key: 'odd//meta' }));
    t.same(copied.Metadata, { 'my-key': 'v', plain: 'w' }, 'the SDK path copies the metadata as the source has it');
  },
);
