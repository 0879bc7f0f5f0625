// The adaptive concurrency's decisions (aimd.ts) and the limiter that applies them (copy-limiter.ts),
// on a fake clock: the clock is the only thing faked; no store is needed for these pure decisions.
import t from 'tap';
import { DEFAULT_AIMD, nextLimit, throttleBackoffMs, type AimdParams } from '../../daemon/aimd.ts';
import { CopyLimiter } from '../../daemon/copy-limiter.ts';

const params: AimdParams = { min: 1, increase: 1, decrease: 0.5, max: 24 };

void t.test('nextLimit: a store refusing everything halves the limit, down to the floor', async (t) => {
  t.equal(nextLimit(24, { answered: 0, throttled: 10, saturated: true }, params), 12);
  let limit = 24;
  for (let i = 0; i < 20; i++) limit = nextLimit(limit, { answered: 0, throttled: 5, saturated: true }, params);
  t.equal(limit, 1, 'never below the floor');
});

void t.test('nextLimit: additive increase only while the limit holds copies back', async (t) => {
  t.equal(nextLimit(4, { answered: 20, throttled: 0, saturated: true }, params), 5);
  t.equal(nextLimit(4, { answered: 20, throttled: 0, saturated: false }, params), 4, 'not saturated: unchanged');
  t.equal(nextLimit(24, { answered: 20, throttled: 0, saturated: true }, params), 24, 'never above the ceiling');
  t.equal(nextLimit(7, { answered: 0, throttled: 0, saturated: true }, params), 7, 'an empty interval decides nothing');
});

void t.test('nextLimit: the decrease is in proportion to the refused share', async (t) => {
  const few = nextLimit(10, { answered: 90, throttled: 10, saturated: false }, params);
  const many = nextLimit(10, { answered: 50, throttled: 50, saturated: false }, params);
  t.equal(few, 9.5);
  t.equal(many, 7.5);
});

void t.test('nextLimit: a fixed refused share whatever the load settles the limit above the floor', async (t) => {
  // 30 % refused at every limit (a store that refuses at random): the limit must not collapse.
  let limit = 24;
  for (let i = 0; i < 200; i++) limit = nextLimit(limit, { answered: 70, throttled: 30, saturated: true }, params);
  t.ok(limit > 3, `settles at ${limit.toFixed(2)}, above the floor`);
  t.ok(limit < 24, 'and below the ceiling');
});

void t.test('nextLimit: a store admitting R requests/s settles near the concurrency that fills R', async (t) => {
  // Each copy takes 25 ms; the store admits 40 requests/s: 1 copy in flight fills it.
  let limit = 24;
  const seen: number[] = [];
  for (let i = 0; i < 200; i++) {
    const attempts = (Math.floor(limit) / 0.025) * 0.5; // per half-second interval
    const admitted = Math.min(attempts, 20);
    limit = nextLimit(limit, { answered: admitted, throttled: attempts - admitted, saturated: true }, params);
    seen.push(limit);
  }
  const last = seen.slice(-50);
  t.ok(Math.max(...last) <= 4, `stays low: at most ${Math.max(...last).toFixed(2)}`);
  t.ok(Math.min(...last) >= 1);
});

void t.test(
  'DEFAULT_AIMD: a 30 % refused share settles near 15 of 24 slots; refusing everything cuts 30 % a step',
  async (t) => {
    const p = { ...DEFAULT_AIMD, max: 24 };
    let limit = 24;
    for (let i = 0; i < 200; i++) limit = nextLimit(limit, { answered: 70, throttled: 30, saturated: true }, p);
    t.ok(limit > 14 && limit < 17, `settles at ${limit.toFixed(2)}`);
    t.equal(nextLimit(10, { answered: 0, throttled: 5, saturated: true }, p), 7);
  },
);

void t.test('throttleBackoffMs: exponential, capped, jittered within half to all of the ceiling', async (t) => {
  const tuning = { baseMs: 25, maxMs: 1_000 };
  t.equal(throttleBackoffMs(0, 1, tuning), 25);
  t.equal(throttleBackoffMs(0, 0, tuning), 13);
  t.equal(throttleBackoffMs(3, 1, tuning), 200);
  t.equal(throttleBackoffMs(30, 1, tuning), 1000, 'capped');
  t.equal(throttleBackoffMs(30, 0, tuning), 500);
});

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let ms = 0;
  return { now: () => ms, advance: (d) => void (ms += d) };
}

void t.test('CopyLimiter: starts at the ceiling; throttled intervals lower the limit; slots wait FIFO', async (t) => {
  const clock = fakeClock();
  const limits: number[] = [];
  let throttled = 0;
  const limiter = new CopyLimiter({
    store: 'source',
    params: { ...params, max: 4 },
    intervalMs: 500,
    now: clock.now,
    onLimit: (_s, l) => limits.push(l),
    onThrottled: () => throttled++,
  });
  t.equal(limiter.limit, 4);
  for (let i = 0; i < 4; i++) await limiter.acquire();
  const order: number[] = [];
  const fifth = limiter.acquire().then(() => order.push(5));
  const sixth = limiter.acquire().then(() => order.push(6));
  await Promise.resolve();
  t.same(order, [], 'at the limit: the fifth copy waits');
  // Every attempt of the interval throttled: the next decision halves the limit.
  limiter.note('throttled');
  limiter.note('throttled');
  clock.advance(500);
  limiter.release('throttled');
  t.equal(limiter.limit, 2, 'halved after an interval of refusals');
  t.equal(throttled, 3, 'each throttled attempt told');
  await Promise.resolve();
  t.same(order, [], 'three in flight over a limit of two: nobody starts');
  limiter.release('answered');
  limiter.release('answered');
  await fifth;
  t.same(order, [5], 'room again: the first waiter starts first');
  t.equal(limiter.inFlight, 2);
  // Intervals without refusals while copies wait: the limit climbs one at a time.
  clock.advance(500);
  limiter.release('answered');
  await sixth;
  t.equal(limiter.limit, 3, 'additive increase');
  t.same(order, [5, 6]);
  t.same(limits, [4, 2, 3], 'every new limit told (the gauge)');
});

void t.test('CopyLimiter: a waiting copy is refused when its signal fires or the limiter closes', async (t) => {
  const clock = fakeClock();
  const limiter = new CopyLimiter({
    store: 'destination',
    params: { ...DEFAULT_AIMD, max: 1 },
    intervalMs: 500,
    now: clock.now,
  });
  await limiter.acquire();
  const abort = new AbortController();
  const waiting = limiter.acquire(abort.signal);
  abort.abort();
  await t.rejects(waiting, /copy aborted/);
  const other = limiter.acquire();
  limiter.close();
  await t.rejects(other, /copy aborted/);
  await t.rejects(limiter.acquire(AbortSignal.abort()), /copy aborted/);
});

void t.test('CopyLimiter: a start-rate cap admits that many copy starts per second', async (t) => {
  const clock = fakeClock();
  const limiter = new CopyLimiter({
    store: 'source',
    params: { ...DEFAULT_AIMD, max: 100 },
    intervalMs: 500,
    startsPerSecond: 5,
    now: clock.now,
  });
  let started = 0;
  const all = Array.from({ length: 12 }, () => limiter.acquire().then(() => started++));
  await Promise.resolve();
  t.equal(started, 5, 'a full bucket: five at once');
  clock.advance(1000);
  limiter.release('answered');
  await Promise.resolve();
  await Promise.resolve();
  t.equal(started, 10, 'a second later, five more');
  limiter.close();
  await Promise.allSettled(all);
});
