// How the worker tells throttling from other failures, which store refused, the rclone flags its
// throttling settings become, and the SDK path's bandwidth cap on a fake clock. Pure functions; the
// error texts are rclone 1.75.2's and 1.60.1's own words, as seen through the fault proxy.
import t from 'tap';
import { ByteRate } from '../../daemon/byte-rate.ts';
import { throttledStore } from '../../daemon/copy-object.ts';
import { classifyRcError } from '../../daemon/rc-api.ts';
import { childArgs, limitFlags, lowLevelRetries } from '../../daemon/rclone-env.ts';
import { CopyError } from '../../shared/errors.ts';

const V2 =
  'failed to open source object: operation error S3: GetObject, exceeded maximum number of attempts, 1, https response error StatusCode: 503, RequestID: x, HostID: , api error SlowDown: Please reduce your request rate.';
const where = { bucket: 'b', key: 'k', attempt: 1 };

void t.test('classifyRcError: SlowDown, 503 and 429 are throttling, whichever SDK generation words them', async (t) => {
  t.equal(classifyRcError({ status: 500, error: V2 }), 'throttled');
  t.equal(
    classifyRcError({ status: 500, error: 'SlowDown: Please reduce your request rate.\n\tstatus code: 503' }),
    'throttled',
  );
  t.equal(
    classifyRcError({ status: 500, error: 'operation error S3: PutObject, StatusCode: 429, TooManyRequests' }),
    'throttled',
  );
  t.equal(classifyRcError({ status: 500, error: 'InternalError: We encountered an internal error' }), 'copy');
  t.equal(classifyRcError({ status: 404, error: 'object not found' }), 'not_found', 'not found wins');
});

void t.test('throttledStore: the source read, or else the destination', async (t) => {
  t.equal(throttledStore(new CopyError('throttled', `rclone copyfile: ${V2}`, where)), 'source');
  t.equal(
    throttledStore(new CopyError('throttled', 'source GetObject: Please reduce your request rate.', where)),
    'source',
  );
  t.equal(throttledStore(new CopyError('throttled', 'destination upload: SlowDown', where)), 'destination');
  t.equal(
    throttledStore(
      new CopyError('throttled', 'rclone copyfile: operation error S3: PutObject, StatusCode: 503', where),
    ),
    'destination',
  );
});

void t.test('--low-level-retries: decided once, one flag on the command line, one try when adaptive', async (t) => {
  t.equal(lowLevelRetries(true), 1);
  t.equal(lowLevelRetries(false), 2);
  for (const adaptive of [true, false]) {
    const args = childArgs({
      transfersPerChild: 1,
      flags: [],
      baseEnv: {},
      lowLevelRetries: lowLevelRetries(adaptive),
    });
    t.same(
      args.filter((a) => a.startsWith('--low-level-retries')),
      [`--low-level-retries=${adaptive ? 1 : 2}`],
      `adaptive ${adaptive}`,
    );
  }
  t.notOk(
    limitFlags({ children: 2, maxRequestsPerSecond: 10, maxMiBPerSecond: 10 }).some((f) => f.startsWith('--low-level')),
    'the hard caps leave it alone',
  );
});

void t.test('limitFlags: hard caps split between the children, nothing without them', async (t) => {
  t.same(limitFlags({ children: 6, maxRequestsPerSecond: 0, maxMiBPerSecond: 0 }), []);
  t.same(limitFlags({ children: 3, maxRequestsPerSecond: 100, maxMiBPerSecond: 30 }), [
    '--tpslimit=33.333',
    '--bwlimit=10M',
  ]);
});

void t.test(
  'ByteRate: a second of burst, then the rate; a chunk over the burst goes once the bucket is full',
  async (t) => {
    let ms = 0;
    const rate = new ByteRate(1000, () => ms);
    t.equal(rate.take(600), 0);
    t.equal(rate.take(400), 0, 'the burst');
    t.equal(rate.take(500), 500, 'then half a second for 500 bytes');
    ms += 1500;
    t.equal(rate.take(5000), 0, 'a full bucket lets a big chunk through…');
    t.equal(rate.take(1), 4001, '…and the debt is paid before the next');
    t.throws(() => new ByteRate(0), /bandwidth/);
  },
);
