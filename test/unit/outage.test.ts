// The outage gate's decisions, on a clock passed in by the test (no timers).
import t from 'tap';
import { OutageGate, pointsToOutage } from '../../daemon/outage.ts';
import type { KeyOutcome } from '../../daemon/settle.ts';
import { statusLine } from '../../daemon/status-line.ts';
import { looksUnreachable } from '../../shared/errors.ts';

const gone = (key: string): KeyOutcome => ({ key, ok: false, kind: 'unreachable', error: 'connection refused' });
const copied = (key: string): KeyOutcome => ({ key, ok: true, bytes: 1, path: 'rclone' });
const stores = { sourceBucket: 'src', destBucket: 'dst' };

t.test('only a batch that copied nothing and found no store answering points to an outage', async (t) => {
  t.ok(pointsToOutage([gone('a'), gone('b')]));
  t.notOk(pointsToOutage([gone('a'), copied('b')]), 'one copy made: the store answers');
  t.notOk(pointsToOutage([gone('a'), { key: 'b', ok: false, kind: 'not_found', error: 'gone' }]), 'an object problem');
  t.notOk(pointsToOutage([]));
});

t.test('the gate opens once, probes on a doubling interval up to the cap, and closes', async (t) => {
  const gate = new OutageGate(1000, 5000);
  t.equal(gate.afterBatch([copied('a')], stores, 0), undefined, 'closed stays closed');
  t.equal(gate.afterBatch([gone('a')], stores, 100), 'opened');
  t.equal(gate.afterBatch([gone('b')], { sourceBucket: 'x', destBucket: 'y' }, 200), undefined, 'already open');
  t.same(gate.stores, stores, 'probes the stores of the batch that opened it');
  t.equal(gate.since, 100);
  t.equal(gate.waitMs(100), 1000);
  t.equal(gate.waitMs(2000), 0, 'due');
  const waits: number[] = [];
  let now = 1100;
  for (let i = 0; i < 5; i++) {
    gate.probed(false, now);
    waits.push(gate.waitMs(now));
    now += gate.waitMs(now);
  }
  t.same(waits, [2000, 4000, 5000, 5000, 5000]);
  gate.probed(true, now);
  t.notOk(gate.open, 'a probe answered: closed');
  t.equal(gate.waitMs(now), 0);
  t.equal(gate.afterBatch([gone('a')], stores, now), 'opened');
  t.equal(gate.afterBatch([copied('a'), gone('b')], stores, now), 'closed', 'a copy made elsewhere closes it too');
});

t.test('network failures in rclone and Node words are told from answers', async (t) => {
  for (const text of [
    'dial tcp 127.0.0.1:1: connect: connection refused',
    'dial tcp: lookup s3.example: no such host',
    'read tcp 10.0.0.1:5->10.0.0.2:443: read: connection reset by peer',
    'net/http: TLS handshake timeout',
    'connect ECONNREFUSED 127.0.0.1:1',
    'getaddrinfo ENOTFOUND s3.example',
  ]) {
    t.ok(looksUnreachable(text), text);
  }
  for (const text of ['AccessDenied: nope', 'NoSuchKey', 'InternalError: status code: 500', 'SlowDown']) {
    t.notOk(looksUnreachable(text), text);
  }
});

t.test('the status line leads with a pause', async (t) => {
  const sample = { at: 75_000, childrenUp: 6, children: 6, messagesInFlight: 0, objectsCopied: 10, draining: false };
  t.match(
    statusLine(undefined, { ...sample, storesUnreachableSince: 15_000 }),
    /^PAUSED: a store has not answered for 60 s, /,
  );
  t.notMatch(statusLine(undefined, sample), /PAUSED/);
});
