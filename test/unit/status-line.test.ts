import t from 'tap';
import { statusLine } from '../../daemon/status-line.ts';

const sample = { at: 10_000, childrenUp: 6, children: 6, messagesInFlight: 3, objectsCopied: 1200, draining: false };

t.test('says what the worker is doing, with the rate since the last sample', async (t) => {
  t.equal(
    statusLine(undefined, sample),
    '6/6 rclone children up, 3 messages in flight, 1,200 objects copied, 0.0 objects/s',
  );
  t.equal(
    statusLine(sample, { ...sample, at: 15_000, objectsCopied: 1450, messagesInFlight: 1 }),
    '6/6 rclone children up, 1 message in flight, 1,450 objects copied, 50.0 objects/s',
  );
  t.match(statusLine(undefined, { ...sample, draining: true, childrenUp: 5 }), /^draining, 5\/6 rclone children up/);
});
