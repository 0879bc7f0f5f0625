// The packaged unit under a real systemd 252 (PID 1 in a systemd-nspawn container): the .deb built from
// this checkout is installed, configured against moto on the host's loopback (shared network) with the
// pinned rclone, and driven with systemctl as an operator would. Run by .ci/run (root, Debian) as its
// own step: `npm run test:systemd`. Without root or systemd-nspawn it is skipped, saying why.
// Logs (console, journal, moto) are kept and their folder printed when anything fails.
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import t from 'tap';
import { queueCounts } from '../../shared/queue-counts.ts';
import { pinnedRcloneBinary } from '../../scripts/rclone-pin.ts';
import {
  createResources,
  freePort,
  localClients,
  startLocalStack,
  type LocalStack,
} from '../../scripts/local-stack.ts';
import { VERSION } from '../../shared/version.ts';
import { batch, content, enqueue, putObject, sha256, sha256Of, takeAll } from '../helpers/queues.ts';
import { waitFor } from '../helpers/worker-process.ts';
import { Container, missingPrerequisite, rootTarball, run } from './container.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const UNIT = 'rclone-migrate.service';
const DROPINS = '/etc/systemd/system/rclone-migrate.service.d';
const WATCHDOG_SECONDS = 3;
const MiB = 1024 * 1024;

const skip = missingPrerequisite();
if (skip) {
  t.plan(0, `systemd unit test skipped: ${skip}`);
  process.exit(0);
}

const logDir = mkdtempSync('/var/tmp/rclone-migrate-systemd-');
t.comment(`logs: ${logDir}`);

/** The .deb built from this checkout (RCLONE_MIGRATE_SYSTEMD_DEB: one already built, while developing). */
function buildDeb(): string {
  const given = process.env.RCLONE_MIGRATE_SYSTEMD_DEB;
  if (given) return given;
  const built = run(process.execPath, [join(ROOT, 'scripts', 'package.ts'), '--skip-rpm'], 15 * 60_000);
  writeFileSync(join(logDir, 'package.log'), built.out);
  if (built.status !== 0) throw new Error(`npm run package failed (log in ${logDir}/package.log)`);
  const arch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  return join(ROOT, 'dist', `rclone-migrate_${VERSION}_${arch}.deb`);
}

const deb = buildDeb();
const rclone = pinnedRcloneBinary();
if (!existsSync(rclone)) throw new Error(`the pinned rclone is missing at ${rclone}: run under scripts/with-tools.ts`);
const stack: LocalStack = await startLocalStack();
const { s3, sqs } = localClients(stack);
const res = await createResources(stack, { name: 'unit' });
const metricsPort = await freePort();
const tarball = rootTarball((line) => t.comment(line));

const container = await Container.boot(tarball, logDir, (root) => {
  copyFileSync(deb, join(root, 'root', 'rclone-migrate.deb'));
  // Where the unit's PATH finds it (rclone.binary defaults to `rclone`).
  copyFileSync(rclone, join(root, 'usr', 'local', 'bin', 'rclone'));
  chmodSync(join(root, 'usr', 'local', 'bin', 'rclone'), 0o755);
  // READY=1 and WATCHDOG=1 reach the journal only at debug level, and only without rate limiting.
  mkdirSync(join(root, 'etc', 'systemd', 'journald.conf.d'), { recursive: true });
  writeFileSync(
    join(root, 'etc', 'systemd', 'journald.conf.d', 'test.conf'),
    '[Journal]\nRateLimitIntervalSec=0\nRateLimitBurst=0\n',
  );
});
t.teardown(async () => {
  writeFileSync(join(logDir, 'journal.txt'), container.exec(['journalctl', '--no-pager', '-o', 'short-precise']).out);
  await container.stop();
  await stack.stop();
  rmSync(container.root, { recursive: true, force: true });
  if (t.passing()) rmSync(logDir, { recursive: true, force: true });
  else console.error(`# systemd unit test failed: logs kept in ${logDir}`);
});

container.must(['systemd-analyze', 'log-level', 'debug']);
container.must(['dpkg', '-i', '/root/rclone-migrate.deb'], 120_000);

