// Incremental mode and the operator commands against moto: verify (and --enqueue), status, redrive.
// Incremental mode and verify run from each source store (moto, Ceph RGW); the destination is moto.
import { spawn } from 'node:child_process';
import t from 'tap';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { createResources, localClients, startLocalStack, type Resources } from '../../scripts/local-stack.ts';
import { runListing } from '../../lister/run.ts';
import { QueueSender } from '../../lister/sqs-send.ts';
import { MemoryManifestStore } from '../../lister/manifest.ts';
import { redrive } from '../../lister/redrive.ts';
import type { StatusReport } from '../../lister/status.ts';
import type { VerifyReport } from '../../lister/verify.ts';
import {
  encodeDeadLetter,
  encodeMessage,
  MESSAGE_VERSION,
  SQS_MAX_MESSAGE_BYTES,
  type BatchMessage,
} from '../../shared/message.ts';
import { drainQueue, parseAll, putObjects, sentKeys, silentLog } from './helpers.ts';
import { SOURCE_STORES, sourceSide, type SourceSide } from '../helpers/source-store.ts';
import type { Test } from 'tap';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3, sqs } = localClients(stack);
let made = 0;
const resources = (): Promise<Resources> => createResources(stack, { name: `ops${made}`, secrets: made++ === 0 });

/** 50 source keys; at the destination (under copy/): 30 identical, 5 same size other bytes, 5 other size, 10 absent. */
async function halfCopied(t: Test, store: SourceSide['store']): Promise<{ differing: string[]; side: SourceSide }> {
  const side = await sourceSide(t, store, stack, await resources());
  const r = side.res;
  const keys = Array.from({ length: 50 }, (_, i) => `k/${String(i).padStart(2, '0')}`);
  await putObjects(
    side.s3,
    r.sourceBucket,
    keys.map((key) => ({ key, body: `body-${key}` })),
  );
  const dest = [
    ...keys.slice(0, 30).map((key) => ({ key: `copy/${key}`, body: `body-${key}` })),
    ...keys.slice(30, 35).map((key) => ({ key: `copy/${key}`, body: `BODY-${key}` })),
    ...keys.slice(35, 40).map((key) => ({ key: `copy/${key}`, body: 'short' })),
    { key: 'copy/zz-only-at-destination', body: 'x' },
    { key: 'elsewhere', body: 'x' },
  ];
  await putObjects(s3, r.destBucket, dest);
  return { differing: keys.slice(30), side };
}

