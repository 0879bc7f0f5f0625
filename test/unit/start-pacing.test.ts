// The learned copy start rate: the sliding-window rate estimator (rate-estimator.ts), the pacing
// decision (start-pacing.ts) and the limiter that applies it (copy-limiter.ts). Pure decisions on a
// fake clock: the clock is the only thing faked, and the only time these tests know.
import t from 'tap';
import { DEFAULT_AIMD } from '../../daemon/aimd.ts';
import { CopyLimiter } from '../../daemon/copy-limiter.ts';
import { RateEstimator } from '../../daemon/rate-estimator.ts';
import { DEFAULT_PACING, nextPacing, UNPACED, type Pacing, type PacingSeen } from '../../daemon/start-pacing.ts';

void t.test(
  'RateEstimator: events per second over the window, the window not yet full divided by its time',
  async (t) => {
    const rate = new RateEstimator(2000, 0);
    t.equal(rate.rate(0), 0, 'nothing yet');
    for (let ms = 100; ms <= 1000; ms += 100) rate.add(ms);
    t.equal(rate.rate(1000), 10, '10 in the first second: 10/s');
    t.notOk(rate.full(1000));
    for (let ms = 1050; ms <= 2000; ms += 50) rate.add(ms);
    t.equal(rate.rate(2000), 15, '30 over the full window of 2 s');
    t.ok(rate.full(2000));
    t.equal(rate.rate(3000), 10, 'the first second has left the window');
    t.equal(rate.rate(4000), 0, 'and then the second');
    rate.add(4000, 3);
    t.equal(rate.rate(4000), 1.5, 'several at once');
    t.throws(() => new RateEstimator(0, 0), /window/);
  },
);

const seen = (over: Partial<PacingSeen>): PacingSeen => ({
  admittedPerSecond: 40,
  refusedPerSecond: 0,
  waited: false,
  windowFull: true,
  windowIntervals: 4,
  ...over,
});

/** Decides `n` intervals in a row with the same view. */
function after(pacing: Pacing, n: number, view: Partial<PacingSeen>): Pacing {
  for (let i = 0; i < n; i++) pacing = nextPacing(pacing, seen(view));
  return pacing;
}

void t.test('nextPacing: refusals beyond a small share cut to just under what the store admitted', async (t) => {
  const cut = nextPacing(UNPACED, seen({ admittedPerSecond: 20, refusedPerSecond: 28 }));
  t.equal(cut.rate, 19, '0.95 × the admitted 20/s');
  t.equal(cut.base, 19);
  t.ok(cut.pending, 'a cut to be checked');
  t.same(
    nextPacing(UNPACED, seen({ admittedPerSecond: 20, refusedPerSecond: 2 })),
    UNPACED,
    '2 refused in 22: within the margin',
  );
  t.same(
    nextPacing(UNPACED, seen({ admittedPerSecond: 20, refusedPerSecond: 28, windowFull: false })),
    UNPACED,
    'nothing decided before the window is full',
  );
  const floor = nextPacing(UNPACED, seen({ admittedPerSecond: 0, refusedPerSecond: 9 }));
  t.equal(floor.rate, 1, 'a store refusing everything: the floor');
});

void t.test('nextPacing: a cut that stops the refusals is kept a window later', async (t) => {
  const cut = nextPacing(UNPACED, seen({ admittedPerSecond: 20, refusedPerSecond: 28 }));
  const waiting = after(cut, 3, { admittedPerSecond: 19, refusedPerSecond: 20 });
  t.equal(waiting.rate, 19, 'no decision while the window still holds attempts from before the cut');
  const kept = nextPacing(waiting, seen({ admittedPerSecond: 19, refusedPerSecond: 0 }));
  t.equal(kept.rate, 19);
  t.notOk(kept.pending, 'checked');
});

void t.test('nextPacing: a first cut that measured a burst is made again from what is admitted now', async (t) => {
  // A full bucket at the start: 60 admitted over the window, then 32/s.
  const first = nextPacing(UNPACED, seen({ admittedPerSecond: 45, refusedPerSecond: 40 }));
  t.equal(first.rate, 42.75);
  const second = after(first, 4, { admittedPerSecond: 32, refusedPerSecond: 11 });
  t.equal(second.rate, 30.4, 'cut again: 0.95 × 32');
  const kept = after(second, 4, { admittedPerSecond: 30.4, refusedPerSecond: 0 });
  t.equal(kept.rate, 30.4);
  t.notOk(kept.pending);
});

