// The whole object against real moto and real rclone children: every system field, user metadata and
// tags on each copy path, single-part and multipart; storage class and SSE-KMS; a source without
// tagging; attributes S3 refuses. Requests per object are counted by loopback pass-throughs in front of
// the source and the destination (the copiers' own counts are not trusted).
import { Writable } from 'node:stream';
import {
  GetObjectTaggingCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import t, { type Test } from 'tap';
import { copyObject, type Copier } from '../../daemon/copy-object.ts';
import { DEFAULT_CONTROLS, type DestControls } from '../../daemon/dest-controls.ts';
import { createMetrics } from '../../daemon/metrics.ts';
import { RclonePool } from '../../daemon/rclone-pool.ts';
import { SourceTags, type TagPolicy } from '../../daemon/source-tags.ts';
import { BatchVerifier } from '../../daemon/verify-batch.ts';
import { CopyError } from '../../shared/errors.ts';
import { createLogger } from '../../shared/logger.ts';
import type { BatchMessage } from '../../shared/message.ts';
import {
  attributesOf,
  diffAttributes,
  RCLONE_OWN_METADATA,
  type AttributeDifference,
  type ObjectAttributes,
} from '../../shared/object-attributes.ts';
import { startLatencyProxy } from '../../scripts/latency-proxy.ts';
import {
  createKmsKey,
  createResources,
  localClients,
  startLocalStack,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
} from '../../scripts/local-stack.ts';
import { clientThrough } from '../helpers/proxied.ts';
import { batch, content, deadLetters, enqueue, takeAll } from '../helpers/queues.ts';
import { startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';
import { FAST } from '../rclone/fixture.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3 } = localClients(stack);
const res = await createResources(stack, { name: 'fidelity', secrets: false });

/** What a test makes the source proxy answer itself (a store without tagging, say). */
let sourceAnswer: ((url: string) => { status: number; body: string } | undefined) | undefined;
const sourceProxy = await startLatencyProxy({
  target: stack.endpoint,
  delayMs: 0,
  record: true,
  answer: (req) => sourceAnswer?.(req.url ?? ''),
});
/** What a test makes the destination proxy answer itself (S3's refusals that moto does not make). */
let destAnswer: ((method: string, url: string) => { status: number; body: string } | undefined) | undefined;
const destProxy = await startLatencyProxy({
  target: stack.endpoint,
  delayMs: 0,
  record: true,
  answer: (req) => destAnswer?.(req.method ?? '', req.url ?? ''),
});
t.teardown(() => sourceProxy.stop());
t.teardown(() => destProxy.stop());
const source = clientThrough(sourceProxy);
const dest = clientThrough(destProxy);

const warnings: string[] = [];
const log = createLogger(
  'warn',
  new Writable({
    write(chunk: Buffer, _enc, done) {
      warnings.push(...chunk.toString().trim().split('\n'));
      done();
    },
  }),
);

const MiB = 1024 * 1024;
/** rclone's and the SDK's part size here: 12 MiB objects go in three parts on both paths. */
const PART = 5 * MiB;

async function startPool(t: Test, controls: DestControls, keepOwnMetadata = false): Promise<RclonePool> {
  const pool = new RclonePool({
    binary: 'rclone',
    children: 1,
    transfersPerChild: 2,
    flags: [],
    startTimeoutMs: 20_000,
    source: {
      endpoint: sourceProxy.endpoint,
      accessKeyId: LOCAL_CREDENTIALS.accessKeyId,
      secretAccessKey: LOCAL_CREDENTIALS.secretAccessKey,
      region: LOCAL_REGION,
      provider: 'Other',
      forcePathStyle: true,
      options: {},
    },
    // no_head: moto's multipart completion quirk (DESIGN.md)
    dest: {
      endpoint: destProxy.endpoint,
      region: LOCAL_REGION,
      options: { no_head: 'true', upload_cutoff: '5M', chunk_size: '5M' },
      controls,
    },
    baseEnv: { ...process.env, ...stack.env },
    log,
    tuning: FAST,
    keepOwnMetadata,
  });
  await pool.start();
  t.teardown(() => pool.stop());
  return pool;
}

function copier(
  pool: RclonePool,
  copyPath: 'sdk' | 'rclone',
  controls: DestControls,
  tagPolicy: TagPolicy = 'count',
): Copier {
  return {
    rcloneCopy: (req) => pool.copy(req),
    source: () => source,
    dest,
    partSizeBytes: PART,
    verifyEtag: true,
    copyPath,
    controls,
    tags: new SourceTags(log, tagPolicy),
  };
}

const verifier = new BatchVerifier({
  dest,
  source: () => source,
  by: 'list',
  compareEtag: true,
  metrics: createMetrics(),
  log,
});

const message = (keys: Array<{ key: string; size: number }>): BatchMessage => batch(res, keys);

/** Every attribute S3 has, non-ASCII values included (moto drops metadata names with `_`). */
const FULL: Omit<PutObjectCommandInput, 'Bucket' | 'Key'> = {
  ContentType: 'text/html; charset=utf-8',
  CacheControl: 'public, max-age=3600',
  ContentDisposition: 'attachment; filename="report.html"',
  ContentEncoding: 'gzip',
  ContentLanguage: 'de-CH',
  Expires: new Date('2031-05-06T07:08:09Z'),
  WebsiteRedirectLocation: '/moved/here.html',
  // Node sends a header string's characters as bytes (latin1): this puts the UTF-8 of "Zoë Ærø" on the wire
  Metadata: { owner: 'ops-team', 'x-origin': Buffer.from('Zoë Ærø', 'utf8').toString('latin1'), empty: '' },
  Tagging: 'project=atlas&cost%20centre=42%2F7&empty=',
};

async function putSource(key: string, size: number, attrs: Omit<PutObjectCommandInput, 'Bucket' | 'Key'>) {
  await s3.send(new PutObjectCommand({ Bucket: res.sourceBucket, Key: key, Body: content(size, key), ...attrs }));
}

async function attributes(client: S3Client, bucket: string, key: string): Promise<ObjectAttributes> {
  const head = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  const tags = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
  return attributesOf(head, tags.TagSet ?? []);
}

type Counted = { source: string[]; dest: string[]; path: 'rclone' | 'sdk' };

/** Copies and verifies one object; returns the request lines each store saw for it. */
async function copyCounted(c: Copier, key: string, size: number): Promise<Counted> {
  const s0 = sourceProxy.requestLines().length;
  const d0 = destProxy.requestLines().length;
  const msg = message([{ key, size }]);
  const object = msg.objects[0] as { key: string; size: number };
  const copied = await copyObject(c, msg, object, new AbortController().signal, true);
  const [verdict] = await verifier.verify(msg, [copied], new AbortController().signal);
  if (verdict instanceof CopyError) throw verdict;
  return {
    source: sourceProxy.requestLines().slice(s0),
    dest: destProxy.requestLines().slice(d0),
    path: copied.path,
  };
}

const kind = (line: string): string => {
  const [method, url = ''] = line.split(' ');
  if (url.includes('tagging')) return `${method} tagging`;
  if (url.includes('list-type=2')) return 'LIST';
  if (url.includes('uploads')) return `${method} create-multipart`;
  if (url.includes('partNumber')) return `${method} part`;
  if (url.includes('uploadId')) return `${method} complete-multipart`;
  return method ?? '';
};
const kinds = (lines: string[]) => lines.map(kind).sort();

/** FULL without the two headers rclone's upload cannot set: such an object stays on the rclone path. */
const RCLONE_SETS = { ...FULL, Expires: undefined, WebsiteRedirectLocation: undefined };

/** Requests per object, printed for BENCHMARKS.md (the assertions below hold them). */
const table: string[] = [];
t.teardown(() => t.comment(`requests per object (source | destination):\n${table.join('\n')}`));

const fields = (d: AttributeDifference[]) => d.map((x) => x.field).sort();
const count = (lines: string[], k: string) => lines.filter((l) => kind(l) === k).length;

t.test('the whole object on each path, single-part and multipart, tags present and absent', async (t) => {
  const pool = await startPool(t, DEFAULT_CONTROLS);
  for (const path of ['sdk', 'rclone'] as const) {
    const c = copier(pool, path, DEFAULT_CONTROLS);
    for (const [label, size] of [
      ['single', 1000],
      ['multipart', 12 * MiB],
    ] as const) {
      // every attribute; on the rclone path also the set rclone carries itself
      const cases = [
        ['full', FULL, 'sdk'],
        ...(path === 'rclone' ? [['rclone-set', RCLONE_SETS, 'rclone'] as const] : []),
      ] as const;
      for (const [name, attrs, copiedBy] of cases) {
        const key = `${path}/${label}/${name}.html`;
        await putSource(key, size, attrs);
        const counted = await copyCounted(c, key, size);
        const want = await attributes(s3, res.sourceBucket, key);
        t.same(Object.keys(want.tags ?? {}).sort(), ['cost centre', 'empty', 'project'], 'source has tags');
        const diffs = diffAttributes(want, await attributes(s3, res.destBucket, key));
        t.same(fields(diffs), [], `${path} ${label} ${name}: every attribute arrived, nothing added`);
        t.equal(counted.path, copiedBy, `${path} ${label} ${name}: copied by ${copiedBy}`);
        table.push(
          `${path} ${label} with metadata and tags${name === 'full' ? ', Expires and redirect' : ''}: ${kinds(counted.source).join(', ')} | ${kinds(counted.dest).join(', ')}`,
        );
        t.equal(count(counted.source, 'GET tagging'), 1, `${path} ${label} ${name}: one GetObjectTagging`);
        t.equal(
          count(counted.source, 'HEAD'),
          path === 'rclone' ? 1 : 0,
          `${path} ${label} ${name}: ${path === 'rclone' ? 'one source HEAD (rclone hides its GET answer)' : 'no source HEAD'}`,
        );
        const ranged = copiedBy === 'sdk' && label === 'multipart';
        t.equal(
          count(counted.source, 'GET'),
          ranged ? 3 : 1,
          `${path} ${label} ${name}: ${ranged ? 'one ranged GET per part' : 'one source GET'}`,
        );
        t.equal(count(counted.dest, 'PUT tagging'), 0, `${path} ${label} ${name}: tags sent with the upload`);
      }

      const plainKey = `${path}/${label}/plain.bin`;
      await putSource(plainKey, size, {});
      const plain = await copyCounted(c, plainKey, size);
      const plainDiffs = diffAttributes(
        await attributes(s3, res.sourceBucket, plainKey),
        await attributes(s3, res.destBucket, plainKey),
      );
      t.same(fields(plainDiffs), [], `${path} ${label} without attributes: nothing added (no rclone mtime or btime)`);
      t.equal(plain.path, path, `${path} ${label} without attributes: copied by the chosen path`);
      t.equal(count(plain.source, 'GET tagging'), 0, `${path} ${label} without tags: no tag request`);
      t.equal(count(plain.dest, 'PUT tagging'), 0, 'no tags written where there are none');
      table.push(`${path} ${label} without: ${kinds(plain.source).join(', ')} | ${kinds(plain.dest).join(', ')}`);
    }
  }
});

t.test("rclone's own metadata when the operator asks for it (rclone.keepOwnMetadata)", async (t) => {
  const pool = await startPool(t, DEFAULT_CONTROLS, true);
  const c = copier(pool, 'rclone', DEFAULT_CONTROLS);
  const key = 'keep-own/plain.bin';
  await putSource(key, 1000, {});
  const copied = await copyCounted(c, key, 1000);
  t.equal(copied.path, 'rclone');
  const diffs = diffAttributes(await attributes(s3, res.sourceBucket, key), await attributes(s3, res.destBucket, key));
  t.same(fields(diffs), ['x-amz-meta-btime', 'x-amz-meta-mtime'], 'rclone adds its own, as asked');
  const ignored = diffAttributes(
    await attributes(s3, res.sourceBucket, key),
    await attributes(s3, res.destBucket, key),
    { ignoreMetadata: RCLONE_OWN_METADATA },
  );
  t.same(ignored, [], 'and nothing else');
});

t.test('copyPath auto: large objects by rclone, small ones by the SDK, each whole', async (t) => {
  const pool = await startPool(t, DEFAULT_CONTROLS);
  const c: Copier = { ...copier(pool, 'sdk', DEFAULT_CONTROLS), copyPath: 'auto', rcloneFromBytes: 10 * MiB };
  for (const [key, size, attrs, by] of [
    ['auto/large.html', 12 * MiB, RCLONE_SETS, 'rclone'],
    ['auto/large-expires.html', 12 * MiB, FULL, 'sdk'],
    ['auto/small.html', 1000, RCLONE_SETS, 'sdk'],
  ] as const) {
    await putSource(key, size, attrs);
    const counted = await copyCounted(c, key, size);
    t.equal(counted.path, by, `${key}: copied by ${by}`);
    const diffs = diffAttributes(
      await attributes(s3, res.sourceBucket, key),
      await attributes(s3, res.destBucket, key),
    );
    t.same(fields(diffs), [], `${key}: every attribute arrived, nothing added`);
    t.equal(
      count(counted.source, 'HEAD'),
      size >= 10 * MiB ? 1 : 0,
      `${key}: a source HEAD only where rclone was planned`,
    );
  }
});

t.test('tag policy: always reads where the count is absent, off never reads', async (t) => {
  const pool = await startPool(t, DEFAULT_CONTROLS);
  await putSource('policy/untagged', 10, {});
  await putSource('policy/tagged', 10, { Tagging: 'a=b' });
  const always = await copyCounted(copier(pool, 'sdk', DEFAULT_CONTROLS, 'always'), 'policy/untagged', 10);
  t.same(kinds(always.source), ['GET', 'GET tagging'], 'always: a tag request even without x-amz-tagging-count');
  const off = await copyCounted(copier(pool, 'sdk', DEFAULT_CONTROLS, 'off'), 'policy/tagged', 10);
  t.same(kinds(off.source), ['GET'], 'off: no tag request');
  t.same((await attributes(s3, res.destBucket, 'policy/tagged')).tags, {}, 'off: no tags copied');
  const offRclone = await copyCounted(copier(pool, 'rclone', DEFAULT_CONTROLS, 'off'), 'policy/tagged', 10);
  t.same(kinds(offRclone.source), ['GET', 'HEAD'], 'off, rclone path: no tag request either (the HEAD is for Expires)');
});

t.test('storage class and SSE-KMS on both paths, and verification still passes', async (t) => {
  const key = await createKmsKey(stack);
  const controls: DestControls = {
    storageClass: 'STANDARD_IA',
    sse: 'SSE-KMS',
    sseKmsKeyId: key.arn,
    sseBucketKey: true,
  };
  const pool = await startPool(t, controls);
  for (const path of ['sdk', 'rclone'] as const) {
    for (const [label, size] of [
      ['single', 1000],
      ['multipart', 12 * MiB],
    ] as const) {
      const k = `kms/${path}/${label}`;
      await putSource(k, size, { Metadata: { a: '1' } });
      await copyCounted(copier(pool, path, controls), k, size);
      const head = await s3.send(new HeadObjectCommand({ Bucket: res.destBucket, Key: k }));
      t.equal(head.StorageClass, 'STANDARD_IA', `${path} ${label}: storage class`);
      t.equal(head.ServerSideEncryption, 'aws:kms', `${path} ${label}: SSE-KMS`);
      t.match(head.SSEKMSKeyId ?? '', key.id, `${path} ${label}: with the key asked for`);
      // moto keeps the bucket-key flag of a PutObject, not of a CreateMultipartUpload
      if (path === 'sdk' && label === 'single') t.equal(head.BucketKeyEnabled, true, `${path} ${label}: bucket key`);
    }
  }
});

t.test('verification with SSE-KMS ETags, which are no MD5s (as Amazon S3 answers them)', async (t) => {
  // moto's SSE-KMS ETags are plain MD5s: this destination answers as Amazon S3 does instead
  const objects = [
    { key: 'kmsv/a', size: 10, etag: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' },
    { key: 'kmsv/b', size: 20, etag: 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb' },
    { key: 'kmsv/c', size: 30, etag: 'cccccccccccccccccccccccccccccccc' },
  ];
  for (const o of objects) await putSource(o.key, o.size, {});
  const kmsEtag = (key: string) => `"${Buffer.from(key.padEnd(16, '.')).toString('hex').slice(0, 32)}"`;
  const sizeOf = new Map(objects.map((o) => [`/${res.destBucket}/${o.key}`, o.size]));
  const listing = objects
    .map(
      (o) =>
        `<Contents><Key>${o.key}</Key><Size>${o.key === 'kmsv/c' ? 31 : o.size}</Size><ETag>${kmsEtag(o.key)}</ETag>` +
        '<LastModified>2026-12-03T00:00:00.000Z</LastModified><StorageClass>STANDARD</StorageClass></Contents>',
    )
    .join('');
  const kms = await startLatencyProxy({
    target: stack.endpoint,
    delayMs: 0,
    record: true,
    answer: (req) => {
      const url = req.url ?? '';
      if (req.method === 'GET' && url.includes('list-type=2')) {
        return {
          status: 200,
          body: `<ListBucketResult><Name>${res.destBucket}</Name><IsTruncated>false</IsTruncated>${listing}</ListBucketResult>`,
        };
      }
      const path = url.split('?')[0] ?? '';
      const size = sizeOf.get(path);
      if (req.method !== 'HEAD' || size === undefined) return undefined;
      return {
        status: 200,
        body: '',
        headers: {
          'content-length': String(path.endsWith('/c') ? 31 : size),
          etag: kmsEtag(path.slice(res.destBucket.length + 2)),
          'x-amz-server-side-encryption': 'aws:kms',
          'last-modified': 'Thu, 03 Dec 2026 00:00:00 GMT',
        },
      };
    },
  });
  t.teardown(() => kms.stop());
  const kmsVerifier = new BatchVerifier({
    dest: clientThrough(kms),
    source: () => source,
    by: 'list',
    compareEtag: true,
    metrics: createMetrics(),
    log,
  });
  const copied = (o: (typeof objects)[number]) => ({ object: o, target: o.key, path: 'sdk' as const });
  const signal = new AbortController().signal;
  const first = await kmsVerifier.verify(batch(res, objects), [copied(objects[0]!)], signal);
  t.same(first, [10], 'a KMS ETag unlike the MD5: a HEAD shows SSE-KMS, the size settles it');
  const heads = () => kms.requestLines().filter((l) => l.startsWith('HEAD')).length;
  t.equal(heads(), 1);
  const next = await kmsVerifier.verify(batch(res, objects), [copied(objects[1]!), copied(objects[2]!)], signal);
  t.equal(next[0], 20, 'once the bucket is known to be SSE-KMS, the listing settles a single-part copy');
  t.ok(
    next[1] instanceof CopyError && /size 31 differs from source size 30/.test(next[1].message),
    'a wrong size still fails',
  );
  t.equal(heads(), 2, 'only the wrong size was HEADed');
});

t.test('each storage class is written as asked (SDK path); SSE-S3', async (t) => {
  const pool = await startPool(t, DEFAULT_CONTROLS);
  for (const storageClass of ['INTELLIGENT_TIERING', 'ONEZONE_IA', 'GLACIER_IR', 'GLACIER', 'DEEP_ARCHIVE'] as const) {
    const controls: DestControls = { ...DEFAULT_CONTROLS, storageClass, sse: 'SSE-S3' };
    const k = `class/${storageClass}`;
    await putSource(k, 10, {});
    await copyCounted(copier(pool, 'sdk', controls), k, 10);
    const head = await s3.send(new HeadObjectCommand({ Bucket: res.destBucket, Key: k }));
    t.equal(head.StorageClass, storageClass, storageClass);
    t.equal(head.ServerSideEncryption, 'AES256', `${storageClass}: SSE-S3`);
  }
});

t.test('a source without tagging: one warning, every object copied without tags', async (t) => {
  const pool = await startPool(t, DEFAULT_CONTROLS);
  sourceAnswer = (url) =>
    url.includes('tagging')
      ? { status: 501, body: '<Error><Code>NotImplemented</Code><Message>tagging is not implemented</Message></Error>' }
      : undefined;
  t.teardown(() => (sourceAnswer = undefined));
  const before = warnings.length;
  for (const path of ['sdk', 'rclone'] as const) {
    const c = copier(pool, path, DEFAULT_CONTROLS);
    for (const i of [1, 2]) {
      const k = `notags/${path}/${i}`;
      await putSource(k, 100, { Tagging: 'a=b', Metadata: { m: 'v' } });
      await copyCounted(c, k, 100);
      const got = await attributes(s3, res.destBucket, k);
      t.same(got.tags, {}, `${path} ${i}: copied, without tags`);
      t.same(got.metadata.m, 'v', `${path} ${i}: the rest arrived`);
    }
  }
  const said = warnings.slice(before).filter((w) => w.includes('does not implement object tagging'));
  t.equal(said.length, 2, 'one warning per copier (one per worker), not one per object');
});

t.test('tags or metadata S3 refuses fail that key, naming what was refused', async (t) => {
  const pool = await startPool(t, DEFAULT_CONTROLS);
  const eleven = Array.from({ length: 11 }, (_, i) => `<Tag><Key>t${i}</Key><Value>v</Value></Tag>`).join('');
  // a store allowing more tags than S3 (moto itself refuses an 11th): its tag set is answered here
  sourceAnswer = (url) =>
    url.includes('tagging') && url.includes('many-tags')
      ? { status: 200, body: `<Tagging><TagSet>${eleven}</TagSet></Tagging>` }
      : undefined;
  destAnswer = (method, url) =>
    method === 'PUT' && url.includes('dest-refuses')
      ? {
          status: 400,
          body: '<Error><Code>MetadataTooLarge</Code><Message>Your metadata headers exceed the maximum allowed metadata size</Message></Error>',
        }
      : undefined;
  t.teardown(() => {
    sourceAnswer = undefined;
    destAnswer = undefined;
  });
  await putSource('refused/many-tags', 10, { Tagging: 'a=b' });
  await putSource('refused/big-metadata', 10, { Metadata: { big: 'x'.repeat(2100) } });
  await putSource('refused/fine', 10, { Tagging: 'a=b' });
  // what only the destination knows it refuses (moto stores it): S3's answer is given here
  await putSource('refused/dest-refuses', 10, { Metadata: { m: 'v' } });
  for (const path of ['sdk', 'rclone'] as const) {
    const c = copier(pool, path, DEFAULT_CONTROLS);
    const msg = message([]);
    const failure = async (key: string) =>
      copyObject(c, msg, { key, size: 10 }, new AbortController().signal, true).then(
        () => undefined,
        (err: unknown) => err,
      );
    const tags = await failure('refused/many-tags');
    t.ok(tags instanceof CopyError && tags.kind === 'refused', `${path}: 11 tags refused`);
    t.match((tags as Error).message, /11 tags, over S3's limit of 10/, `${path}: the reason names the tags`);
    const big = await failure('refused/big-metadata');
    t.ok(big instanceof CopyError && big.kind === 'refused', `${path}: 2 KB of metadata refused`);
    t.match((big as Error).message, /user metadata is \d+ bytes, over S3's limit of 2048/, `${path}: names it`);
    const dest = await failure('refused/dest-refuses');
    t.ok(dest instanceof CopyError && dest.kind === 'refused', `${path}: the destination's refusal`);
    t.match((dest as Error).message, /MetadataTooLarge/, `${path}: the reason names it`);
    t.equal(await failure('refused/fine'), undefined, `${path}: the key beside them copies`);
  }
});

t.test('the worker: settings from flags, the whole object by default, a refused key fails alone', async (t) => {
  const own = await createResources(stack, { name: 'fidelity-worker' });
  const { sqs } = localClients(stack);
  const key = await createKmsKey(stack);
  const put = (k: string, attrs: Omit<PutObjectCommandInput, 'Bucket' | 'Key'>) =>
    s3.send(new PutObjectCommand({ Bucket: own.sourceBucket, Key: k, Body: content(100, k), ...attrs }));
  await put('site/index.html', FULL);
  await put('site/too-much-metadata', { Metadata: { big: 'y'.repeat(2100) } });
  await put('site/plain', {});
  await enqueue(
    sqs,
    own.queueUrl,
    batch(own, [
      { key: 'site/index.html', size: 100 },
      { key: 'site/too-much-metadata', size: 100 },
      { key: 'site/plain', size: 100 },
    ]),
  );
  // the default copy path, not the rclone one the shared worker arguments pin
  const args = workerArgs(own, ['--max-attempts', '1', '--storage-class', 'GLACIER_IR', '--sse', 'SSE-KMS']);
  args[args.indexOf('--copy-path') + 1] = 'sdk';
  const worker = await startWorker(stack, args, { RCLONE_MIGRATE_SSE_KMS_KEY_ID: key.arn });
  t.teardown(() => worker.stop('SIGKILL'));
  await waitFor(
    'the batch settled',
    async () => (await worker.metric('rclone_migrate_messages_settled_total', { outcome: 'dead_lettered' })) === 1,
  );
  const letters = deadLetters(await takeAll(sqs, own.deadLetterUrl, 1));
  t.same(
    letters.flatMap((l) => l.failures?.map((f) => f.key) ?? []),
    ['site/too-much-metadata'],
    'only the refused key is dead-lettered',
  );
  t.match(letters[0]?.failures?.[0]?.error, /user metadata is 2103 bytes, over S3's limit of 2048/);
  t.equal(await worker.metric('rclone_migrate_objects_failed_total', { reason: 'refused' }), 1);
  t.equal(await worker.metric('rclone_migrate_objects_copied_total', { path: 'sdk' }), 2);
  t.same(
    diffAttributes(
      await attributes(s3, own.sourceBucket, 'site/index.html'),
      await attributes(s3, own.destBucket, 'site/index.html'),
    ),
    [],
    'the whole object arrived',
  );
  for (const k of ['site/index.html', 'site/plain']) {
    const head = await s3.send(new HeadObjectCommand({ Bucket: own.destBucket, Key: k }));
    t.equal(head.StorageClass, 'GLACIER_IR', `${k}: storage class from --storage-class`);
    t.equal(head.ServerSideEncryption, 'aws:kms', `${k}: SSE-KMS from --sse`);
    t.match(head.SSEKMSKeyId ?? '', key.id, `${k}: the key from RCLONE_MIGRATE_SSE_KMS_KEY_ID`);
  }
});