const inRoot = (path: string) => join(container.root, path);
writeFileSync(
  inRoot('etc/rclone-migrate/config.json'),
  JSON.stringify({
    queue: {
      url: res.queueUrl,
      deadLetterUrl: res.deadLetterUrl,
      waitSeconds: 2,
      visibilitySeconds: 20,
      heartbeatSeconds: 5,
    },
    worker: { retryDelaySeconds: 0, maxMessagesInFlight: 2 },
    rclone: { children: 2, flags: ['--bwlimit', '2M'] },
    dest: { rcloneOptions: { no_head: 'true' } },
    metrics: { port: metricsPort },
    fleet: { enabled: 'off' },
    log: { level: 'debug' },
  }),
);
// moto's test credentials (the destination's "default chain"); the source keys come from moto's Secrets Manager.
writeFileSync(
  inRoot('etc/rclone-migrate/environment'),
  Object.entries(stack.env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n') + '\n',
);
// A short watchdog keeps the watchdog checks short; TimeoutAbortSec ends a hung (stopped) daemon at once.
// These machines lack CAP_SYS_RESOURCE, so the unit's LimitNOFILE=65536 cannot be granted inside.
mkdirSync(inRoot(DROPINS), { recursive: true });
writeFileSync(
  inRoot(`${DROPINS}/test.conf`),
  `[Service]\nWatchdogSec=${WATCHDOG_SECONDS}s\nTimeoutAbortSec=5s\nLimitNOFILE=20000\n`,
);
container.must(['systemctl', 'daemon-reload']);

// --- what the tests read ---------------------------------------------------------------------------

function show(...props: string[]): Record<string, string> {
  const out = container.must(['systemctl', 'show', UNIT, ...props.map((p) => `--property=${p}`)]);
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/**
 * Journal lines about the unit since a moment (ms since the epoch): systemd's own (UNIT=) and those of
 * the unit's processes (_SYSTEMD_UNIT=). One match per query, and a time rather than a line count or a
 * cursor for "since": journalctl 252 merging -u's matches can skip entries.
 */
function journal(sinceMs = 0, who: 'systemd' | 'daemon' | 'both' = 'both'): string[] {
  const query = (match: string) =>
    container
      .exec(['journalctl', match, `--since=@${(sinceMs / 1000).toFixed(3)}`, '--no-pager', '-o', 'short-precise'])
      .out.split('\n')
      .filter((l) => l && !l.startsWith('-- '));
  return [
    ...(who === 'daemon' ? [] : query(`UNIT=${UNIT}`)),
    ...(who === 'systemd' ? [] : query(`_SYSTEMD_UNIT=${UNIT}`)),
  ];
}

type Proc = { hostPid: number; pid: number; ppid: number; comm: string; cmdline: string; status: string };

/** The container's processes, seen from the host (host PID and the PID inside). */
function processes(): Proc[] {
  const ns = readlinkNs(container.initPid);
  const all: Array<Proc & { hostPpid: number }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkNs(Number(entry)) !== ns) continue;
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      const nspid = /^NSpid:\s+(.+)$/m.exec(status)?.[1]?.trim().split(/\s+/) ?? [];
      all.push({
        hostPid: Number(entry),
        pid: Number(nspid[nspid.length - 1]),
        hostPpid: Number(/^PPid:\s+(\d+)/m.exec(status)?.[1]),
        ppid: 0,
        comm: readFileSync(`/proc/${entry}/comm`, 'utf8').trim(),
        cmdline: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim(),
        status,
      });
    } catch {
      // gone meanwhile
    }
  }
  for (const p of all) p.ppid = all.find((q) => q.hostPid === p.hostPpid)?.pid ?? 0;
  return all;
}

function readlinkNs(pid: number): string {
  return run('readlink', [`/proc/${pid}/ns/pid`]).out.trim();
}

function mainProcess(): Proc {
  const pid = Number(show('MainPID').MainPID);
  const found = processes().find((p) => p.pid === pid);
  if (!pid || !found) throw new Error(`no main process (MainPID=${pid})`);
  return found;
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}

let seeded = 0;
/** A batch of `count` objects of `size` bytes on the source and its message on the queue. */
async function seed(count: number, size: number): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    const key = `obj-${seeded++}`;
    await putObject(s3, res.sourceBucket, key, content(size, key));
    keys.push(key);
  }
  await enqueue(
    sqs,
    res.queueUrl,
    batch(
      res,
      keys.map((key) => ({ key, size })),
    ),
  );
  return keys;
}
const sizes = new Map<string, number>();
async function seedSized(count: number, size: number): Promise<string[]> {
  const keys = await seed(count, size);
  for (const k of keys) sizes.set(k, size);
  return keys;
}
async function notCopied(keys: string[]): Promise<string[]> {
  const bad: string[] = [];
  for (const key of keys) {
    if ((await sha256Of(s3, res.destBucket, key)) !== sha256(content(sizes.get(key) ?? 0, key))) bad.push(key);
  }
  return bad;
}
async function queueEmpty(): Promise<boolean> {
  const c = await queueCounts(sqs, res.queueUrl);
  return c.visible === 0 && c.inFlight === 0 && c.delayed === 0;
}
const DENIAL = /denied|not permitted|EACCES|EPERM|SECCOMP|audit/i;
/** How systemd says it killed a process of the unit (seen for real when the watchdog fires, below). */
const KILLED = /Killing process|remains running|SIGKILL|signal=KILL/;