void t.test('nextPacing: cuts that lower the refused share go on without being undone', async (t) => {
  // Two workers sharing a bucket of 40/s: each cut of this one lowers the share, the other cuts too.
  let pacing = nextPacing(UNPACED, seen({ admittedPerSecond: 20, refusedPerSecond: 20 }));
  t.equal(pacing.rate, 19);
  for (const refusedPerSecond of [6, 4, 3]) {
    pacing = after(pacing, 4, { admittedPerSecond: 20, refusedPerSecond });
    t.equal(
      pacing.rate,
      19,
      `still refusing (${refusedPerSecond}/s) but under half the share at first: cut again, not undone`,
    );
    t.ok(pacing.pending);
  }
  pacing = after(pacing, 4, { admittedPerSecond: 19, refusedPerSecond: 0 });
  t.equal(pacing.rate, 19);
  t.notOk(pacing.pending, 'the refusals stopped: kept');
});

void t.test('nextPacing: refusals that go on whatever the rate undo the cuts and are tolerated', async (t) => {
  // 30 % refused at random: each cut lowers the admitted rate in proportion, the share stays.
  let pacing = nextPacing(UNPACED, seen({ admittedPerSecond: 56, refusedPerSecond: 24 }));
  t.ok(Math.abs(pacing.rate - 53.2) < 1e-9, `0.95 × 56 (${pacing.rate})`);
  pacing = after(pacing, 4, { admittedPerSecond: 37, refusedPerSecond: 16 });
  t.ok(pacing.rate < 53.2 && pacing.pending, 'cut a second time');
  pacing = after(pacing, 4, { admittedPerSecond: 25, refusedPerSecond: 11 });
  t.equal(pacing.rate, Number.POSITIVE_INFINITY, 'undone: not paced again');
  t.notOk(pacing.pending);
  t.ok(pacing.tolerated > 0.29 && pacing.tolerated < 0.31, `that share tolerated (${pacing.tolerated.toFixed(3)})`);
  t.same(
    nextPacing(pacing, seen({ admittedPerSecond: 56, refusedPerSecond: 24 })).rate,
    Number.POSITIVE_INFINITY,
    'the same share again: no cut',
  );
  t.ok(
    nextPacing(pacing, seen({ admittedPerSecond: 40, refusedPerSecond: 40 })).rate < 40,
    'a share well beyond it: cut',
  );
  t.ok(after(pacing, 800, {}).tolerated < 0.15, 'the tolerance fades, so a store that changes is learned again');
  // A chance run of refusals beyond the tolerated share: cut, but the share is back where it was.
  const chance = nextPacing(pacing, seen({ admittedPerSecond: 44, refusedPerSecond: 36 }));
  t.ok(chance.rate < 44, 'a run of 45 % refused: cut');
  t.equal(
    after(chance, 4, { admittedPerSecond: 40, refusedPerSecond: 17 }).rate,
    Number.POSITIVE_INFINITY,
    'the share back at 30 %, not halved: the cut is undone, not kept',
  );
});

void t.test('nextPacing: probes upward additively while attempts wait for the rate', async (t) => {
  let pacing: Pacing = { rate: 19, base: 19, tolerated: 0 };
  const steps: number[] = [];
  for (let i = 0; i < 4; i++) {
    pacing = nextPacing(pacing, seen({ admittedPerSecond: pacing.rate, waited: true }));
    steps.push(pacing.rate);
  }
  t.same(steps, [19.5, 20.25, 21.375, 23.0625], 'from the larger of 2 % of the last cut and 0.5/s, growing by half');
  const paused = nextPacing(pacing, seen({}));
  t.equal(
    nextPacing(paused, seen({ waited: true })).rate,
    23.5625,
    'after an interval not waiting: the first step again',
  );
  let long: Pacing = { rate: 10, base: 10, tolerated: 0 };
  for (let i = 0; i < 12; i++) long = nextPacing(long, seen({ waited: true }));
  const before = long.rate;
  t.equal(nextPacing(long, seen({ waited: true })).rate, before * 1.25, 'a step is at most a quarter of the rate');
  t.equal(nextPacing({ rate: 19, base: 19, tolerated: 0 }, seen({})).rate, 19, 'not waiting: no probe');
  t.equal(nextPacing(UNPACED, seen({ waited: true })).rate, Number.POSITIVE_INFINITY, 'unpaced stays unpaced');
  t.equal(nextPacing({ rate: 100, base: 100, tolerated: 0 }, seen({ waited: true })).rate, 102, '2 % of the last cut');
});

/**
 * A store that admits `admits(offered)` attempts/s against a copier that would make `demand`/s, one
 * decision per interval from a window of the last four intervals.
 */
function simulate(admits: (offered: number) => number, demand: number, intervals: number): number[] {
  let pacing = UNPACED;
  const window: Array<{ admitted: number; refused: number }> = [];
  const offered: number[] = [];
  for (let i = 0; i < intervals; i++) {
    const rate = Math.min(demand, pacing.rate);
    const admitted = admits(rate);
    window.push({ admitted, refused: rate - admitted });
    if (window.length > 4) window.shift();
    const mean = (pick: (w: { admitted: number; refused: number }) => number) =>
      window.reduce((n, w) => n + pick(w), 0) / window.length;
    pacing = nextPacing(pacing, {
      admittedPerSecond: mean((w) => w.admitted),
      refusedPerSecond: mean((w) => w.refused),
      waited: demand > pacing.rate,
      windowFull: window.length === 4,
      windowIntervals: 4,
    });
    offered.push(rate);
  }
  return offered;
}

