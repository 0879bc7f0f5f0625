// What the pinned rclone (1.75.2) still needs from us, and what it no longer does, each shown against
// real moto with real rclone children. Written when the pin moved from Debian 12's 1.60.1:
// - the key encoding (KEY_ENCODING) is still needed: with rclone's default `q‛` is lost;
// - per-call `_config` (NoCheckDest) and the source's `no_head_object` still work, so a first
//   delivery costs one source GET and one destination PUT per object, nothing more;
// - moto's multipart completion quirk (VersionId "null", then its own HEAD fails) no longer breaks a
//   copy, so tests need no `no_head` for it (the product keeps no_head: it verifies every copy itself);
// - provider AWS now honours force_path_style with an explicit endpoint, but fails every upload to a
//   plain-http one, so an explicit endpoint still gets provider Other.
import t from 'tap';
import { RclonePool } from '../../daemon/rclone-pool.ts';
import { destSettings } from '../../daemon/rclone-env.ts';
import { createResources, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { startLatencyProxy } from '../../scripts/latency-proxy.ts';
import { content, get, memoryLogger, poolOptions, put, sha256 } from './fixture.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3 } = localClients(stack);
const res = await createResources(stack, { name: 'workarounds', secrets: false });

/** rclone's own default S3 encoding, which maps some legal keys onto other names. */
const RCLONE_DEFAULT_ENCODING = 'Slash,InvalidUtf8,Dot';

void t.test('the key encoding: still needed with 1.75', async (t) => {
  const key = 'q‛';
  await put(s3, res.sourceBucket, key, content(12, 'lone quote'));
  const copyWith = async (options: Record<string, string>, dstKey: string) => {
    const base = poolOptions(stack, memoryLogger('silent').log, { children: 1 });
    const pool = new RclonePool({
      ...base,
      source: { ...base.source, options },
      dest: { ...base.dest, options: { ...base.dest.options, ...options } },
    });
    await pool.start();
    try {
      return await pool
        .copy({ srcBucket: res.sourceBucket, srcKey: key, dstBucket: res.destBucket, dstKey })
        .then(() => undefined)
        .catch((err: unknown) => err);
    } finally {
      await pool.stop();
    }
  };
  t.equal(await copyWith({}, 'ours/q‛'), undefined, 'our encoding copies it');
  t.equal(sha256(await get(s3, res.destBucket, 'ours/q‛')), sha256(content(12, 'lone quote')));
  const lost = await copyWith({ encoding: RCLONE_DEFAULT_ENCODING }, 'default/q‛');
  const landed = await get(s3, res.destBucket, 'default/q‛').then(
    () => true,
    () => false,
  );
  t.ok(lost !== undefined || !landed, "rclone's default encoding does not copy it to the same key");
});

void t.test(
  'first delivery: one source GET and one destination PUT, no HEADs (_config and no_head_object work)',
  async (t) => {
    const proxy = await startLatencyProxy({ target: stack.endpoint, delayMs: 0, record: true });
    t.teardown(() => proxy.stop());
    const base = poolOptions(stack, memoryLogger('silent').log, { children: 1 });
    const pool = new RclonePool({
      ...base,
      source: { ...base.source, endpoint: proxy.endpoint },
      dest: { ...base.dest, endpoint: proxy.endpoint },
    });
    await pool.start();
    t.teardown(() => pool.stop());
    await put(s3, res.sourceBucket, 'first/a', content(300, 'first'));
    await put(s3, res.sourceBucket, 'first/b', content(300, 'second'));
    const counts = () => {
      const lines = proxy.requestLines();
      return {
        head: lines.filter((l) => l.startsWith('HEAD')).length,
        get: lines.filter((l) => l.startsWith('GET')).length,
        put: lines.filter((l) => l.startsWith('PUT')).length,
        all: lines.length,
      };
    };
    await pool.copy({
      srcBucket: res.sourceBucket,
      srcKey: 'first/a',
      dstBucket: res.destBucket,
      dstKey: 'first/a',
      presumeAbsent: true,
    });
    t.same(counts(), { head: 0, get: 1, put: 1, all: 2 }, 'presumed absent: GET and PUT only');
    await pool.copy({ srcBucket: res.sourceBucket, srcKey: 'first/b', dstBucket: res.destBucket, dstKey: 'first/b' });
    const redelivered = counts();
    t.ok(redelivered.head >= 2, `a redelivery checks both sides first (${redelivered.head} HEADs)`);
    t.equal(sha256(await get(s3, res.destBucket, 'first/a')), sha256(content(300, 'first')));
  },
);

void t.test('multipart copies to moto need no no_head any more', async (t) => {
  const base = poolOptions(stack, memoryLogger('silent').log, { children: 1 });
  // rclone's smallest part size, so a 12 MiB object goes up in three parts
  const multipart = { upload_cutoff: '5M', chunk_size: '5M' };
  const pool = new RclonePool({
    ...base,
    dest: { ...base.dest, options: { ...multipart, no_head: 'false' } },
  });
  await pool.start();
  t.teardown(() => pool.stop());
  const body = content(12 * 1024 * 1024, 'multipart');
  await put(s3, res.sourceBucket, 'mp/12MiB', body);
  await pool.copy({ srcBucket: res.sourceBucket, srcKey: 'mp/12MiB', dstBucket: res.destBucket, dstKey: 'mp/12MiB' });
  t.equal(sha256(await get(s3, res.destBucket, 'mp/12MiB')), sha256(body), 'landed, and rclone reported success');
});

void t.test('an explicit endpoint still gets provider Other: provider AWS cannot upload over plain http', async (t) => {
  t.match(destSettings({ endpoint: stack.endpoint, region: 'us-east-1', options: {} }, {}), {
    provider: 'Other',
    endpoint: stack.endpoint,
    force_path_style: 'true',
    no_head: 'true',
  });
  t.match(destSettings({ endpoint: '', region: 'eu-west-1', options: {} }, {}), {
    provider: 'AWS',
    region: 'eu-west-1',
  });
  await put(s3, res.sourceBucket, 'aws/x', content(40, 'aws'));
  const copyAs = async (provider: string | undefined, dstKey: string) => {
    const base = poolOptions(stack, memoryLogger('silent').log, { children: 1 });
    const options = provider ? { ...base.dest.options, provider } : base.dest.options;
    const pool = new RclonePool({ ...base, dest: { ...base.dest, options } });
    await pool.start();
    try {
      return await pool
        .copy({ srcBucket: res.sourceBucket, srcKey: 'aws/x', dstBucket: res.destBucket, dstKey })
        .then(() => 'copied')
        .catch((err: unknown) => (err as Error).message);
    } finally {
      await pool.stop();
    }
  };
  t.equal(await copyAs(undefined, 'aws/other'), 'copied', 'provider Other copies');
  t.equal(sha256(await get(s3, res.destBucket, 'aws/other')), sha256(content(40, 'aws')));
  const aws = await copyAs('AWS', 'aws/aws');
  t.match(aws, /without TLS/, 'provider AWS addresses the bucket path-style but cannot upload over http');
});