// --- the tests -------------------------------------------------------------------------------------

t.test('systemctl start returns only after READY=1, with the daemon named rclone-migrate', async (t) => {
  const before = Date.now();
  const started = container.exec(['systemctl', 'start', UNIT], 150_000);
  t.equal(started.status, 0, `systemctl start exits 0 ${started.out}`);
  const state = show('ActiveState', 'SubState');
  t.same(state, { ActiveState: 'active', SubState: 'running' }, 'active (running) as soon as start returns');
  // Answered at once, with no retry: READY=1 comes only once the children are up and /metrics listens.
  t.equal(await metric('rclone_migrate_rclone_children_up'), 2, '/metrics answers and both children are up');
  t.match(journal(before, 'systemd').join('\n'), /READY=1/, 'systemd got READY=1');
  const main = mainProcess();
  t.equal(main.comm, 'rclone-migrate', '/proc/MAINPID/comm');
  const status = container.exec(['systemctl', 'status', '--no-pager', UNIT]).out;
  t.match(status, new RegExp(`Main PID: ${main.pid} \\(rclone-migrate\\)`), 'systemctl status names it');
});

t.test('the STATUS line says what the daemon is doing', async (t) => {
  const line = await waitFor('a STATUS line', () => show('StatusText').StatusText || undefined, 30_000);
  t.match(line, /^2\/2 rclone children up, \d+ messages? in flight, [\d,]+ objects copied, [\d.]+ objects\/s$/);
});

t.test('the rclone children run as the service user, sandboxed, and copy with no denial', async (t) => {
  const keys = await seedSized(4, 64 * 1024);
  const main = mainProcess();
  const uid = container.must(['id', '-u', 'rclone-migrate']).trim();
  const children = processes().filter((p) => p.ppid === main.pid && p.cmdline.includes(' rcd'));
  t.equal(children.length, 2, 'two rclone rcd children of the main process');
  for (const p of [main, ...children]) {
    const field = (name: string) => new RegExp(`^${name}:\\s+(.+)$`, 'm').exec(p.status)?.[1]?.trim() ?? '';
    t.equal(field('Uid').split(/\s+/)[0], uid, `${p.comm} ${p.pid} runs as rclone-migrate (uid ${uid})`);
    t.equal(field('NoNewPrivs'), '1', `${p.comm} ${p.pid}: NoNewPrivileges`);
    t.equal(field('Seccomp'), '2', `${p.comm} ${p.pid}: system call filter`);
    t.equal(field('CapEff'), '0000000000000000', `${p.comm} ${p.pid}: no capabilities`);
  }
  await waitFor('the batch copied', () => queueEmpty(), 60_000);
  t.same(await notCopied(keys), [], 'every object byte-identical');
  const denials = journal().filter((l) => DENIAL.test(l));
  t.same(denials, [], 'no denial in the journal');
});

t.test('the watchdog stays quiet over several intervals and fires on a stopped daemon', async (t) => {
  const { NRestarts: restarts, MainPID: pid } = show('NRestarts', 'MainPID');
  const before = Date.now();
  // The daemon pings at half the interval: eight pings span four intervals.
  await waitFor(
    'eight watchdog pings',
    () => journal(before, 'systemd').filter((l) => /WATCHDOG=1/.test(l)).length >= 8,
    WATCHDOG_SECONDS * 8 * 1000,
    500,
  );
  t.notMatch(journal(before, 'systemd').join('\n'), /[Ww]atchdog timeout/, 'no watchdog timeout');
  t.same(show('NRestarts', 'MainPID'), { NRestarts: restarts, MainPID: pid }, 'same process, no restart');

  const stopped = Date.now();
  process.kill(mainProcess().hostPid, 'SIGSTOP');
  const fired = await waitFor(
    'the watchdog to fire',
    () => journal(stopped, 'systemd').find((l) => /[Ww]atchdog timeout/.test(l)),
    30_000,
    500,
  );
  t.match(fired, /Watchdog timeout \(limit 3s\)/, 'systemd saw the watchdog time out');
  await waitFor('the kill logged', () => journal(stopped, 'systemd').some((l) => KILLED.test(l)), 10_000, 500);
  t.pass('systemd logs its kill in words the stop test looks for');
  const after = await waitFor(
    'a restart after the watchdog',
    () => {
      const s = show('NRestarts', 'MainPID', 'ActiveState', 'SubState');
      return s.NRestarts !== restarts && s.MainPID !== pid && s.SubState === 'running' ? s : undefined;
    },
    60_000,
  );
  t.equal(Number(after.NRestarts), Number(restarts) + 1, 'restarted once');
});