void t.test('nextPacing against a rate limit: settles around it, never far under it', async (t) => {
  const rates = simulate((offered) => Math.min(offered, 32), 80, 400);
  const last = rates.slice(-200);
  const mean = last.reduce((a, b) => a + b, 0) / last.length;
  t.ok(Math.min(...last) >= 0.9 * 32, `never below 0.9 × R (lowest ${Math.min(...last).toFixed(2)})`);
  t.ok(mean >= 0.97 * 32 && mean <= 1.1 * 32, `mean ${mean.toFixed(2)} attempts/s near R = 32`);
});

void t.test('nextPacing against refusals at random: the rate does not collapse', async (t) => {
  const rates = simulate((offered) => offered * 0.7, 80, 400);
  const last = rates.slice(-200);
  t.ok(
    last.every((r) => r === 80),
    `the demand goes through after the first cuts are undone (lowest ${Math.min(...last)})`,
  );
});

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

void t.test('CopyLimiter: refusals set a learned start rate; starts and retries are then paced', async (t) => {
  let ms = 0; // the fake clock
  const told: number[] = [];
  const limiter = new CopyLimiter({
    store: 'source',
    params: { ...DEFAULT_AIMD, max: 100 },
    intervalMs: 500,
    windowMs: 1000,
    pacing: DEFAULT_PACING,
    now: () => ms,
    onStartRate: (_s, rate) => told.push(rate),
  });
  t.equal(limiter.startRate, Number.POSITIVE_INFINITY, 'not paced at first');
  // A second of 40 attempts/s of which the store admits half.
  for (let i = 0; i < 40; i++) {
    await limiter.acquire();
    ms += 25;
    limiter.release(i % 2 === 0 ? 'answered' : 'throttled');
  }
  limiter.note('answered');
  t.ok(limiter.startRate >= 18 && limiter.startRate <= 20, `just under the 20/s admitted: ${limiter.startRate}`);
  t.same(told, [0, limiter.startRate], 'the gauge: unpaced, then the learned rate');
  // Ten copies wanting to start at once: a tenth of a second's worth starts, then more as time passes.
  let started = 0;
  const all = Array.from({ length: 10 }, () => limiter.acquire().then(() => started++));
  await flush();
  t.ok(started >= 1 && started <= 2, `a small burst at once (${started})`);
  const before = started;
  let retried = false;
  const retry = limiter.pace().then(() => (retried = true)); // a retry holding its slot asks for a token
  await flush();
  t.notOk(retried, 'no token left: the retry waits too');
  ms += 200;
  limiter.release('answered'); // a copy ends: the limiter looks at its bucket again
  await flush();
  t.ok(
    retried,
    'the next token goes to the retry, ahead of the copies waiting for a slot (they may wait for its slot)',
  );
  t.equal(started, before, 'none of those yet');
  ms += 500;
  limiter.release('answered');
  await flush();
  t.ok(started > before && started < 10, `more starts a moment later, not all (${started})`);
  limiter.close();
  await Promise.allSettled([...all, retry]);
});

void t.test('CopyLimiter: pace() needs a token but no slot', async (t) => {
  let ms = 0; // the fake clock
  const limiter = new CopyLimiter({
    store: 'source',
    params: { ...DEFAULT_AIMD, max: 1 },
    intervalMs: 500,
    startsPerSecond: 2,
    now: () => ms,
  });
  await limiter.acquire(); // the only slot, and a token of two
  let paced = 0;
  await limiter.pace().then(() => paced++);
  t.equal(paced, 1, 'the slot is taken, yet the retry goes: the second token');
  const next = limiter.pace().then(() => paced++);
  await flush();
  t.equal(paced, 1, 'no token left: the retry waits');
  ms += 500;
  const kick = limiter.pace();
  await flush();
  t.equal(paced, 2, 'half a second at 2/s: one more token, to the first in line');
  limiter.close();
  await Promise.allSettled([next, kick]);
});

void t.test('CopyLimiter: a retry never waits behind a copy waiting for its slot', async (t) => {
  const ms = 0; // the fake clock, which this test never moves
  const limiter = new CopyLimiter({
    store: 'source',
    params: { ...DEFAULT_AIMD, max: 1 },
    intervalMs: 500,
    now: () => ms,
  });
  await limiter.acquire(); // the only slot
  let second = false;
  const waiting = limiter.acquire().then(() => (second = true));
  await flush();
  t.notOk(second, 'the second copy waits for the slot');
  let retried = false;
  await limiter.pace().then(() => (retried = true)); // would never resolve if queued behind the second copy
  t.ok(retried, 'the holder of the slot retries at once (not paced)');
  limiter.release('answered');
  await waiting;
  t.ok(second, 'then the second copy starts');
  limiter.close();
});
