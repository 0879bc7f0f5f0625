import t from 'tap';
import {
  encodeMessage,
  MESSAGE_VERSION,
  parseMessage,
  SQS_MAX_MESSAGE_BYTES,
  type BatchMessage,
} from '../../shared/message.ts';
import { MalformedMessageError } from '../../shared/errors.ts';

const base: BatchMessage = {
  v: MESSAGE_VERSION,
  job: 'job-1',
  source: { bucket: 'src-bucket' },
  dest: { bucket: 'dst-bucket' },
  attempt: 1,
  objects: [{ key: 'a/b.txt', size: 3, etag: 'd41d8cd98f00b204e9800998ecf8427e' }],
};

t.test('round-trips a message, odd keys included', async (t) => {
  const odd = [
    'a//b',
    '/lead',
    'trail/',
    'x/./y',
    'x/../y',
    '..',
    'ünï/日本/😀',
    'ctrl\u0001\n',
    'nonchar\uFFFF\uFFFE',
  ];
  const message = { ...base, objects: odd.map((key, i) => ({ key, size: i })) };
  const body = encodeMessage(message);
  t.notOk(
    [...body].some((c) => c < ' ' || c === '\uFFFE' || c === '\uFFFF'),
    'no character SQS refuses stays raw',
  );
  t.same(parseMessage(body), message);
});

t.test('twenty 1,024-byte keys of the worst characters fit in one SQS message', async (t) => {
  const key = '\u0001'.repeat(1024);
  const objects = Array.from({ length: 20 }, (_, i) => ({
    key: key.slice(0, 1020) + String(i).padStart(4, '0'),
    size: 1,
  }));
  const body = encodeMessage({ ...base, objects });
  t.ok(Buffer.byteLength(body) < SQS_MAX_MESSAGE_BYTES, `${Buffer.byteLength(body)} bytes`);
});

t.test('rejects malformed messages with the reason', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['not json', /not JSON/],
    ['[]', /not a JSON object/],
    [JSON.stringify({ ...base, v: 2 }), /version/],
    [JSON.stringify({ ...base, source: { bucket: 'Bad_Bucket' } }), /bucket name "Bad_Bucket"/],
    [JSON.stringify({ ...base, dest: { bucket: '192.168.1.1' } }), /IP address/],
    [JSON.stringify({ ...base, objects: [] }), /non-empty/],
    [JSON.stringify({ ...base, objects: [{ key: '' }] }), /empty/],
    [JSON.stringify({ ...base, objects: [{ key: 'k'.repeat(1025) }] }), /1025 bytes/],
    [JSON.stringify({ ...base, objects: [{ key: 'a' }, { key: 'a' }] }), /twice/],
    [JSON.stringify({ ...base, objects: [{ key: 'a', size: -1 }] }), /size/],
    [JSON.stringify({ ...base, attempt: 0 }), /attempt/],
    [JSON.stringify({ ...base, job: '' }), /job/],
    ['x'.repeat(SQS_MAX_MESSAGE_BYTES + 1), /limit/],
  ];
  for (const [body, reason] of cases) {
    t.throws(() => parseMessage(body), { name: 'MalformedMessageError', message: reason }, body.slice(0, 60));
  }
  t.throws(() => parseMessage('{'), MalformedMessageError);
});

t.test('a destination prefix that pushes a key past 1,024 bytes is refused', async (t) => {
  const body = JSON.stringify({
    ...base,
    dest: { bucket: 'dst-bucket', prefix: 'p/' },
    objects: [{ key: 'k'.repeat(1023) }],
  });
  t.throws(() => parseMessage(body), /1025 bytes/);
});
