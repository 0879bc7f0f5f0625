// The verify step against a real moto server: one ListObjectsV2 settles a batch, a HEAD settles what
// the listing cannot, and a store that refuses ListBucket is verified by HEAD. Destination requests
// are counted by a loopback pass-through in front of moto, not by the verifier's own metrics.
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import type { Copied } from '../../daemon/copy-object.ts';
import { createMetrics } from '../../daemon/metrics.ts';
import { BatchVerifier } from '../../daemon/verify-batch.ts';
import { CopyError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/logger.ts';
import type { BatchMessage, BatchObject } from '../../shared/message.ts';
import { startLatencyProxy, type LatencyProxyOptions } from '../../scripts/latency-proxy.ts';
import {
  createResources,
  localClients,
  startLocalStack,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
} from '../../scripts/local-stack.ts';
import { content, putObject } from '../helpers/queues.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3 } = localClients(stack);

/** A verifier whose destination requests pass through a recording proxy; its warnings are collected. */
async function verifierThrough(t: Test, options: Partial<LatencyProxyOptions> & { by?: 'list' | 'head' } = {}) {
  const proxy = await startLatencyProxy({ target: stack.endpoint, delayMs: 0, record: true, ...options });
  t.teardown(() => proxy.stop());
  const dest = new S3Client({
    endpoint: proxy.endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    forcePathStyle: true,
  });
  const warnings: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      warnings.push(...chunk.toString().trim().split('\n'));
      done();
    },
  });
  const verifier = new BatchVerifier({
    dest,
    source: () => s3,
    by: options.by ?? 'list',
    compareEtag: true,
    metrics: createMetrics(),
    log: createLogger('warn', sink),
  });
  const kinds = () => {
    const lines = proxy.requestLines();
    return {
      list: lines.filter((l) => l.startsWith('GET') && l.includes('list-type=2')).length,
      head: lines.filter((l) => l.startsWith('HEAD')).length,
      all: lines.length,
    };
  };
  return { verifier, kinds, warnings };
}

/** Puts `body` at both ends and returns what the lister would have listed for it. */
async function copied(res: { sourceBucket: string; destBucket: string }, key: string, body: Buffer): Promise<Copied> {
  await putObject(s3, res.sourceBucket, key, body);
  await putObject(s3, res.destBucket, key, body);
  const object: BatchObject = { key, size: body.length, etag: md5(body) };
  return { object, target: key, path: 'rclone' };
}

function md5(body: Buffer): string {
  return createHash('md5').update(body).digest('hex');
}

function message(res: { sourceBucket: string; destBucket: string }, objects: BatchObject[]): BatchMessage {
  return {
    v: 1,
    job: 'verify',
    source: { bucket: res.sourceBucket },
    dest: { bucket: res.destBucket },
    attempt: 1,
    objects,
  };
}

/** Verifies `copies` as one batch. */
function verifyAll(verifier: BatchVerifier, res: { sourceBucket: string; destBucket: string }, copies: Copied[]) {
  const batch = message(
    res,
    copies.map((c) => c.object),
  );
  return verifier.verify(batch, copies, new AbortController().signal);
}

t.test('one listing verifies a batch of neighbouring keys, neighbours outside it in the bucket', async (t) => {
  const res = await createResources(stack, { name: 'vlist' });
  const { verifier, kinds } = await verifierThrough(t);
  for (const key of ['logs/2026/10/z', 'logs/2026/11/a', 'logs/2026/11/part-0099', 'logs/2026/12/a']) {
    await putObject(s3, res.destBucket, key, content(3, key));
  }
  const copies: Copied[] = [];
  for (let i = 0; i < 20; i++) {
    const key = `logs/2026/11/part-${String(i).padStart(4, '0')}`;
    copies.push(await copied(res, key, content(100 + i, key)));
  }
  const results = await verifyAll(verifier, res, copies);
  t.same(
    results,
    copies.map((c) => c.object.size),
    'every copy verified, with its size',
  );
  t.same(kinds(), { list: 1, head: 0, all: 1 }, 'one request for twenty objects');
});

