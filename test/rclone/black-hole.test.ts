// Stores that stop answering, on every path, against real sockets: a black hole (connections
// accepted, nothing ever answered) and a port nobody listens on. rclone's and the SDK's connect and
// idle timeouts must cut the request and the failure must read as `unreachable` (an outage the
// worker pauses for), not as a failed copy or a failed verification.
import t, { type Test } from 'tap';
import { CopyError } from '../../shared/errors.ts';
import { destS3Client } from '../../shared/aws.ts';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { createResources, freePort, localClients, startLocalStack } from '../../scripts/local-stack.ts';
import { startBlackHole } from '../../scripts/black-hole.ts';
import { RclonePool } from '../../daemon/rclone-pool.ts';
import { classifySdkError } from '../../daemon/sdk-errors.ts';
import { BatchVerifier } from '../../daemon/verify-batch.ts';
import { createMetrics } from '../../daemon/metrics.ts';
import { MESSAGE_VERSION, type BatchMessage } from '../../shared/message.ts';
import { content, memoryLogger, poolOptions, put } from './fixture.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
// The SDK clients below use the default credential chain, as the worker's destination client does.
Object.assign(process.env, stack.env);
const { s3 } = localClients(stack);
const res = await createResources(stack, { name: 'hole', secrets: false });
await put(s3, res.sourceBucket, 'k', content(1000, 'k'));
const hole = await startBlackHole();
t.teardown(() => hole.stop());
/** Short limits so the test is quick; production defaults are 5 s and 10 s (shared/config.ts). */
const timeouts = { connectMs: 2000, idleMs: 2000 };

async function failedCopy(t: Test, where: 'source' | 'dest') {
  const base = poolOptions(stack, memoryLogger('error').log, { children: 1, timeouts });
  const pool = new RclonePool({
    ...base,
    ...(where === 'source'
      ? { source: { ...base.source, endpoint: hole.endpoint } }
      : { dest: { ...base.dest, endpoint: hole.endpoint } }),
  });
  await pool.start();
  t.teardown(() => pool.stop());
  const started = Date.now();
  const err = await pool
    .copy({ srcBucket: res.sourceBucket, srcKey: 'k', dstBucket: res.destBucket, dstKey: 'k', presumeAbsent: true })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  return { err, seconds: (Date.now() - started) / 1000 };
}

void t.test('rclone: a silent destination cuts the copy, classified unreachable, named', async (t) => {
  const { err, seconds } = await failedCopy(t, 'dest');
  t.type(err, CopyError);
  // rclone names the idle timeout by what it was waiting for: the answer's headers, or a read while the body went up
  t.match(err, {
    kind: 'unreachable',
    store: 'destination',
    message: /timeout awaiting response headers|i\/o timeout/,
  });
  t.match(err, { message: new RegExp(`^no answer from destination ${hole.endpoint}`) }, (err as Error).message);
  t.comment(`silent destination: copy cut after ${seconds.toFixed(1)} s with a 2 s idle timeout`);
});

void t.test('rclone: a silent source cuts the copy, classified unreachable, named', async (t) => {
  const { err, seconds } = await failedCopy(t, 'source');
  t.match(err, { kind: 'unreachable', store: 'source' });
  // rclone retries a GET at three levels (its copy loop, its pacer and the SDK: 2 × 2 × 2 with
  // --low-level-retries=2), so this takes about eight idle timeouts.
  t.comment(`silent source: copy cut after ${seconds.toFixed(1)} s with a 2 s idle timeout`);
});

void t.test('SDK: a silent store is cut by the idle timeout and reads as unreachable', async (t) => {
  const client = destS3Client({ region: 'us-east-1', endpoint: hole.endpoint, timeouts });
  t.teardown(() => client.destroy());
  const started = Date.now();
  const err = await client.send(new HeadObjectCommand({ Bucket: 'b', Key: 'k' })).catch((e: unknown) => e);
  t.equal(classifySdkError(err, 'verify'), 'unreachable', String(err));
  t.comment(`SDK HEAD of a silent store failed after ${((Date.now() - started) / 1000).toFixed(1)} s (3 attempts)`);
});

void t.test('verification that gets no answer is unreachable, not verify', async (t) => {
  const closed = await freePort();
  const dest = destS3Client({ region: 'us-east-1', endpoint: `http://127.0.0.1:${closed}`, timeouts });
  t.teardown(() => dest.destroy());
  const metrics = createMetrics();
  for (const by of ['list', 'head'] as const) {
    const verifier = new BatchVerifier({
      dest,
      source: () => s3,
      by,
      compareEtag: true,
      metrics,
      log: memoryLogger('error').log,
      endpoint: `http://127.0.0.1:${closed}`,
    });
    const object = { key: 'k', size: 1000 };
    const message: BatchMessage = {
      v: MESSAGE_VERSION,
      job: 'j',
      source: { bucket: res.sourceBucket },
      dest: { bucket: res.destBucket },
      attempt: 1,
      objects: [object],
    };
    const [verdict] = await verifier.verify(
      message,
      [{ object, target: 'k', path: 'rclone' }],
      new AbortController().signal,
    );
    t.match(verdict, { kind: 'unreachable', store: 'destination' }, `verify by ${by}`);
  }
});
