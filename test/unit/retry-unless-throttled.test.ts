// The source SDK client's retry strategy under the adaptive copy limits: a refused request comes back
// at once, other transient failures are retried as the SDK's standard strategy does. The decisions are
// pure (the random draw passed in, no clock); the last test runs a real client against the fault proxy.
import { GetObjectCommand } from '@aws-sdk/client-s3';
import t from 'tap';
import { startLatencyProxy } from '../../scripts/latency-proxy.ts';
import { sourceS3Client } from '../../shared/aws.ts';
import {
  retriesAgain,
  retryDelayMs,
  retryUnlessThrottled,
  SDK_STANDARD_RETRY,
} from '../../shared/retry-unless-throttled.ts';

void t.test('retriesAgain: never a throttling or client error; others up to three attempts', async (t) => {
  t.notOk(retriesAgain('THROTTLING', 0, SDK_STANDARD_RETRY), 'SlowDown: the worker answers it');
  t.notOk(retriesAgain('CLIENT_ERROR', 0, SDK_STANDARD_RETRY));
  t.ok(retriesAgain('TRANSIENT', 0, SDK_STANDARD_RETRY));
  t.ok(retriesAgain('SERVER_ERROR', 1, SDK_STANDARD_RETRY), 'the third attempt');
  t.notOk(retriesAgain('SERVER_ERROR', 2, SDK_STANDARD_RETRY), 'no fourth');
});

void t.test('retryDelayMs: jittered, doubling from 100 ms, capped at 20 s', async (t) => {
  t.equal(retryDelayMs(0, 1, SDK_STANDARD_RETRY), 100);
  t.equal(retryDelayMs(1, 0.5, SDK_STANDARD_RETRY), 100);
  t.equal(retryDelayMs(3, 0, SDK_STANDARD_RETRY), 0);
  t.equal(retryDelayMs(30, 1, SDK_STANDARD_RETRY), 20_000);
});

void t.test('retryUnlessThrottled: the strategy the SDK calls refuses a throttled retry, grants others', async (t) => {
  const strategy = retryUnlessThrottled({ ...SDK_STANDARD_RETRY, random: () => 1 });
  const first = await strategy.acquireInitialRetryToken('');
  t.equal(first.getRetryCount(), 0);
  await t.rejects(strategy.refreshRetryTokenForRetry(first, { errorType: 'THROTTLING' }), /no retry/);
  const second = await strategy.refreshRetryTokenForRetry(first, { errorType: 'TRANSIENT' });
  t.equal(second.getRetryCount(), 1);
  t.equal(second.getRetryDelay(), 100);
  const third = await strategy.refreshRetryTokenForRetry(second, { errorType: 'SERVER_ERROR' });
  t.equal(third.getRetryDelay(), 200);
  await t.rejects(strategy.refreshRetryTokenForRetry(third, { errorType: 'SERVER_ERROR' }), /no retry/);
});

void t.test('a real source client through the fault proxy: one request per SlowDown, three by default', async (t) => {
  // The proxy refuses every request itself, so its target (a closed loopback port) is never reached.
  const proxy = await startLatencyProxy({
    target: 'http://127.0.0.1:9',
    delayMs: 0,
    throttle: { slowDownFraction: 1 },
    lifetimeMs: 60_000,
  });
  t.teardown(() => proxy.stop());
  const creds = { endpoint: proxy.endpoint, accessKeyId: 'AK', secretAccessKey: 'SK' };
  const get = new GetObjectCommand({ Bucket: 'b', Key: 'k' });
  for (const [retryThrottled, requests] of [
    [false, 1],
    [true, 3],
  ] as const) {
    const client = sourceS3Client(creds, { region: 'us-east-1', forcePathStyle: true, retryThrottled });
    const before = proxy.requests();
    const err: unknown = await client.send(get).catch((e: unknown) => e);
    client.destroy();
    t.match(err, { name: 'SlowDown' }, `retryThrottled ${retryThrottled}: the SlowDown comes back`);
    t.equal(proxy.requests() - before, requests, `retryThrottled ${retryThrottled}: ${requests} requests`);
  }
});