t.test('what the listing cannot settle is HEADed, and failures say why', async (t) => {
  const res = await createResources(stack, { name: 'vhead' });
  const { verifier, kinds } = await verifierThrough(t);
  const good = await copied(res, 'k/good', content(10, 'good'));
  // Listed at 5 bytes; the source has since become 7, and so has the copy: it is right.
  const changed = await copied(res, 'k/changed', content(7, 'new'));
  changed.object = { key: 'k/changed', size: 5, etag: md5(content(5, 'old')) };
  const missing: Copied = { object: { key: 'k/missing', size: 4 }, target: 'k/missing', path: 'rclone' };
  await putObject(s3, res.sourceBucket, 'k/missing', content(4, 'm'));
  // The destination holds other bytes than the source, which has not changed.
  const wrong = await copied(res, 'k/wrong', content(6, 'right'));
  await putObject(s3, res.destBucket, 'k/wrong', content(6, 'wrong'));
  const copies = [good, changed, missing, wrong];
  const results = await verifyAll(verifier, res, copies);
  t.equal(results[0], 10, 'good: verified by the listing');
  t.equal(results[1], 7, 'changed at the source: the copy matches the source as it is now');
  t.ok(results[2] instanceof CopyError, 'missing: failed');
  t.match(results[2], { kind: 'verify', message: /does not exist/, key: 'k/missing' });
  t.ok(results[3] instanceof CopyError, 'wrong bytes: failed');
  t.match(results[3], { kind: 'verify', message: /MD5 [0-9a-f]{32} differs from source ETag/ });
  t.same(kinds(), { list: 1, head: 3, all: 4 }, 'a HEAD only for the three the listing could not settle');
});

t.test('keys the pages do not reach are HEADed', async (t) => {
  const res = await createResources(stack, { name: 'vsparse' });
  const { verifier, kinds } = await verifierThrough(t);
  // 60 other objects between the batch's two keys: more than the verifier reads in pages.
  for (let i = 0; i < 60; i++) await putObject(s3, res.destBucket, `m/${String(i).padStart(3, '0')}`, content(1, 'x'));
  const copies = [await copied(res, 'a/first', content(5, 'a')), await copied(res, 'z/last', content(6, 'z'))];
  const results = await verifyAll(verifier, res, copies);
  t.same(results, [5, 6]);
  const seen = kinds();
  t.ok(seen.list >= 1 && seen.list <= 3, `pages bounded (${seen.list})`);
  t.equal(seen.head, 1, 'the last key, beyond the pages, HEADed');
});

t.test('a destination refusing ListBucket is verified by HEAD, with one warning', async (t) => {
  const res = await createResources(stack, { name: 'vdenied' });
  const denied = `<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>x</RequestId></Error>`;
  const { verifier, kinds, warnings } = await verifierThrough(t, {
    answer: (req) => (req.url?.includes('list-type=2') ? { status: 403, body: denied } : undefined),
  });
  const first = [await copied(res, 'd/1', content(3, '1')), await copied(res, 'd/2', content(4, '2'))];
  t.same(await verifyAll(verifier, res, first), [3, 4]);
  const second = [await copied(res, 'd/3', content(5, '3'))];
  t.same(await verifyAll(verifier, res, second), [5]);
  t.same(kinds(), { list: 1, head: 3, all: 4 }, 'asked once, then HEADs only');
  t.equal(warnings.length, 1);
  t.match(warnings[0], /ListBucket refused at the destination: verifying by HEAD from now on/);
});

t.test('verifying by HEAD makes no listing', async (t) => {
  const res = await createResources(stack, { name: 'vbyhead' });
  const { verifier, kinds } = await verifierThrough(t, { by: 'head' });
  const copies = [await copied(res, 'h/1', content(3, '1')), await copied(res, 'h/2', content(4, '2'))];
  t.same(await verifyAll(verifier, res, copies), [3, 4]);
  t.same(kinds(), { list: 0, head: 2, all: 2 });
});

t.test("a multipart copy is HEADed, and rclone's MD5 metadata proves or disproves it", async (t) => {
  const res = await createResources(stack, { name: 'vmulti' });
  const { verifier, kinds } = await verifierThrough(t);
  /** Puts `body` at the destination as a one-part multipart upload carrying `md5Of`'s MD5 as rclone does. */
  const putMultipart = async (key: string, body: Buffer, md5Of: Buffer): Promise<void> => {
    const md5chksum = createHash('md5').update(md5Of).digest('base64');
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: res.destBucket, Key: key, Metadata: { md5chksum } }),
    );
    const part = await s3.send(
      new UploadPartCommand({ Bucket: res.destBucket, Key: key, UploadId, PartNumber: 1, Body: body }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: res.destBucket,
        Key: key,
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
  };
  const body = content(1000, 'm');
  const other = content(1000, 'x');
  for (const key of ['mp/right', 'mp/wrong']) await putObject(s3, res.sourceBucket, key, body);
  await putMultipart('mp/right', body, body);
  await putMultipart('mp/wrong', other, other);
  const copies: Copied[] = ['mp/right', 'mp/wrong'].map((key) => ({
    object: { key, size: body.length, etag: md5(body) },
    target: key,
    path: 'rclone',
  }));
  const results = await verifyAll(verifier, res, copies);
  t.equal(results[0], 1000, 'the metadata proves the MD5');
  t.match(results[1], { kind: 'verify', message: /destination MD5 [0-9a-f]{32} differs from source ETag/ });
  t.same(kinds(), { list: 1, head: 2, all: 3 }, 'the listing cannot settle multipart ETags');
});
