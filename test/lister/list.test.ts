// `rclone-migrate list` against moto: every key exactly once across parallel ranges whatever the
// bucket's shape, odd and unicode keys, an empty bucket, a prefix, batching by bytes, and the CLI
// with the reference's Fargate environment names.
import { spawn } from 'node:child_process';
import t from 'tap';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  createResources,
  localClients,
  startLocalStack,
  LOCAL_REGION,
  type Resources,
} from '../../scripts/local-stack.ts';
import { runListing, type ListJobSettings } from '../../lister/run.ts';
import { QueueSender } from '../../lister/sqs-send.ts';
import { MemoryManifestStore } from '../../lister/manifest.ts';
import { SQS_MAX_MESSAGE_BYTES } from '../../shared/message.ts';
import { loadConfig } from '../../shared/config.ts';
import { resolveSourceCredentials } from '../../shared/source-credentials.ts';
import { ConfigError } from '../../shared/errors.ts';
import { drainQueue, parseAll, putObjects, sentKeys, silentLog } from './helpers.ts';
import { SOURCE_STORES, sourceSide, type SourceStoreName } from '../helpers/source-store.ts';
import type { S3Client } from '@aws-sdk/client-s3';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);
let made = 0;

/** Resources whose source bucket (on `store`) holds `keys`; `source` is the client to list it with. */
async function bucketWith(
  keys: ReadonlyArray<{ key: string; body?: string }>,
  store: SourceStoreName = 'moto',
): Promise<Resources & { source: S3Client }> {
  const created = await createResources(stack, { name: `list${made}`, secrets: made++ === 0 });
  const side = await sourceSide(t, store, stack, created);
  await putObjects(side.s3, side.res.sourceBucket, keys);
  return { ...side.res, source: side.s3 };
}

function settings(r: Resources, overrides: Partial<ListJobSettings> = {}): ListJobSettings {
  return {
    job: `job-${r.sourceBucket}`,
    sourceBucket: r.sourceBucket,
    prefix: '',
    destBucket: r.destBucket,
    destPrefix: '',
    queueUrl: r.queueUrl,
    limits: { count: 20, bytes: 1024 ** 3, messageBytes: SQS_MAX_MESSAGE_BYTES },
    concurrency: 4,
    pageSize: 10,
    incremental: false,
    ...overrides,
  };
}

async function list(r: Resources & { source?: S3Client }, overrides: Partial<ListJobSettings> = {}) {
  const store = new MemoryManifestStore();
  const s = settings(r, overrides);
  const summary = await runListing(
    { source: r.source ?? s3, sender: new QueueSender(sqs, r.queueUrl), store, log: silentLog },
    s,
  );
  const messages = parseAll(await drainQueue(sqs, r.queueUrl));
  return { summary, messages, manifest: await store.read(s.job) };
}

const ODD = [
  'a//b',
  '/leading',
  'trailing/',
  'x/./y',
  'x/../y',
  '.',
  '..',
  'sp ace',
  'plus+&amp;=?#%',
  'ctl\u0001\u001f',
];
const UNICODE = ['ünï/çødé', '日本/語', '😀/emoji', '\uFFFF\uFFFEnonchar', '\u{10000}', '\uE000private', 'z'];

const shapes: Record<string, string[]> = {
  // No '/' at all: splitting must work on names alone.
  flat: Array.from({ length: 240 }, (_, i) => `object-${String(i * 7919).padStart(8, '0')}`),
  // A deep tree whose keys share long prefixes.
  deep: Array.from(
    { length: 240 },
    (_, i) => `data/tenant-${i % 3}/2024/${String(i % 12).padStart(2, '0')}/${String(i % 5)}/part-${i}.parquet`,
  ),
  odd: [...ODD, ...UNICODE, ...Array.from({ length: 60 }, (_, i) => `${UNICODE[i % UNICODE.length]}/${i}`)],
};

for (const store of SOURCE_STORES)
  for (const [shape, keys] of Object.entries(shapes)) {
    void t.test(`${store} source, ${shape} bucket: every key exactly once across ranges`, async (t) => {
      const r = await bucketWith(
        keys.map((key) => ({ key, body: 'abc' })),
        store,
      );
      const { summary, messages, manifest } = await list(r);
      t.same(sentKeys(messages), [...keys].sort(), 'each key sent once, none missing');
      t.equal(summary.keys, keys.length);
      t.equal(summary.bytes, keys.length * 3);
      t.equal(summary.messages, messages.length);
      t.ok(messages.every((m) => m.objects.length <= 20 && m.attempt === 1 && m.job === `job-${r.sourceBucket}`));
      t.ok(
        messages.every((m) => m.objects.every((o) => o.size === 3 && o.etag === '900150983cd24fb0d6963f7d28e17f72')),
        'sizes and ETags travel with the keys',
      );
      if (shape !== 'odd') t.ok(summary.ranges > 1, `split into ${summary.ranges} ranges`);
      t.ok(manifest?.finishedAt, 'manifest marks the job finished');
      t.equal(
        manifest?.ranges.reduce((n, range) => n + range.keys, 0),
        keys.length,
        'per-range totals add up',
      );
    });
  }

