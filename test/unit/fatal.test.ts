// Fatal errors: one clear line, the stack at debug level only and without the machine's paths. The
// pure functions, then the real CLI failing for good (Secrets Manager unreachable: nothing listens).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import t from 'tap';
import { freePort } from '../../scripts/local-stack.ts';
import { fatalMessage, stackWithoutPaths } from '../../shared/fatal.ts';
import { CLI } from '../helpers/worker-process.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const CONFIG = join(mkdtempSync(join(tmpdir(), 'fatal-test-')), 'config.json');
writeFileSync(CONFIG, '{}');

t.test('stackWithoutPaths keeps file names and positions, drops folders and file URLs', async (t) => {
  const err = new Error('boom');
  err.stack = [
    'Error: boom',
    '    at /work/wt/x/build/package/rclone-migrate.cjs:66893:39',
    '    at async Worker.start (/home/ci/src/daemon/worker.ts:120:5)',
    '    at file:///home/ci/src/bin/rclone-migrate.ts:5:1',
    '    at process.processTicksAndRejections (node:internal/process/task_queues:104:5)',
  ].join('\n');
  t.equal(
    stackWithoutPaths(err),
    [
      'Error: boom',
      '    at rclone-migrate.cjs:66893:39',
      '    at async Worker.start (worker.ts:120:5)',
      '    at rclone-migrate.ts:5:1',
      '    at process.processTicksAndRejections (node:internal/process/task_queues:104:5)',
    ].join('\n'),
  );
  t.equal(stackWithoutPaths('not an error'), undefined);
});

t.test('fatalMessage: one line, causes appended once', async (t) => {
  const cause = new Error('connect ECONNREFUSED 127.0.0.1:9');
  t.equal(
    fatalMessage(new Error('cannot read secret "s"\nwhile starting', { cause })),
    'cannot read secret "s" while starting: connect ECONNREFUSED 127.0.0.1:9',
  );
  t.equal(fatalMessage(new Error(`outer: ${cause.message}`, { cause })), `outer: ${cause.message}`, 'no repeat');
  t.equal(fatalMessage('plain'), 'plain');
});

async function failingWorker(level: string) {
  const port = await freePort(); // closed again: connections to it are refused
  const endpoint = `http://127.0.0.1:${port}`;
  const res = spawnSync(
    process.execPath,
    [CLI, 'worker', '--queue-url', `${endpoint}/q`, '--dead-letter-url', `${endpoint}/d`, '--metrics-port', '-1'],
    {
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AWS_ENDPOINT_URL: endpoint,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'x',
        AWS_SECRET_ACCESS_KEY: 'y',
        RCLONE_MIGRATE_LOG_LEVEL: level,
        RCLONE_MIGRATE_CONFIG: CONFIG,
      },
    },
  );
  const lines = `${res.stdout}${res.stderr}`.split('\n').filter(Boolean);
  return { status: res.status, lines, json: lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

t.test('a worker that cannot start logs one fatal line, no stack, exits 1', async (t) => {
  const run = await failingWorker('info');
  t.equal(run.status, 1, 'exit 1: transient, systemd restarts it');
  const fatal = run.json.filter((l) => l.level === 'fatal');
  t.equal(fatal.length, 1, 'one fatal line');
  t.match(String(fatal[0]?.err), /cannot read secret .*ECONNREFUSED/, 'says what failed');
  t.equal(typeof fatal[0]?.err, 'string', 'the error is its message, not an object with a stack');
  const all = run.lines.join('\n');
  t.notMatch(all, /\n?\s+at /, 'no stack frame anywhere');
  t.notOk(all.includes(ROOT), 'no path of this checkout');
});

t.test('at debug level the stack follows, without paths', async (t) => {
  const run = await failingWorker('debug');
  t.equal(run.status, 1);
  const stack = run.json.find((l) => l.msg === 'stack of the failure')?.stack;
  t.match(String(stack), /\n\s+at .*\.ts:\d+:\d+/, 'stack frames with file names');
  t.notOk(run.lines.join('\n').includes(ROOT), 'no path of this checkout');
});
