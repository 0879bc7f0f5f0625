import t from 'tap';
import {
  deadLetterReason,
  decideSettlement,
  fitBodies,
  retryDelay,
  malformedSettlement,
  type KeyOutcome,
} from '../../daemon/settle.ts';
import {
  MESSAGE_VERSION,
  parseMessage,
  SQS_MAX_MESSAGE_BYTES,
  type BatchMessage,
  type DeadLetter,
} from '../../shared/message.ts';

const message = (attempt: number, keys = ['a', 'b', 'c']): BatchMessage => ({
  v: MESSAGE_VERSION,
  job: 'j',
  source: { bucket: 'src-bucket' },
  dest: { bucket: 'dst-bucket' },
  attempt,
  objects: keys.map((key) => ({ key, size: 1 })),
});
const policy = { maxAttempts: 3, retryDelaySeconds: 10 };
const ok = (key: string): KeyOutcome => ({ key, ok: true, bytes: 1, path: 'rclone' });
const bad = (key: string, kind: 'copy' | 'aborted' | 'refused' | 'throttled' = 'copy'): KeyOutcome => ({
  key,
  ok: false,
  kind,
  error: `boom ${key}`,
});

t.test('all copied: delete', async (t) => {
  t.same(decideSettlement(message(1), [ok('a'), ok('b'), ok('c')], policy), {
    outcome: 'deleted',
    steps: [{ type: 'delete' }],
  });
});

t.test('some failed: re-send only those with attempt + 1, then delete', async (t) => {
  const s = decideSettlement(message(1), [ok('a'), bad('b'), ok('c')], policy);
  t.equal(s.outcome, 'resent');
  t.same(
    s.steps.map((x) => x.type),
    ['resend', 'delete'],
  );
  const step = s.steps[0];
  if (step?.type !== 'resend') throw new Error('expected resend');
  const resent = parseMessage(step.body);
  t.same(
    resent.objects.map((o) => o.key),
    ['b'],
  );
  t.equal(resent.attempt, 2);
  t.same(resent.lastErrors, { b: 'boom b' });
});

t.test('attempts exhausted: dead-letter each key with its error, then delete', async (t) => {
  const s = decideSettlement(message(3), [ok('a'), bad('b'), bad('c')], policy);
  t.equal(s.outcome, 'dead_lettered');
  t.same(
    s.steps.map((x) => x.type),
    ['dead-letter', 'delete'],
  );
  const step = s.steps[0];
  if (step?.type !== 'dead-letter') throw new Error('expected dead-letter');
  const letter = JSON.parse(step.body) as DeadLetter;
  t.same(letter.failures, [
    { key: 'b', error: 'copy: boom b' },
    { key: 'c', error: 'copy: boom c' },
  ]);
  t.equal(letter.reason, '2 key(s) failed after 3 attempt(s): copy: boom b (1 keys); copy: boom c (1 keys)');
  const original = parseMessage(letter.original);
  t.same(
    original.objects.map((o) => o.key),
    ['b', 'c'],
    'the original carries only the failed keys, for redrive',
  );
  t.equal(original.attempt, 1);
});

t.test('a key S3 refuses is dead-lettered at once; the others of the batch are retried', async (t) => {
  const s = decideSettlement(message(1), [ok('a'), bad('b', 'refused'), bad('c')], policy);
  t.equal(s.outcome, 'resent', 'the batch still has a key to retry');
  t.same(
    s.steps.map((x) => x.type),
    ['dead-letter', 'resend', 'delete'],
    'every send before the delete',
  );
  const [dead, resend] = s.steps;
  if (dead?.type !== 'dead-letter' || resend?.type !== 'resend') throw new Error('expected dead-letter, resend');
  const letter = JSON.parse(dead.body) as DeadLetter;
  t.same(letter.failures, [{ key: 'b', error: 'refused: boom b' }]);
  t.equal(letter.reason, '1 key(s) failed after 1 attempt(s): refused: boom b');
  t.same(
    parseMessage(resend.body).objects.map((o) => o.key),
    ['c'],
  );

  const alone = decideSettlement(message(1), [ok('a'), bad('b', 'refused')], policy);
  t.equal(alone.outcome, 'dead_lettered', 'only refused keys: nothing to retry');
  t.same(
    alone.steps.map((x) => x.type),
    ['dead-letter', 'delete'],
  );
});

