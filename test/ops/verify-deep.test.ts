// verify --deep against moto, through the real CLI: keys whose bytes agree but whose system metadata,
// user metadata or tags differ are found field by field (text and JSON), tags are fetched only where a
// side says it has some, --enqueue sends those keys too, and a source without tagging degrades with one
// warning. The plain listing comparison sees none of these differences (the first test shows it), so
// every assertion on them fails if the deep comparison were skipped.
import t from 'tap';
import { HeadObjectCommand, PutObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { startLatencyProxy } from '../../scripts/latency-proxy.ts';
import { drainQueue, parseAll, sentKeys } from '../lister/helpers.ts';
import { describeField, renderVerify, type ReportedDifference, type VerifyReport } from '../../ops/verify.ts';
import { SOURCE_STORES, sourceSide, type SourceSide, type SourceStoreName } from '../helpers/source-store.ts';
import { runCli, type CliResult } from './helpers.ts';
import { attributesOf } from '../../shared/object-attributes.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);

type Attributes = Omit<PutObjectCommandInput, 'Bucket' | 'Key' | 'Body'>;

/** Every system field a migration carries, user metadata (a non-ASCII value too) and two tags. */
const FULL: Attributes = {
  ContentType: 'text/plain; charset=utf-8',
  ContentEncoding: 'gzip',
  CacheControl: 'max-age=3600',
  ContentDisposition: 'attachment; filename="report.txt"',
  ContentLanguage: 'de-CH',
  Expires: new Date('2031-02-03T04:05:06Z'),
  WebsiteRedirectLocation: '/elsewhere',
  Metadata: { colour: 'green', owner: 'Zoë Ångström' },
  Tagging: 'team=storage&tier=gold',
};
const without = (a: Attributes, ...fields: Array<keyof Attributes>): Attributes =>
  Object.fromEntries(Object.entries(a).filter(([k]) => !fields.includes(k as keyof Attributes)));

/** Source key → its attributes at the source and at the destination (undefined: not at the destination). */
const OBJECTS: Record<string, { source: Attributes; dest?: Attributes; destBody?: string }> = {
  'd/same': { source: FULL, dest: FULL },
  'd/plain': { source: {}, dest: {} },
  'd/no-encoding': { source: FULL, dest: without(FULL, 'ContentEncoding', 'CacheControl') },
  'd/meta': { source: FULL, dest: { ...FULL, Metadata: { colour: 'blue', mtime: '1700000000.5' } } },
  'd/tags-lost': { source: FULL, dest: without(FULL, 'Tagging') },
  'd/tags-changed': { source: FULL, dest: { ...FULL, Tagging: 'team=compute&tier=gold&extra=1' } },
  'd/tags-only-dest': { source: {}, dest: { Tagging: 'x=1' } },
  'd/expires': { source: FULL, dest: { ...FULL, Expires: new Date('2029-01-01T00:00:00Z') } },
  'd/missing': { source: FULL },
  'd/other-bytes': { source: FULL, dest: FULL, destBody: 'other bytes, other size' },
};
const ATTRIBUTE_KEYS = ['d/expires', 'd/meta', 'd/no-encoding', 'd/tags-changed', 'd/tags-lost', 'd/tags-only-dest'];

/** Fills the source (on its own store) and the destination (moto, under copy/) with OBJECTS. */
async function fill(source: S3Client, sourceBucket: string, destBucket: string): Promise<void> {
  const put = (client: S3Client, bucket: string, key: string, a: Attributes, body: string) =>
    client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ...a }));
  await Promise.all(
    Object.entries(OBJECTS).flatMap(([key, o]) => [
      put(source, sourceBucket, key, o.source, `body of ${key}`),
      ...(o.dest ? [put(s3, destBucket, `copy/${key}`, o.dest, o.destBody ?? `body of ${key}`)] : []),
    ]),
  );
}

type Run = (args: string[]) => Promise<CliResult>;

/** verify run as an operator would, from this source side (moto's keys given directly, no secrets). */
function verifier(side: SourceSide, sourceEndpoint = stack.endpoint): Run {
  const sourceEnv =
    side.store === 'moto'
      ? {
          RCLONE_MIGRATE_SOURCE_ENDPOINT: sourceEndpoint,
          RCLONE_MIGRATE_SOURCE_ACCESS_KEY_ID: 'test',
          RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY: 'test-secret-key',
        }
      : side.env;
  return (args) =>
    runCli([...args, ...side.args], {
      ...stack.env,
      ...sourceEnv,
      SOURCE_BUCKET: side.res.sourceBucket,
      DEST_BUCKET: side.res.destBucket,
      PREFIX: 'd/',
      RCLONE_MIGRATE_DEST_PREFIX: 'copy/',
      QUEUE_URL: side.res.queueUrl,
    });
}

