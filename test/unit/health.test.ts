import t from 'tap';
import { health } from '../../daemon/health.ts';

const base = {
  childrenUp: 6,
  childrenTotal: 6,
  sqsFailingSince: undefined,
  sqsUnhealthyMs: 120_000,
  draining: false,
  now: 1_000_000,
};

t.test('healthy when all children are up and SQS works', async (t) => {
  t.same(health(base), { healthy: true, problems: [] });
});

t.test('unhealthy when children are down', async (t) => {
  t.same(health({ ...base, childrenUp: 4 }).problems, ['2 of 6 rclone children down']);
});

t.test('SQS failures count only after the threshold', async (t) => {
  t.ok(health({ ...base, sqsFailingSince: base.now - 119_000 }).healthy);
  t.match(health({ ...base, sqsFailingSince: base.now - 120_000 }).problems, [/SQS polling failing for 120 s/]);
});
