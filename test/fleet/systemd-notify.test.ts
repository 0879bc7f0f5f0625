// The notifier against a real unix datagram socket standing in for systemd's: a small python3 listener
// (Node cannot bind datagram sockets) that prints each message and, like PID 1, closes the file
// descriptors passed with BARRIER=1 so `systemd-notify` sees its barrier acknowledged.
// Not testable here: that PID 1 attributes the messages to the unit (no systemd as PID 1 on this
// machine); that rests on systemd-notify's barrier (systemd ≥ 246) and NotifyAccess=all in the unit.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger } from '../../shared/logger.ts';
import { createSystemdNotifier, statusText, watchdogInterval } from '../../daemon/systemd-notify.ts';

const LISTENER = `
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("bound"), flush=True)
while True:
    msg, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(64))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps(msg.decode()), flush=True)
`;

type Listener = { path: string; messages: string[]; child: ChildProcess };

async function listen(): Promise<Listener> {
  const path = join(mkdtempSync(join(tmpdir(), 'rm-notify-')), 'notify.sock');
  const child = spawn('python3', ['-c', LISTENER, path], { stdio: ['ignore', 'pipe', 'inherit'] });
  const messages: string[] = [];
  let buffered = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) messages.push(JSON.parse(line) as string);
  });
  await until(() => messages.includes('bound'), 'listener bound');
  messages.length = 0;
  return { path, messages, child };
}

async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function captureLog(): { log: ReturnType<typeof createLogger>; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    log: createLogger('info', sink),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

const haveTools =
  spawnSync('python3', ['--version']).status === 0 && spawnSync('systemd-notify', ['--help']).status === 0;

void t.test('watchdog interval is half of WatchdogSec, only for our pid', async (t) => {
  t.equal(watchdogInterval({ WATCHDOG_USEC: '60000000' }, 42), 30_000);
  t.equal(watchdogInterval({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: '42' }, 42), 30_000);
  t.equal(watchdogInterval({ WATCHDOG_USEC: '60000000', WATCHDOG_PID: '7' }, 42), undefined);
  t.equal(watchdogInterval({}, 42), undefined);
  t.equal(watchdogInterval({ WATCHDOG_USEC: 'x' }, 42), undefined);
});

void t.test('status text is one bounded line', async (t) => {
  t.equal(statusText('children 6/6\nin flight 3\r\n'), 'children 6/6 in flight 3');
  const long = statusText('x'.repeat(500));
  t.equal(long.length, 200);
  t.ok(long.endsWith('…'));
});

void t.test('without NOTIFY_SOCKET every call is a no-op', async (t) => {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
  const notifier = createSystemdNotifier(captureLog().log, { env, binary: '/nonexistent/systemd-notify' });
  t.equal(notifier.enabled, false);
  t.equal(notifier.watchdogIntervalMs, undefined);
  notifier.ready();
  notifier.status('x');
  notifier.watchdog();
  notifier.stopping();
  await notifier.close();
});

void t.test(
  'messages reach the socket in order, and children will not inherit the notify variables',
  { skip: !haveTools },
  async (t) => {
    const listener = await listen();
    t.teardown(() => void listener.child.kill());
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      NOTIFY_SOCKET: listener.path,
      WATCHDOG_USEC: '20000000',
      WATCHDOG_PID: String(process.pid),
    };
    const { log } = captureLog();
    const notifier = createSystemdNotifier(log, { env });
    t.equal(notifier.enabled, true);
    t.equal(notifier.watchdogIntervalMs, 10_000);
    t.same(Object.keys(env), ['PATH'], 'NOTIFY_SOCKET and WATCHDOG_* removed from the environment');

    notifier.ready();
    notifier.status('children 6/6 up\nin flight 2');
    notifier.watchdog();
    notifier.stopping();
    await notifier.close();
    const sent = () => listener.messages.filter((m) => m !== 'BARRIER=1');
    await until(() => sent().length >= 4, 'four messages');
    t.same(sent(), ['READY=1', 'STATUS=children 6/6 up in flight 2', 'WATCHDOG=1', 'STOPPING=1']);
    t.ok(listener.messages.includes('BARRIER=1'), 'systemd-notify waited on the barrier');
    notifier.ready();
    await new Promise((r) => setImmediate(r));
    t.equal(sent().length, 4, 'nothing is sent after close');
  },
);

void t.test('a burst of status lines is coalesced and the latest one wins', { skip: !haveTools }, async (t) => {
  const listener = await listen();
  t.teardown(() => void listener.child.kill());
  const notifier = createSystemdNotifier(captureLog().log, {
    env: { PATH: process.env.PATH, NOTIFY_SOCKET: listener.path },
  });
  for (let i = 1; i <= 50; i++) notifier.status(`objects ${i}`);
  await notifier.close();
  await until(() => listener.messages.includes('STATUS=objects 50'), 'last status');
  const statuses = listener.messages.filter((m) => m.startsWith('STATUS='));
  t.ok(statuses.length < 50, `coalesced: ${statuses.length} of 50 sent`);
  t.equal(listener.messages.filter((m) => m.startsWith('STATUS=')).at(-1), 'STATUS=objects 50');
});

void t.test('a missing systemd-notify is logged once and never throws', async (t) => {
  const { log, lines } = captureLog();
  const notifier = createSystemdNotifier(log, {
    env: { NOTIFY_SOCKET: '/nonexistent/notify.sock' },
    binary: '/nonexistent/systemd-notify',
  });
  notifier.ready();
  notifier.watchdog();
  await notifier.close();
  log.flush();
  await until(() => lines().length > 0, 'the error log line');
  const errors = lines().filter((l) => l.msg === 'systemd notification failed');
  t.equal(errors.length, 1);
  t.match(errors[0], { level: 'error', binary: '/nonexistent/systemd-notify' });
});