function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['bin/rclone-migrate.ts', ...args, '--log-level', 'warn'], {
    env: { ...process.env, ...stack.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

const sourceEnv = {
  RCLONE_MIGRATE_SOURCE_ENDPOINT: stack.endpoint,
  RCLONE_MIGRATE_SOURCE_ACCESS_KEY_ID: 'test',
  RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY: 'test-secret-key',
};

for (const store of SOURCE_STORES)
  void t.test(`${store} source: incremental mode sends only missing and different keys`, async (t) => {
    const { differing, side } = await halfCopied(t, store);
    const r = side.res;
    const summary = await runListing(
      {
        source: side.s3,
        dest: s3,
        sender: new QueueSender(sqs, r.queueUrl),
        store: new MemoryManifestStore(),
        log: silentLog,
      },
      {
        job: 'inc',
        sourceBucket: r.sourceBucket,
        prefix: 'k/',
        destBucket: r.destBucket,
        destPrefix: 'copy/',
        queueUrl: r.queueUrl,
        limits: { count: 20, bytes: 1024 ** 3, messageBytes: SQS_MAX_MESSAGE_BYTES },
        concurrency: 3,
        pageSize: 7,
        incremental: true,
      },
    );
    t.equal(summary.keys, 20);
    t.equal(summary.skipped, 30);
    t.same(sentKeys(parseAll(await drainQueue(sqs, r.queueUrl))), differing);
  });

for (const store of SOURCE_STORES)
  void t.test(`${store} source: verify reports missing and different keys; --enqueue sends them`, async (t) => {
    const { differing, side } = await halfCopied(t, store);
    const r = side.res;
    const env = {
      ...(store === 'moto'
        ? sourceEnv
        : {
            ...side.env,
            RCLONE_MIGRATE_SOURCE_ENDPOINT: side.ceph?.endpoint ?? '',
            RCLONE_MIGRATE_SOURCE_PROVIDER: 'Ceph',
          }),
      SOURCE_BUCKET: r.sourceBucket,
      DEST_BUCKET: r.destBucket,
      PREFIX: 'k/',
      RCLONE_MIGRATE_DEST_PREFIX: 'copy/',
      QUEUE_URL: r.queueUrl,
    };
    const text = await cli(['verify', '--page-size', '9'], env);
    t.equal(text.code, 1, 'differences: exit code 1');
    t.match(text.stdout, /checked 50 keys: 30 identical, 10 missing, 10 different/);
    t.match(text.stdout, /different {3}"k\/30" {2}source 9 bytes, etag [0-9a-f]{32}, destination 9 bytes/);
    const json = await cli(['verify', '--json', '--enqueue'], env);
    t.equal(json.code, 0, 'all differences sent: exit code 0');
    const report = JSON.parse(json.stdout) as VerifyReport;
    t.match(report, { checked: 50, identical: 30, missing: 10, mismatched: 10, enqueued: 20 });
    t.same(sentKeys(parseAll(await drainQueue(sqs, r.queueUrl))), differing);
  });

void t.test('status: listed totals, queue and dead-letter counts, progress', async (t) => {
  const r = await resources();
  await putObjects(
    s3,
    r.sourceBucket,
    Array.from({ length: 100 }, (_, i) => ({ key: `s/${i}`, body: 'xxxx' })),
  );
  const state = t.testdir();
  const env = {
    ...sourceEnv,
    SOURCE_BUCKET: r.sourceBucket,
    DEST_BUCKET: r.destBucket,
    QUEUE_URL: r.queueUrl,
    RCLONE_MIGRATE_LISTER_STATE: state,
  };
  const listed = await cli(['list', '--job-id', 'status-job'], env);
  t.equal(listed.code, 0, listed.stderr);
  // Two of the five messages done (deleted), one dead-lettered.
  const bodies = await drainQueue(sqs, r.queueUrl);
  t.equal(bodies.length, 5);
  for (const body of bodies.slice(2, 4))
    await sqs.send(new SendMessageCommand({ QueueUrl: r.queueUrl, MessageBody: body }));
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: r.deadLetterUrl,
      MessageBody: encodeDeadLetter({ deadLetter: 1, reason: 'attempts exhausted', original: bodies[4] as string }),
    }),
  );
  // No job id: the most recent job in the state directory.
  const json = await cli(['status', '--json'], { RCLONE_MIGRATE_LISTER_STATE: state, QUEUE_URL: r.queueUrl });
  t.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as StatusReport;
  t.match(report, {
    job: 'status-job',
    listing: { state: 'finished', keys: 100, bytes: 400, messages: 5 },
    queue: { visible: 2, inFlight: 0 },
    deadLetter: { visible: 1 },
    done: { messages: 2, keys: 40, bytes: 160 },
  });
  t.ok(report.rate.keysPerSecond > 0);
  t.type(report.etaSeconds, 'number');
  const text = await cli(['status', '--job-id', 'status-job'], {
    RCLONE_MIGRATE_LISTER_STATE: state,
    QUEUE_URL: r.queueUrl,
  });
  t.match(text.stdout, /\[#+-+\] 40\.0% {2}≈40\/100 keys/);
  t.match(text.stdout, /queue: 2 waiting, 0 in flight {2}dead-letter: 1/);
  const missing = await cli(['status', '--job-id', 'nope'], {
    RCLONE_MIGRATE_LISTER_STATE: state,
    QUEUE_URL: r.queueUrl,
  });
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no manifest of job "nope"/);
});

function message(r: Resources, keys: string[], attempt: number, job = 'job-a'): BatchMessage {
  return {
    v: MESSAGE_VERSION,
    job,
    source: { bucket: r.sourceBucket },
    dest: { bucket: r.destBucket },
    attempt,
    objects: keys.map((key) => ({ key, size: 1 })),
  };
}