void t.test('an empty bucket finishes with nothing sent', async (t) => {
  const r = await bucketWith([]);
  const { summary, messages } = await list(r);
  t.equal(summary.keys, 0);
  t.equal(messages.length, 0);
});

void t.test('a prefix: only keys under it, the prefix object itself included', async (t) => {
  const keys = [
    'logs/',
    'logs/a',
    'logs/b/c',
    'logsX',
    'log',
    'other/logs/a',
    ...Array.from({ length: 30 }, (_, i) => `logs/n${i}`),
  ];
  const r = await bucketWith(keys.map((key) => ({ key })));
  const { messages } = await list(r, { prefix: 'logs/', destPrefix: 'copy/' });
  t.same(sentKeys(messages), keys.filter((k) => k.startsWith('logs/')).sort());
  t.ok(
    messages.every((m) => m.dest.prefix === 'copy/'),
    'the destination prefix travels in the message',
  );
});

void t.test('batching by bytes: a large object travels alone', async (t) => {
  const keys = [
    { key: 'a', body: 'x'.repeat(40) },
    { key: 'b', body: 'x'.repeat(40) },
    { key: 'big', body: 'x'.repeat(500) },
    { key: 'c', body: 'x'.repeat(40) },
  ];
  const r = await bucketWith(keys);
  const { messages } = await list(r, { limits: { count: 20, bytes: 100, messageBytes: SQS_MAX_MESSAGE_BYTES } });
  const groups = messages.map((m) => m.objects.map((o) => o.key).join(',')).sort();
  t.same(groups, ['a,b', 'big', 'c']);
});

void t.test('CLI: Fargate environment names, credentials from Secrets Manager, JSON summary', async (t) => {
  const keys = Array.from({ length: 45 }, (_, i) => `cli/${i}`);
  const r = await bucketWith(keys.map((key) => ({ key })));
  const child = spawn(process.execPath, ['bin/rclone-migrate.ts', 'list', '--log-level', 'warn'], {
    env: {
      ...process.env,
      ...stack.env,
      SOURCE_BUCKET: r.sourceBucket,
      DEST_BUCKET: r.destBucket,
      QUEUE_URL: r.queueUrl,
      PREFIX: 'cli/',
      RCLONE_MIGRATE_LISTER_STATE: t.testdir(),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise((resolve) => child.on('exit', resolve));
  t.equal(code, 0, stderr);
  const summary = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as {
    keys: number;
    messages: number;
    job: string;
  };
  t.equal(summary.keys, 45);
  t.equal(summary.messages, 3);
  t.ok(summary.job.startsWith(`${r.sourceBucket}/cli/-to-${r.destBucket}-`), summary.job);
  t.same(sentKeys(parseAll(await drainQueue(sqs, r.queueUrl))), [...keys].sort());
});

void t.test('source credentials: config first, then the named secrets; a missing secret is named', async (t) => {
  const secrets = new SecretsManagerClient({
    region: LOCAL_REGION,
    endpoint: stack.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test-secret-key' },
  });
  t.teardown(() => secrets.destroy());
  const fromSecrets = await resolveSourceCredentials(loadConfig({ argv: [], env: {} }), secrets);
  t.same(fromSecrets, { endpoint: stack.endpoint, accessKeyId: 'test', secretAccessKey: 'test-secret-key' });
  const given = loadConfig({
    argv: ['--source-endpoint', 'http://127.0.0.1:1', '--source-access-key-id', 'AK'],
    env: {},
  });
  t.same(await resolveSourceCredentials(given, secrets), {
    endpoint: 'http://127.0.0.1:1',
    accessKeyId: 'AK',
    secretAccessKey: 'test-secret-key',
  });
  const missing = loadConfig({ argv: ['--secret-secret-key', '/nope/secret'], env: {} });
  const err = await resolveSourceCredentials(missing, secrets).catch((e: unknown) => e);
  t.type(err, ConfigError);
  t.match((err as Error).message, /"\/nope\/secret" \(source\.secretSecretKeyName\)/);
  t.notMatch((err as Error).message, /test-secret-key/, 'no secret value in the message');

  // Secrets Manager unreachable (nothing listens on port 1): not a configuration error, so the
  // daemon's exit is one systemd restarts.
  const down = new SecretsManagerClient({
    region: LOCAL_REGION,
    endpoint: 'http://127.0.0.1:1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test-secret-key' },
    maxAttempts: 1,
  });
  t.teardown(() => down.destroy());
  const outage = await resolveSourceCredentials(loadConfig({ argv: [], env: {} }), down).catch((e: unknown) => e);
  t.type(outage, Error);
  t.notOk(outage instanceof ConfigError, 'an outage is not a configuration error');
  t.match((outage as Error).message, /cannot read secret ".+" .*temporary: exiting to be restarted/);
});
