// The SDK path's ranged multipart copy against real moto: the bytes and attributes arrive, one GET per
// part; the source overwritten while a part's GET is held (If-Match refuses it), the copy aborted while a
// part is held, a part the destination refuses, a part ETag that is no MD5 of the bytes sent: each fails
// with its reason and leaves no multipart upload behind; a part throttled once is sent again; the
// bandwidth cap counts every part. A loopback pass-through in front of the source holds the chosen GET;
// one in front of the destination answers for it where a test says so.
import { Writable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import t from 'tap';
import { copyObject, type Copier } from '../../daemon/copy-object.ts';
import { ByteRate } from '../../daemon/byte-rate.ts';
import { DEFAULT_CONTROLS } from '../../daemon/dest-controls.ts';
import { SourceTags } from '../../daemon/source-tags.ts';
import { CopyError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/logger.ts';
import { startLatencyProxy } from '../../scripts/latency-proxy.ts';
import {
  createResources,
  localClients,
  startLocalStack,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
} from '../../scripts/local-stack.ts';
import { clientThrough } from '../helpers/proxied.ts';
import { batch, content } from '../helpers/queues.ts';

const MiB = 1024 * 1024;
const PART = 5 * MiB;
const SIZE = 3 * PART - 1000;

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3 } = localClients(stack);
const res = await createResources(stack, { name: 'ranged', secrets: false });

/** The request the source proxy holds, and how the test learns it arrived. */
let holding: { matches: (req: IncomingMessage) => boolean; arrived: () => void; release: Promise<void> } | undefined;
const sourceProxy = await startLatencyProxy({
  target: stack.endpoint,
  delayMs: 0,
  record: true,
  hold: (req) => {
    if (!holding?.matches(req)) return undefined;
    const h = holding;
    holding = undefined;
    h.arrived();
    return h.release;
  },
});
let destAnswer:
  | ((method: string, url: string) => { status: number; body: string; headers?: Record<string, string> } | undefined)
  | undefined;
const destProxy = await startLatencyProxy({
  target: stack.endpoint,
  delayMs: 0,
  record: true,
  answer: (req) => destAnswer?.(req.method ?? '', req.url ?? ''),
});
t.teardown(() => sourceProxy.stop());
t.teardown(() => destProxy.stop());
const log = createLogger('silent', new Writable({ write: (_c, _e, done) => done() }));

const copier: Copier = {
  rcloneCopy: () => Promise.reject(new Error('not the rclone path')),
  source: () => clientThrough(sourceProxy),
  dest: clientThrough(destProxy),
  partSizeBytes: PART,
  partConcurrency: 4,
  verifyEtag: true,
  copyPath: 'sdk',
  controls: DEFAULT_CONTROLS,
  tags: new SourceTags(log),
};

/** Holds the GET of the part starting at `start`; resolves once it arrived, with the release. */
function holdPart(start: number): { arrived: Promise<void>; release: () => void } {
  let arrived!: () => void;
  let release!: () => void;
  const seen = new Promise<void>((r) => (arrived = r));
  holding = {
    matches: (req) => req.method === 'GET' && (req.headers.range ?? '').startsWith(`bytes=${start}-`),
    arrived,
    release: new Promise<void>((r) => (release = r)),
  };
  return { arrived: seen, release: () => release() };
}

const put = (key: string, body: Buffer) =>
  s3.send(new PutObjectCommand({ Bucket: res.sourceBucket, Key: key, Body: body, ContentType: 'application/x-test' }));

async function uploadsLeft(): Promise<string[]> {
  const out = await s3.send(new ListMultipartUploadsCommand({ Bucket: res.destBucket }));
  return (out.Uploads ?? []).map((u) => u.Key ?? '');
}

async function destExists(key: string): Promise<boolean> {
  return s3.send(new HeadObjectCommand({ Bucket: res.destBucket, Key: key })).then(
    () => true,
    () => false,
  );
}

const copy = (key: string, signal = new AbortController().signal) =>
  copyObject(copier, batch(res, [{ key, size: SIZE }]), { key, size: SIZE }, signal, true).then(
    () => undefined,
    (err: unknown) => err,
  );

t.test('a ranged copy carries the bytes, one GET per part', async (t) => {
  const key = 'ranged/ok';
  const bytes = content(SIZE, key);
  await put(key, bytes);
  const before = sourceProxy.requestLines().length;
  t.equal(await copy(key), undefined, 'copied');
  t.equal(
    sourceProxy
      .requestLines()
      .slice(before)
      .filter((l) => l.startsWith('GET')).length,
    3,
    'three ranged GETs',
  );
  const got = await s3.send(new GetObjectCommand({ Bucket: res.destBucket, Key: key }));
  t.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(bytes), 'byte for byte');
  t.equal(got.ContentType, 'application/x-test', 'with the object’s attributes');
  t.same(await uploadsLeft(), [], 'no multipart upload left');
});

