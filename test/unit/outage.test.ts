// The outage gate's decisions, on a clock passed in by the test (no timers).
import t from 'tap';
import { OutageGate, pointsToUnavailable } from '../../daemon/outage.ts';
import type { KeyOutcome } from '../../daemon/settle.ts';
import { statusLine } from '../../daemon/status-line.ts';
import { credentialCode, looksUnreachable } from '../../shared/errors.ts';

const gone = (key: string): KeyOutcome => ({ key, ok: false, kind: 'unreachable', error: 'connection refused' });
const copied = (key: string): KeyOutcome => ({ key, ok: true, bytes: 1, path: 'rclone' });
const stores = { sourceBucket: 'src', destBucket: 'dst' };

const refused = (key: string): KeyOutcome => ({
  key,
  ok: false,
  kind: 'auth',
  error: 'SignatureDoesNotMatch from source http://127.0.0.1:1',
  store: 'source',
});

t.test('only a batch that copied nothing and found no store answering or accepting us points to one', async (t) => {
  t.equal(pointsToUnavailable([gone('a'), gone('b')]), 'unreachable');
  t.equal(pointsToUnavailable([refused('a'), refused('b')]), 'auth');
  t.equal(pointsToUnavailable([refused('a'), gone('b')]), 'unreachable', 'no answer outweighs a refusal');
  t.equal(pointsToUnavailable([gone('a'), copied('b')]), undefined, 'one copy made: the store answers');
  t.equal(pointsToUnavailable([refused('a'), copied('b')]), undefined, 'one copy made: the credentials work');
  t.equal(
    pointsToUnavailable([gone('a'), { key: 'b', ok: false, kind: 'not_found', error: 'gone' }]),
    undefined,
    'an object problem',
  );
  t.equal(pointsToUnavailable([]), undefined);
});

t.test('the gate opens once, probes at once, then on a doubling interval up to the cap, and closes', async (t) => {
  const gate = new OutageGate(1000, 5000);
  const down = { store: 'source' as const, reason: 'unreachable' as const, error: 'ECONNREFUSED' };
  t.equal(gate.afterBatch([copied('a')], stores, 0), undefined, 'closed stays closed');
  t.equal(gate.afterBatch([gone('a')], stores, 100), 'opened');
  t.equal(gate.afterBatch([gone('b')], { sourceBucket: 'x', destBucket: 'y' }, 200), undefined, 'already open');
  t.same(gate.stores, stores, 'probes the stores of the batch that opened it');
  t.equal(gate.since, 100);
  t.equal(gate.waitMs(100), 0, 'the first probe is due at once: it tells which store');
  t.match(gate.pause, { since: 100, reason: 'unreachable', probes: 0 });
  const waits: number[] = [];
  let now = 100;
  for (let i = 0; i < 6; i++) {
    gate.probed(down, now);
    waits.push(gate.waitMs(now));
    now += gate.waitMs(now);
  }
  t.same(waits, [1000, 2000, 4000, 5000, 5000, 5000]);
  t.match(gate.pause, { reason: 'unreachable', store: 'source', error: 'ECONNREFUSED', probes: 6 });
  gate.probed(undefined, now);
  t.notOk(gate.open, 'a probe answered: closed');
  t.equal(gate.waitMs(now), 0);
  t.equal(gate.afterBatch([gone('a')], stores, now), 'opened');
  t.equal(gate.afterBatch([copied('a'), gone('b')], stores, now), 'closed', 'a copy made elsewhere closes it too');
});

t.test('refused credentials open the gate for auth; a probe that finds another cause says so', async (t) => {
  const gate = new OutageGate(1000, 5000);
  t.equal(gate.afterBatch([refused('a'), refused('b')], stores, 0), 'opened');
  t.match(gate.pause, { reason: 'auth', store: 'source', error: /SignatureDoesNotMatch/ });
  gate.probed({ store: 'destination', reason: 'unreachable', error: 'timeout' }, 10);
  t.match(gate.pause, { reason: 'unreachable', store: 'destination', probes: 1 });
});

t.test('network failures in rclone and Node words are told from answers', async (t) => {
  for (const text of [
    'dial tcp 127.0.0.1:1: connect: connection refused',
    'dial tcp: lookup s3.example: no such host',
    'read tcp 10.0.0.1:5->10.0.0.2:443: read: connection reset by peer',
    'net/http: TLS handshake timeout',
    'connect ECONNREFUSED 127.0.0.1:1',
    'getaddrinfo ENOTFOUND s3.example',
    // rclone's --timeout and the SDK's idle limit
    'request send failed, Get "http://127.0.0.1:1/b/k": net/http: timeout awaiting response headers',
    'TimeoutError: @smithy/node-http-handler - the request socket timed out after 1000 ms of inactivity',
  ]) {
    t.ok(looksUnreachable(text), text);
  }
  for (const text of ['AccessDenied: nope', 'NoSuchKey', 'InternalError: status code: 500', 'SlowDown']) {
    t.notOk(looksUnreachable(text), text);
  }
});

t.test('credential refusals are told from a per-object AccessDenied', async (t) => {
  t.equal(credentialCode('api error SignatureDoesNotMatch: The request signature'), 'SignatureDoesNotMatch');
  t.equal(credentialCode('InvalidAccessKeyId'), 'InvalidAccessKeyId');
  t.equal(credentialCode('ExpiredToken: The provided token has expired'), 'ExpiredToken');
  t.equal(credentialCode('api error AccessDenied: Access Denied'), undefined);
});

t.test('the status line leads with a pause and says why', async (t) => {
  const sample = { at: 75_000, childrenUp: 6, children: 6, messagesInFlight: 0, objectsCopied: 10, draining: false };
  t.match(
    statusLine(undefined, { ...sample, paused: { since: 15_000, reason: 'unreachable' } }),
    /^PAUSED: a store does not answer \(for 60 s\), /,
  );
  t.match(
    statusLine(undefined, { ...sample, paused: { since: 15_000, reason: 'auth', store: 'source' } }),
    /^PAUSED: the source refuses our credentials \(for 60 s\), /,
  );
  t.notMatch(statusLine(undefined, sample), /PAUSED/);
});