const byKey = <T extends { key: string }>(items: readonly T[]): T[] =>
  [...items].sort((a, b) => (a.key < b.key ? -1 : 1));

async function filledSide(t: Parameters<typeof sourceSide>[0], store: SourceStoreName): Promise<SourceSide> {
  const res = await createResources(stack, { name: `deep-${store}`, secrets: false });
  const side = await sourceSide(t, store, stack, res);
  await fill(side.s3, side.res.sourceBucket, side.res.destBucket);
  return side;
}

for (const store of SOURCE_STORES) {
  void t.test(`source ${store}`, async (t) => {
    const side = await filledSide(t, store);
    const verify = verifier(side);
    /** The owner value as verify reads it (a non-ASCII header value, as the store answers it). */
    const owner =
      attributesOf(await side.s3.send(new HeadObjectCommand({ Bucket: side.res.sourceBucket, Key: 'd/same' }))).metadata
        .owner ?? null;
    const r = side.res;

    void t.test('without --deep the listings agree on every key whose bytes match', async (t) => {
      const out = await verify(['verify']);
      t.equal(out.code, 1, out.stderr);
      t.match(out.stdout, /^checked 10 keys: 8 identical, 1 missing, 1 different$/m);
      t.notMatch(out.stdout, /attributes|Content-Encoding|tag "/);
    });

    void t.test('--deep: every field that differs, per key, in words', async (t) => {
      const out = await verify(['verify', '--deep', '--deep-concurrency', '3', '--page-size', '4']);
      t.equal(out.code, 1, out.stderr);
      t.match(out.stdout, /^checked 10 keys: 2 identical, 1 missing, 1 different, 6 with other metadata or tags$/m);
      t.match(
        out.stdout,
        /^deep comparison: 8 HEAD and 6 GetObjectTagging at the source, 8 HEAD and 6 GetObjectTagging/m,
      );
      const block = (key: string): string => {
        const lines = out.stdout.split('\n');
        const at = lines.indexOf(`attributes  ${JSON.stringify(key)}`);
        t.ok(at >= 0, `${key} reported`);
        const rest = lines.slice(at + 1);
        const end = rest.findIndex((l) => !l.startsWith('   '));
        return rest.slice(0, end === -1 ? undefined : end).join('\n');
      };
      t.match(block('d/no-encoding'), 'Content-Encoding: source "gzip", destination (absent)');
      t.match(block('d/no-encoding'), 'Cache-Control: source "max-age=3600", destination (absent)');
      t.match(block('d/meta'), 'x-amz-meta-colour: source "green", destination "blue"');
      t.match(block('d/meta'), 'x-amz-meta-mtime: source (absent), destination "1700000000.5"');
      t.match(block('d/tags-lost'), 'tag "team" missing at the destination (source "storage")');
      t.match(block('d/tags-changed'), 'tag "team" changed: source "storage", destination "compute"');
      t.match(block('d/tags-changed'), 'tag "extra" only at the destination ("1")');
      t.notMatch(block('d/tags-changed'), 'tier', 'an equal tag is not reported');
      t.match(block('d/tags-only-dest'), 'tag "x" only at the destination ("1")');
      t.match(
        block('d/expires'),
        'Expires: source "Mon, 03 Feb 2031 04:05:06 GMT", destination "Mon, 01 Jan 2029 00:00:00 GMT"',
      );
      t.notMatch(out.stdout, /"d\/same"|"d\/plain"/, 'keys alike in every field are not listed');
    });

    void t.test('--deep --json: the differences as data; tags fetched only where a side has some', async (t) => {
      const out = await verify(['verify', '--deep', '--json']);
      t.equal(out.code, 1, out.stderr);
      const report = JSON.parse(out.stdout) as VerifyReport;
      t.match(report, {
        deep: true,
        checked: 10,
        identical: 2,
        missing: 1,
        mismatched: 1,
        attributes: 6,
        unreadable: 0,
      });
      t.same(report.requests, { source: { head: 8, tagging: 6 }, destination: { head: 8, tagging: 6 } });
      t.same(report.warnings, []);
      const d = (field: string, source: string | null, dest: string | null): ReportedDifference => ({
        field,
        source,
        dest,
      });
      t.same(byKey(report.keys.attributes), [
        {
          key: 'd/expires',
          differences: [d('Expires', 'Mon, 03 Feb 2031 04:05:06 GMT', 'Mon, 01 Jan 2029 00:00:00 GMT')],
        },
        {
          key: 'd/meta',
          differences: [
            d('x-amz-meta-colour', 'green', 'blue'),
            d('x-amz-meta-mtime', null, '1700000000.5'),
            d('x-amz-meta-owner', owner, null),
          ],
        },
        {
          key: 'd/no-encoding',
          differences: [d('Cache-Control', 'max-age=3600', null), d('Content-Encoding', 'gzip', null)],
        },
        { key: 'd/tags-changed', differences: [d('tag:extra', null, '1'), d('tag:team', 'storage', 'compute')] },
        { key: 'd/tags-lost', differences: [d('tag:team', 'storage', null), d('tag:tier', 'gold', null)] },
        { key: 'd/tags-only-dest', differences: [d('tag:x', null, '1')] },
      ]);
      t.same(report.keys.missing, ['d/missing']);
      t.same(
        report.keys.mismatched.map((m) => m.key),
        ['d/other-bytes'],
      );
    });

    void t.test("--deep with rclone's own metadata kept (--rclone-keep-own-metadata): not reported", async (t) => {
      const out = await verify(['verify', '--deep', '--json', '--rclone-keep-own-metadata']);
      const report = JSON.parse(out.stdout) as VerifyReport;
      const meta = report.keys.attributes.find((a) => a.key === 'd/meta');
      t.same(
        meta?.differences.map((d) => d.field),
        ['x-amz-meta-colour', 'x-amz-meta-owner'],
        'mtime left out, the rest still reported',
      );
    });

    void t.test('--deep --enqueue sends the keys whose attributes differ with the others', async (t) => {
      const out = await verify(['verify', '--deep', '--enqueue', '--json']);
      t.equal(out.code, 0, `all differences sent: ${out.stderr}`);
      const report = JSON.parse(out.stdout) as VerifyReport;
      t.equal(report.enqueued, 8);
      t.same(
        sentKeys(parseAll(await drainQueue(sqs, r.queueUrl))),
        [...ATTRIBUTE_KEYS, 'd/missing', 'd/other-bytes'].sort(),
      );
    });
  });
}

void t.test('a source without tagging: one warning, tags not compared, the rest is', async (t) => {
  const notImplemented =
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NotImplemented</Code>' +
    '<Message>A header you provided implies functionality that is not implemented</Message></Error>';
  const proxy = await startLatencyProxy({
    target: stack.endpoint,
    delayMs: 0,
    answer: (req) =>
      req.method === 'GET' && /[?&]tagging(=|&|$)/.test(req.url ?? '')
        ? { status: 501, body: notImplemented }
        : undefined,
  });
  t.teardown(() => proxy.stop());
  const side = await filledSide(t, 'moto');
  const out = await verifier(side, proxy.endpoint)(['verify', '--deep', '--json']);
  t.equal(out.code, 1, out.stderr);
  // The log (JSON lines, on stdout like every command's) comes before the report, the last line.
  const lines = out.stdout.trim().split('\n');
  const report = JSON.parse(lines.at(-1) as string) as VerifyReport;
  t.same(report.warnings, ['the source does not implement object tagging: tags were not compared']);
  t.equal(lines.filter((l) => l.includes('does not implement GetObjectTagging')).length, 1, 'warned once');
  // Where the source's HEAD says it has tags they cannot be read, so those keys' tags are not
  // compared; a source answer without x-amz-tagging-count still says it has none (d/tags-only-dest).
  t.match(report, { attributes: 4, unreadable: 0, identical: 4 });
  t.same(
    report.keys.attributes.map((a) => a.key).sort(),
    ['d/expires', 'd/meta', 'd/no-encoding', 'd/tags-only-dest'],
    'metadata differences still found; tag differences only where the source has no tags',
  );
  const tagged = report.keys.attributes.filter((a) => a.key !== 'd/tags-only-dest');
  t.ok(
    tagged.every((a) => a.differences.every((d) => !d.field.startsWith('tag:'))),
    'unread tags not compared',
  );
});

void t.test('rendering: tags as missing, extra or changed; the rest as both values', async (t) => {
  t.equal(
    describeField({ field: 'Content-Encoding', source: 'gzip', dest: null }),
    'Content-Encoding: source "gzip", destination (absent)',
  );
  t.equal(describeField({ field: 'tag:a', source: '1', dest: '2' }), 'tag "a" changed: source "1", destination "2"');
  const base: VerifyReport = {
    job: 'j',
    deep: true,
    checked: 3000,
    identical: 0,
    missing: 0,
    mismatched: 0,
    attributes: 1001,
    unreadable: 1,
    enqueued: 0,
    seconds: 1,
    warnings: [],
    keys: {
      missing: [],
      mismatched: [],
      attributes: [{ key: 'a', differences: [{ field: 'x-amz-meta-k', source: 'v', dest: null }] }],
      unreadable: [{ key: 'b', side: 'destination', error: 's3://d/b: Access Denied (HTTP 403)' }],
    },
  };
  const text = renderVerify(base);
  t.match(text, /1001 with other metadata or tags, 1 could not be compared/);
  t.match(text, /unreadable {2}"b" {2}destination: s3:\/\/d\/b: Access Denied \(HTTP 403\)/);
  t.match(text, /\.\.\. and 1000 more \(counts above are complete\)/);
});
