// The pool against real moto and real rclone: copies byte for byte (odd but addressable keys too),
// typed failures, FIFO dispatch within capacity, aborts, and secrets kept out of sight.
import { existsSync } from 'node:fs';
import t from 'tap';
import { CopyError } from '../../shared/errors.ts';
import { createResources, localClients, LOCAL_CREDENTIALS, startLocalStack } from '../../scripts/local-stack.ts';
import { RclonePool } from '../../daemon/rclone-pool.ts';
import { cmdline, content, environ, get, memoryLogger, poolOptions, put, running, sha256 } from './fixture.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const { s3 } = localClients(stack);
const res = await createResources(stack, { name: 'pool', secrets: false });

// As on the real machines: rclone must not see it, and gets --ca-cert instead.
const caBundle = process.env.AWS_CA_BUNDLE ?? '/etc/ssl/certs/ca-certificates.crt';

void t.test('copies objects byte for byte, odd but addressable keys included', async (t) => {
  const { log, text } = memoryLogger();
  const options = poolOptions(stack, log, {
    baseEnv: { ...process.env, ...stack.env, ...(existsSync(caBundle) ? { AWS_CA_BUNDLE: caBundle } : {}) },
  });
  const pool = new RclonePool(options);
  await pool.start();
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await pool.stop();
  });
  t.match(pool.stats(), { up: 2, total: 2, restarts: 0, busy: 0, capacity: 4 });

  // Keys S3 and moto accept that rclone's default encoding would map onto other objects or none.
  // (moto cannot store a newline or other control bytes below 0x09 in a key: its XML parser rejects them.)
  const objects = new Map<string, Buffer>([
    ['plain/a.txt', content(1000, 'a')],
    ['empty', Buffer.alloc(0)],
    ['a／b‛c＼d', content(11, 'fullwidth')],
    ['q‛', content(12, 'lone quote')],
    ['‛‛x/‛．', content(13, 'quotes')],
    ['␀a␡ ␊', content(14, 'control symbols')],
    ['tab\tkey\x7fdel', content(15, 'tab del')],
    ['spaces and+plus%25%percent?q=1#hash&amp;', content(16, 'url')],
    [' lead space/trail space ', content(17, 'spaces')],
    ['..a/b..', content(18, 'dots')],
    ['ünïcödé/日本語/😀 file.bin', content(70_000, 'unicode')],
    ['＊？：｜＂＜＞', content(19, 'fullwidth windows')],
    [`long/${'é'.repeat(497)}`, content(20, 'long')], // 5 + 994 = 999 bytes
    ['big/5MiB.bin', content(5 * 1024 * 1024, 'big')],
  ]);
  for (const [key, body] of objects) await put(s3, res.sourceBucket, key, body);
  const longKey = [...objects.keys()].find((k) => k.startsWith('long/')) as string;
  t.equal(Buffer.byteLength(longKey), 999);

  await Promise.all(
    [...objects.keys()].map((key) =>
      pool.copy({ srcBucket: res.sourceBucket, srcKey: key, dstBucket: res.destBucket, dstKey: key }),
    ),
  );
  for (const [key, body] of objects) {
    t.equal(
      sha256(await get(s3, res.destBucket, key)),
      sha256(body),
      `same bytes at the same key: ${JSON.stringify(key)}`,
    );
  }
  // a different destination key (a prefix mapping)
  await pool.copy({ srcBucket: res.sourceBucket, srcKey: 'q‛', dstBucket: res.destBucket, dstKey: 'mapped/q‛' });
  t.equal(sha256(await get(s3, res.destBucket, 'mapped/q‛')), sha256(objects.get('q‛') as Buffer));
  // copying again is harmless (the identical destination is skipped)
  await pool.copy({ srcBucket: res.sourceBucket, srcKey: 'empty', dstBucket: res.destBucket, dstKey: 'empty' });

  const missing = await pool
    .copy({ srcBucket: res.sourceBucket, srcKey: 'no/such/key', dstBucket: res.destBucket, dstKey: 'no/such/key' })
    .catch((err: unknown) => err);
  t.type(missing, CopyError);
  t.match(missing, { kind: 'not_found', bucket: res.sourceBucket, key: 'no/such/key', attempt: 0 });

  const pids = pool.childInfo().map((c) => c.pid as number);
  t.equal(pids.length, 2);
  const secret = options.source.secretAccessKey;
  for (const pid of pids) {
    const line = cmdline(pid);
    t.match(line, /^\S*rclone rcd /, 'setpriv has exec’d rclone in place');
    t.notOk(line.includes(secret), `source secret not in the command line of ${pid}`);
    t.notOk(line.includes(LOCAL_CREDENTIALS.secretAccessKey), 'nor the destination secret');
    t.notMatch(line, /rc-user|rc-pass|RCLONE_RC/, 'nor the rc credentials');
    const env = environ(pid);
    t.ok(env.includes(`RCLONE_CONFIG_SRC_SECRET_ACCESS_KEY=${secret}`), 'the secret travels in the environment');
    t.ok(env.some((v) => v.startsWith('RCLONE_RC_PASS=') && v.length > 'RCLONE_RC_PASS='.length + 30));
    t.notOk(
      env.some((v) => v.startsWith('AWS_CA_BUNDLE=')),
      'AWS_CA_BUNDLE is not passed on',
    );
    if (existsSync(caBundle)) t.ok(line.includes(`--ca-cert=${caBundle}`), 'the CA bundle is given as --ca-cert');
  }
  for (const { port } of pool.childInfo()) {
    const url = `http://127.0.0.1:${port}/core/pid`;
    t.equal((await fetch(url, { method: 'POST' })).status, 401, 'the rc API refuses calls without credentials');
    const guess = { authorization: `Basic ${Buffer.from('user:pass').toString('base64')}` };
    t.equal((await fetch(url, { method: 'POST', headers: guess })).status, 401, 'and with wrong ones');
  }
  const rcPasses = pids.map((pid) => environ(pid).find((v) => v.startsWith('RCLONE_RC_PASS=')));
  t.not(rcPasses[0], rcPasses[1], 'each child has its own rc password');

  await pool.stop();
  stopped = true;
  t.match(pool.stats(), { up: 0, total: 2 });
  for (const pid of pids) t.notOk(running(pid), `child ${pid} exited`);
  t.notOk(text().includes(secret), 'the source secret is not in the logs');
  for (const pass of rcPasses) t.notOk(text().includes((pass as string).split('=')[1] as string), 'nor an rc password');
  const afterStop = await pool
    .copy({ srcBucket: res.sourceBucket, srcKey: 'empty', dstBucket: res.destBucket, dstKey: 'empty' })
    .catch((err: unknown) => err);
  t.match(afterStop, { kind: 'aborted' }, 'a stopped pool takes no copies');
});