t.test('a key a store only throttled spends no attempt, and is never dead-lettered for it', async (t) => {
  const s = decideSettlement(message(3), [bad('a', 'throttled'), bad('b'), ok('c')], policy);
  t.equal(s.outcome, 'resent');
  t.same(
    s.steps.map((x) => x.type),
    ['dead-letter', 'resend', 'delete'],
    'the exhausted key dead-lettered, the throttled one re-sent',
  );
  const [dead, resend] = s.steps;
  if (dead?.type !== 'dead-letter' || resend?.type !== 'resend') throw new Error('expected dead-letter, resend');
  t.same(
    (JSON.parse(dead.body) as DeadLetter).failures?.map((f) => f.key),
    ['b'],
  );
  const again = parseMessage(resend.body);
  t.same(
    again.objects.map((o) => o.key),
    ['a'],
  );
  t.equal(again.attempt, 3, 'same attempt: throttling is not a failure of the key');
  t.same(again.lastErrors, { a: 'boom a' });

  const mixed = decideSettlement(message(1), [bad('a', 'throttled'), bad('b')], policy);
  const attempts = mixed.steps.flatMap((x) => (x.type === 'resend' ? [parseMessage(x.body).attempt] : []));
  t.same(attempts, [2, 1], 'the other failed key spends its attempt, the throttled one does not');
});

t.test('shutdown cut the batch short: release the whole message', async (t) => {
  t.same(decideSettlement(message(1), [ok('a'), bad('b', 'aborted'), bad('c')], policy).steps, [{ type: 'release' }]);
});

t.test('bodies that would pass the SQS limit are split', async (t) => {
  const objects = Array.from({ length: 20 }, (_, i) => ({ key: `${i}`.padEnd(1000, 'x') }));
  const parts = fitBodies(objects, (part) => JSON.stringify({ part }).repeat(20));
  t.ok(parts.length > 1);
  t.equal(
    parts.reduce((n, p) => n + p.keys, 0),
    20,
    'no key lost in the split',
  );
  for (const p of parts) t.ok(Buffer.byteLength(p.body) <= SQS_MAX_MESSAGE_BYTES);
});

t.test('malformed: dead-letter verbatim with the reason; a near-limit body is cut to fit', async (t) => {
  const s = malformedSettlement('nope', 'message is not JSON');
  const step = s.steps[0];
  if (step?.type !== 'dead-letter') throw new Error('expected dead-letter');
  t.same(JSON.parse(step.body), { deadLetter: 1, reason: 'malformed message: message is not JSON', original: 'nope' });
  const huge = '"'.repeat(200 * 1024);
  const big = malformedSettlement(huge, 'too odd').steps[0];
  if (big?.type !== 'dead-letter') throw new Error('expected dead-letter');
  t.ok(Buffer.byteLength(big.body) <= SQS_MAX_MESSAGE_BYTES);
  t.equal((JSON.parse(big.body) as DeadLetter).originalTruncatedFrom, huge.length);
});

t.test('the retry back-off grows with the attempt and stops at 15 minutes', async (t) => {
  t.equal(retryDelay(policy, 1), 10);
  t.equal(retryDelay(policy, 2), 20);
  t.equal(retryDelay({ ...policy, retryDelaySeconds: 600 }, 2), 900);
});

t.test(
  'a dead letter names the failure kind and the last error, so an operator can act without the logs',
  async (t) => {
    const denied = (key: string): KeyOutcome => ({
      key,
      ok: false,
      kind: 'auth',
      store: 'source',
      error: 'SignatureDoesNotMatch from source https://s3.example: rclone copyfile: ... (rc status 500)',
    });
    const s = decideSettlement(message(3), [denied('a'), denied('b'), ok('c')], policy);
    const step = s.steps[0];
    if (step?.type !== 'dead-letter') throw new Error('expected dead-letter');
    const letter = JSON.parse(step.body) as DeadLetter;
    t.equal(
      letter.reason,
      '2 key(s) failed after 3 attempt(s): auth: SignatureDoesNotMatch from source https://s3.example: ' +
        'rclone copyfile: ... (rc status 500) (2 keys)',
    );
    t.match(letter.failures, [
      { key: 'a', error: /^auth: SignatureDoesNotMatch from source https:\/\/s3\.example/ },
      { key: 'b', error: /^auth: / },
    ]);
    t.equal(deadLetterReason(1, ['not_found: gone']), '1 key(s) failed after 1 attempt(s): not_found: gone');
    t.ok(
      deadLetterReason(
        1,
        Array.from({ length: 50 }, (_, i) => `copy: ${'x'.repeat(40)} ${i}`),
      ).length <= 600,
    );
  },
);