t.test('the source overwritten between parts: If-Match refuses, the upload is aborted', async (t) => {
  const key = 'ranged/changing';
  await put(key, content(SIZE, key));
  const held = holdPart(PART);
  const failed = copy(key);
  await held.arrived;
  await put(key, content(SIZE, 'another version'));
  held.release();
  const err = await failed;
  t.ok(err instanceof CopyError, 'the copy fails');
  t.equal((err as CopyError).kind, 'copy');
  t.equal((err as CopyError).store, 'source', 'the source is named');
  t.match(
    (err as Error).message,
    /^source GetObject part 2 of 3 \(the object changed during the copy: it no longer has ETag "[0-9a-f]{32}"\): PreconditionFailed.*\(HTTP 412\)/,
  );
  t.same(await uploadsLeft(), [], 'no multipart upload left');
  t.equal(await destExists(key), false, 'no object at the destination');
  t.ok(
    destProxy.requestLines().some((l) => l.startsWith('DELETE') && l.includes('uploadId=')),
    'AbortMultipartUpload was sent',
  );
  t.equal(await copy(key), undefined, 'the next attempt copies the new version');
});

t.test('aborted while a part is held: the upload is aborted too', async (t) => {
  const key = 'ranged/aborted';
  await put(key, content(SIZE, key));
  const held = holdPart(2 * PART);
  const stop = new AbortController();
  const failed = copy(key, stop.signal);
  await held.arrived;
  stop.abort();
  held.release();
  const err = await failed;
  t.ok(err instanceof CopyError && err.kind === 'aborted', 'aborted');
  t.same(await uploadsLeft(), [], 'no multipart upload left');
  t.equal(await destExists(key), false);
});

t.test('a part the destination refuses: the step is named, the upload aborted', async (t) => {
  const key = 'ranged/refused-part';
  await put(key, content(SIZE, key));
  destAnswer = (method, url) =>
    method === 'PUT' && url.includes('partNumber=3')
      ? { status: 403, body: '<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>' }
      : undefined;
  t.teardown(() => (destAnswer = undefined));
  const err = await copy(key);
  t.ok(err instanceof CopyError && err.kind === 'auth', 'refused: auth');
  t.equal((err as CopyError).store, 'destination');
  t.match((err as Error).message, /^destination UploadPart 3: AccessDenied/);
  t.same(await uploadsLeft(), [], 'no multipart upload left');
});

t.test('without SDK checksums, a part ETag that is not the MD5 of the bytes sent fails the copy', async (t) => {
  const key = 'ranged/wrong-part-etag';
  await put(key, content(SIZE, key));
  // a destination client sending no checksums of its own (as for Ceph RGW): each part's MD5 is checked
  const bare = new S3Client({
    endpoint: destProxy.endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  destAnswer = (method, url) =>
    method === 'PUT' && url.includes('partNumber=2')
      ? { status: 200, body: '', headers: { etag: '"00000000000000000000000000000000"' } }
      : undefined;
  t.teardown(() => (destAnswer = undefined));
  const err = await copyObject(
    { ...copier, dest: bare },
    batch(res, [{ key, size: SIZE }]),
    { key, size: SIZE },
    new AbortController().signal,
    true,
  ).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof CopyError && err.store === 'destination', 'fails at the destination');
  t.match(
    (err as Error).message,
    /^destination UploadPart 2: part ETag 0{32} is not the MD5 [0-9a-f]{32} of the bytes sent/,
  );
  t.same(await uploadsLeft(), [], 'no multipart upload left');
  destAnswer = undefined;
  const fine = await copyObject(
    { ...copier, dest: bare },
    batch(res, [{ key, size: SIZE }]),
    { key, size: SIZE },
    new AbortController().signal,
    true,
  );
  t.equal(fine.target, key, 'true part ETags pass the check');
});

t.test(
  'a part the destination throttles once is fetched and sent again (the SDK cannot resend a stream)',
  async (t) => {
    const key = 'ranged/throttled-once';
    await put(key, content(SIZE, key));
    let refused = 0;
    destAnswer = (method, url) =>
      method === 'PUT' && url.includes('partNumber=2') && url.includes('throttled-once') && refused++ === 0
        ? {
            status: 503,
            body: '<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>',
          }
        : undefined;
    t.teardown(() => (destAnswer = undefined));
    const s0 = sourceProxy.requestLines().length;
    const d0 = destProxy.requestLines().length;
    t.equal(await copy(key), undefined, 'copied');
    t.equal(refused, 2, 'part 2 was sent twice');
    const gets = sourceProxy
      .requestLines()
      .slice(s0)
      .filter((l) => l.startsWith('GET'));
    t.equal(gets.length, 4, 'three parts, part 2 fetched again');
    const parts = destProxy
      .requestLines()
      .slice(d0)
      .filter((l) => l.startsWith('PUT') && l.includes('partNumber=2'));
    t.equal(parts.length, 2);
    const got = await s3.send(new GetObjectCommand({ Bucket: res.destBucket, Key: key }));
    t.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(content(SIZE, key)), 'byte for byte');
  },
);

t.test('every byte of every part passes the bandwidth cap', async (t) => {
  const key = 'ranged/capped';
  await put(key, content(SIZE, key));
  class Counted extends ByteRate {
    taken = 0;
    override take(bytes: number): number {
      this.taken += bytes;
      return super.take(bytes);
    }
  }
  // a cap too high to wait on: what is counted is which bytes pass it, not how fast
  const bandwidth = new Counted(1024 * 1024 * MiB);
  const copied = await copyObject(
    { ...copier, bandwidth },
    batch(res, [{ key, size: SIZE }]),
    { key, size: SIZE },
    new AbortController().signal,
    true,
  );
  t.equal(copied.path, 'sdk');
  t.equal(bandwidth.taken, SIZE, 'all three parts were counted against the cap');
});