void t.test('dispatch: within capacity, first come first served, aborts while waiting and while running', async (t) => {
  // One child, one copy at a time, throttled so a copy is still running when we look.
  const pool = new RclonePool(
    poolOptions(stack, memoryLogger('warn').log, { children: 1, transfersPerChild: 1, flags: ['--bwlimit=2M'] }),
  );
  await pool.start();
  t.teardown(() => pool.stop());
  const slow = content(3 * 1024 * 1024, 'slow');
  await put(s3, res.sourceBucket, 'slow.bin', slow);
  for (const key of ['f1', 'f2', 'f3']) await put(s3, res.sourceBucket, key, content(100, key));

  const running = new AbortController();
  const first = pool
    .copy({
      srcBucket: res.sourceBucket,
      srcKey: 'slow.bin',
      dstBucket: res.destBucket,
      dstKey: 'slow.bin',
      signal: running.signal,
    })
    .catch((err: unknown) => err);
  const waiting = new AbortController();
  const second = pool
    .copy({
      srcBucket: res.sourceBucket,
      srcKey: 'f1',
      dstBucket: res.destBucket,
      dstKey: 'f1',
      signal: waiting.signal,
    })
    .catch((err: unknown) => err);
  const order: string[] = [];
  const rest = ['f2', 'f3'].map((key) =>
    pool
      .copy({ srcBucket: res.sourceBucket, srcKey: key, dstBucket: res.destBucket, dstKey: key })
      .then(() => order.push(key)),
  );
  t.match(pool.stats(), { busy: 1, capacity: 1 }, 'one copy runs, the others wait');

  waiting.abort();
  t.match(await second, { kind: 'aborted', key: 'f1' }, 'aborted while waiting for a slot');
  t.match(pool.stats(), { busy: 1 }, 'the running copy was not disturbed');

  running.abort();
  t.match(await first, { kind: 'aborted', key: 'slow.bin' }, 'aborted while running');
  await Promise.all(rest);
  t.same(order, ['f2', 'f3'], 'waiting copies ran in the order they came');
  t.equal(sha256(await get(s3, res.destBucket, 'f3')), sha256(content(100, 'f3')));
  t.match(pool.stats(), { busy: 0, up: 1 });

  const pre = new AbortController();
  pre.abort();
  const early = await pool
    .copy({ srcBucket: res.sourceBucket, srcKey: 'f2', dstBucket: res.destBucket, dstKey: 'f2', signal: pre.signal })
    .catch((err: unknown) => err);
  t.match(early, { kind: 'aborted' }, 'an already aborted signal never starts a copy');
});

void t.test('the least busy child gets the next copy', async (t) => {
  const pool = new RclonePool(
    poolOptions(stack, memoryLogger('warn').log, { children: 2, transfersPerChild: 3, flags: ['--bwlimit=1M'] }),
  );
  await pool.start();
  t.teardown(() => pool.stop());
  await put(s3, res.sourceBucket, 'medium.bin', content(256 * 1024, 'medium'));
  const controller = new AbortController();
  const copies = Array.from({ length: 8 }, (_, i) =>
    pool
      .copy({
        srcBucket: res.sourceBucket,
        srcKey: 'medium.bin',
        dstBucket: res.destBucket,
        dstKey: `spread/${i}`,
        signal: controller.signal,
      })
      .catch((err: unknown) => err),
  );
  t.same(
    pool.childInfo().map((c) => c.busy),
    [3, 3],
    'six running, spread evenly',
  );
  t.match(pool.stats(), { busy: 6, capacity: 6 }, 'never more than children × transfersPerChild');
  controller.abort();
  for (const result of await Promise.all(copies)) t.match(result, { kind: 'aborted' });
  t.match(pool.stats(), { busy: 0 });
});