t.test('systemctl stop with messages in flight drains, exits 0, kills no child, strands nothing', async (t) => {
  const keys = [...(await seedSized(2, 3 * MiB)), ...(await seedSized(2, 3 * MiB)), ...(await seedSized(2, 3 * MiB))];
  await waitFor('copies in flight', async () => (await metric('rclone_migrate_copies_in_flight')) > 0, 30_000);
  const before = Date.now();
  const stop = container.exec(['systemctl', 'stop', UNIT], 200_000);
  t.equal(stop.status, 0, `systemctl stop exits 0 ${stop.out}`);
  const lines = journal(before);
  const text = lines.join('\n');
  t.match(text, /"msg":"drained"/, 'the daemon drained');
  t.same(show('Result', 'ExecMainCode', 'ExecMainStatus'), {
    Result: 'success',
    ExecMainCode: '1',
    ExecMainStatus: '0',
  });
  t.same(
    lines.filter((l) => KILLED.test(l)),
    [],
    'systemd killed no process of the unit',
  );
  const counts = await queueCounts(sqs, res.queueUrl);
  t.equal(counts.inFlight, 0, 'no message left invisible (ApproximateNumberOfMessagesNotVisible 0)');
  const waiting = counts.visible + counts.delayed;
  const done = keys.length - (await notCopied(keys)).length;
  t.ok(done >= 2 && done + waiting * 2 === keys.length, `${done} objects copied, ${waiting} messages still queued`);
});

t.test('kill -9 restarts the daemon and the work completes', async (t) => {
  t.equal(container.exec(['systemctl', 'start', UNIT], 150_000).status, 0, 'started again');
  const keys = await seedSized(2, 6 * MiB);
  const all = [...sizes.keys()];
  const { NRestarts: restarts } = show('NRestarts');
  await waitFor(
    'copies in flight',
    async () => {
      if ((await metric('rclone_migrate_copies_in_flight')) > 0) return true;
      t.comment(JSON.stringify(await queueCounts(sqs, res.queueUrl)));
      return false;
    },
    30_000,
    1000,
  );
  const victim = mainProcess();
  process.kill(victim.hostPid, 'SIGKILL');
  await waitFor(
    'a restart after kill -9',
    () => {
      const s = show('NRestarts', 'MainPID', 'SubState');
      return Number(s.NRestarts) > Number(restarts) && Number(s.MainPID) !== victim.pid && s.SubState === 'running';
    },
    60_000,
  );
  await waitFor('every message done', () => queueEmpty(), 180_000, 1000);
  t.same(await notCopied([...keys, ...all]), [], 'every object byte-identical');
  t.same(await takeAll(sqs, res.deadLetterUrl, 0), [], 'nothing dead-lettered');
});

t.test('exit 2 (a configuration error) does not restart; exit 1 does', async (t) => {
  const bad = (env: string) => {
    writeFileSync(inRoot(`${DROPINS}/fault.conf`), `[Service]\nEnvironment=${env}\n`);
    container.must(['systemctl', 'daemon-reload']);
  };
  container.exec(['systemctl', 'stop', UNIT], 200_000);
  bad('RCLONE_MIGRATE_RCLONE_CHILDREN=0');
  t.not(container.exec(['systemctl', 'start', UNIT], 60_000).status, 0, 'start fails on a bad setting');
  t.same(
    show('ExecMainStatus', 'Result', 'ActiveState', 'SubState'),
    { ExecMainStatus: '2', Result: 'exit-code', ActiveState: 'failed', SubState: 'failed' },
    'exit 2: failed, not waiting to restart (SubState would be auto-restart)',
  );
  container.exec(['systemctl', 'reset-failed', UNIT]);

  // Secrets Manager unreachable at start-up is a transient failure: exit 1.
  bad('AWS_ENDPOINT_URL_SECRETS_MANAGER=http://127.0.0.1:9');
  container.exec(['systemctl', 'start', UNIT], 60_000);
  const restarting = await waitFor(
    'an automatic restart after exit 1',
    () => {
      const s = show('ExecMainStatus', 'NRestarts', 'SubState');
      return s.ExecMainStatus === '1' && Number(s.NRestarts) >= 1 ? s : undefined;
    },
    60_000,
  );
  t.ok(Number(restarting.NRestarts) >= 1, `exit 1: restarted (${restarting.NRestarts} times)`);
  rmSync(inRoot(`${DROPINS}/fault.conf`));
  container.must(['systemctl', 'daemon-reload']);
  await waitFor('running again once fixed', () => show('SubState').SubState === 'running', 60_000);
  t.pass('running again with the fault removed, without an operator');
});