async function deadLetters(sqsClient: SQSClient, r: Resources): Promise<void> {
  const send = (body: string) =>
    sqsClient.send(new SendMessageCommand({ QueueUrl: r.deadLetterUrl, MessageBody: body }));
  await send(
    encodeDeadLetter({
      deadLetter: 1,
      reason: 'attempts exhausted',
      failures: [{ key: 'slow/1', error: 'timeout after 60 s' }],
      original: encodeMessage({ ...message(r, ['slow/1'], 3), lastErrors: { 'slow/1': 'timeout after 60 s' } }),
    }),
  );
  await send(
    encodeDeadLetter({
      deadLetter: 1,
      reason: 'attempts exhausted',
      failures: [{ key: 'gone/2', error: 'not_found' }],
      original: encodeMessage(message(r, ['gone/2'], 3)),
    }),
  );
  // Moved by SQS's own redrive policy after maxReceiveCount: the raw work message.
  await send(encodeMessage(message(r, ['raw/1', 'raw/2'], 2, 'job-b')));
  await send(encodeDeadLetter({ deadLetter: 1, reason: 'malformed: not JSON', original: 'garbage' }));
}

void t.test('redrive: filtered, then the rest; attempts reset; unreadable letters stay', async (t) => {
  const r = await resources();
  await deadLetters(sqs, r);
  const env = { QUEUE_URL: r.queueUrl };
  const filtered = await cli(['redrive', '--filter', 'timeout'], env);
  t.equal(filtered.code, 0, filtered.stderr);
  t.match(filtered.stdout, /moved 1 messages \(1 keys\); kept 2; unreadable 1/);
  let moved = parseAll(await drainQueue(sqs, r.queueUrl));
  t.same(sentKeys(moved), ['slow/1']);
  t.equal(moved[0]?.attempt, 1, 'attempt reset');

  const rest = await cli(['redrive', '--json'], env);
  const lines = rest.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { action?: string; summary?: { moved: number } });
  t.equal(lines.at(-1)?.summary?.moved, 2);
  t.equal(lines.filter((l) => l.action === 'unreadable').length, 1);
  moved = parseAll(await drainQueue(sqs, r.queueUrl));
  t.same(sentKeys(moved), ['gone/2', 'raw/1', 'raw/2']);
  t.ok(moved.every((m) => m.attempt === 1));
  t.same(
    await drainQueue(sqs, r.deadLetterUrl),
    [encodeDeadLetter({ deadLetter: 1, reason: 'malformed: not JSON', original: 'garbage' })],
    'only the unreadable letter is left',
  );
});

void t.test('redrive interrupted between send and delete loses nothing', async (t) => {
  const r = await resources();
  await deadLetters(sqs, r);
  // DeleteMessageBatch fails as if the process died right after sending (moto cannot be made to).
  const failingDelete = {
    send: (command: { constructor: { name: string } }) => {
      if (command.constructor.name === 'DeleteMessageBatchCommand') return Promise.reject(new Error('interrupted'));
      return sqs.send(command as never);
    },
  } as unknown as SQSClient;
  const err = await redrive(failingDelete, {
    queueUrl: r.queueUrl,
    deadLetterUrl: r.deadLetterUrl,
    filter: { text: '', job: '' },
    maxMessages: 0,
    holdSeconds: 1,
  }).catch((e: unknown) => e);
  t.match(err, { message: 'interrupted' });
  const sent = sentKeys(parseAll(await drainQueue(sqs, r.queueUrl)));
  t.ok(sent.length > 0, 'sent to the work queue first');
  // Whatever was sent is still on the dead-letter queue (its hold expires): a duplicate, not a loss.
  const deadline = Date.now() + 20_000;
  let left: string[] = [];
  while (Date.now() < deadline && left.length < 4) left = left.concat(await drainQueue(sqs, r.deadLetterUrl, 5));
  t.equal(left.length, 4, 'every letter is still on the dead-letter queue');
});
