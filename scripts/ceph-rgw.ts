#!/usr/bin/env node
// The project's Ceph RGW stand-in: a real single-node Ceph (one mon, one memstore OSD, radosgw) on
// 127.0.0.1, a second S3-compatible store that is not moto. Every instance is isolated (own fsid,
// folder, mon port, admin sockets, keyring, RGW port), so several run at once. Library:
// `startCephRgw(options)`; CLI: `node scripts/ceph-rgw.ts start|stop|status [--dir DIR]`.
//
// Settings that matter (verified on Debian 12, Ceph 16; see issue 9 and DESIGN.md):
// - `ms mon client mode = crc secure`: without it radosgw hangs 300 s on get_initial_auth_request -13.
// - cephx off inside the cluster; RGW's own S3 SigV4 check stays on (a wrong secret is refused).
// - pool size 1, chooseleaf type 0, small pg num, autoscaler off: one OSD must serve every pool.
// - `tcp_nodelay=1` on beast: without it every GET stalls ~40 ms (Nagle against delayed ACK).
// - pools created up front: RGW's first requests would otherwise create them one by one.
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from './local-stack.ts';

export type CephRgwOptions = {
  /** Folder for this instance (created; must be empty or absent). Default: a fresh one under the temp dir. */
  dir?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  /** memstore's capacity; memory is used only as data is written. */
  memstoreBytes?: number;
  /** Extra `[client.rgw]` settings (name → value), e.g. the bench's prompt garbage collection. */
  rgwSettings?: Record<string, string>;
  /** Bound on the whole start, in ms. */
  timeoutMs?: number;
  say?: (line: string) => void;
  /**
   * Default true: the daemons get SIGTERM when this process dies, even by SIGKILL (util-linux
   * `setpriv --pdeathsig`), so a killed test run leaves none behind. The CLI's `start` sets false: its
   * daemons outlive it until `stop`.
   */
  tiedToParent?: boolean;
};

export type CephRgwPids = { mon: number; osd: number; rgw: number };

export type CephRgw = {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** What S3 clients should sign with (RGW accepts any; GetBucketLocation answers its zonegroup, `default`). */
  region: string;
  dir: string;
  /** Admin sockets and PID files: `dir`/run, or a short folder of its own where that path is too long for a socket. */
  runDir?: string;
  fsid: string;
  pids: CephRgwPids;
  /** Ends the three daemons by PID (SIGTERM, then SIGKILL after a bound) and removes the folder. */
  stop(options?: { keepDir?: boolean }): Promise<void>;
};

/** What `start` writes to DIR/state.json and `status`/`stop` read back. */
export type CephRgwState = Omit<CephRgw, 'stop'>;

export const CEPH_PACKAGES = ['ceph-mon', 'ceph-osd', 'radosgw', 'ceph-common'] as const;
const CEPH_BINARIES = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'ceph', 'monmaptool', 'ceph-authtool'];
export const CEPH_DEFAULT_KEYS = {
  accessKeyId: 'CEPHTESTACCESSKEY000',
  secretAccessKey: 'ceph-test-secret-key-0000000000000000',
};
export const CEPH_REGION = 'us-east-1';

/** The pools RGW's default zone uses, created before radosgw starts. */
const RGW_POOLS = [
  '.rgw.root',
  'default.rgw.control',
  'default.rgw.meta',
  'default.rgw.log',
  'default.rgw.buckets.index',
  'default.rgw.buckets.data',
  'default.rgw.buckets.non-ec',
];

export function missingCephBinaries(): string[] {
  return CEPH_BINARIES.filter((b) => {
    const r = spawnSync('sh', ['-c', `command -v ${b}`], { stdio: 'ignore' });
    return r.status !== 0;
  });
}

/** The ceph.conf of one instance: everything under `dir`, loopback only. Pure, for tests. */
export function cephConf(p: {
  fsid: string;
  dir: string;
  runDir?: string;
  monPort: number;
  rgwPort: number;
  memstoreBytes: number;
  rgwSettings?: Record<string, string>;
}): string {
  const d = p.dir;
  const extra = Object.entries(p.rgwSettings ?? {})
    .map(([k, v]) => `${k} = ${v}\n`)
    .join('');
  return `[global]
fsid = ${p.fsid}
mon host = v2:127.0.0.1:${p.monPort}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms mon client mode = crc secure
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = true
keyring = ${d}/keyring
run dir = ${p.runDir ?? `${d}/run`}
admin socket = ${p.runDir ?? `${d}/run`}/$cluster-$name.$pid.asok
pid file = ${p.runDir ?? `${d}/run`}/$cluster-$name.pid
log file = ${d}/log/$cluster-$name.log
mon cluster log file = ${d}/log/$cluster.log
log to stderr = false
err to stderr = true
crash dir = ${d}/crash
mon data = ${d}/mon/$cluster-$id
osd data = ${d}/osd/$cluster-$id
osd objectstore = memstore
memstore device bytes = ${p.memstoreBytes}
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
osd op num shards = 2
osd op num threads per shard = 2

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${p.rgwPort} tcp_nodelay=1
rgw data = ${d}/rgw
rgw thread pool size = 64
rgw dns name =
rgw enable usage log = false
${extra}`;
}

type Run = { ok: boolean; output: string };

async function runAsync(cmd: string, args: readonly string[], timeoutMs: number): Promise<Run> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const add = (b: Buffer) => {
      if (output.length < 20_000) output += b.toString();
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = setTimeout(() => {
      output += `\n(${cmd} killed after ${timeoutMs} ms)`;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => (output += String(err)));
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ ok: code === 0, output });
    });
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM, then SIGKILL after `graceMs`; returns once every PID is gone (or after the kill). */
export async function endPids(pids: readonly number[], graceMs = 5000): Promise<void> {
  const live = pids.filter((p) => p > 0 && alive(p));
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + graceMs;
  while (live.some(alive) && Date.now() < deadline) await sleep(50);
  for (const pid of live.filter(alive)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const killDeadline = Date.now() + 2000;
  while (live.some(alive) && Date.now() < killDeadline) await sleep(20);
}

function logTail(dir: string, lines = 20): string {
  const files = [
    'ceph-mon.a.log',
    'ceph-osd.0.log',
    'ceph-client.rgw.log',
    'stderr-mon.log',
    'stderr-osd.log',
    'stderr-rgw.log',
  ];
  const parts: string[] = [];
  for (const f of files) {
    const path = join(dir, 'log', f);
    if (!existsSync(path)) continue;
    const text = readFileSync(path, 'utf8').trim();
    if (!text) continue;
    parts.push(`--- ${path} (last ${lines} lines)\n${text.split('\n').slice(-lines).join('\n')}`);
  }
  return parts.join('\n') || '(no daemon logs written)';
}

export class CephStartError extends Error {
  constructor(step: string, detail: string, dir: string) {
    super(`Ceph RGW stand-in in ${dir}: ${step}: ${detail.trim()}\n${logTail(dir)}`);
    this.name = 'CephStartError';
  }
}

let setprivWorks: boolean | undefined;
/** Whether `setpriv --pdeathsig` runs here (util-linux; it execs the daemon, so the PID stays the daemon's). */
function canTieToParent(): boolean {
  setprivWorks ??= spawnSync('setpriv', ['--pdeathsig', 'TERM', '--', 'true'], { stdio: 'ignore' }).status === 0;
  return setprivWorks;
}

/**
 * Starts a daemon in the foreground (-f) as our child, in its own process group (so a terminal's Ctrl-C
 * does not hit it before `stop` does); tied to this process's life unless `tied` is false.
 */
function daemon(dir: string, name: string, cmd: string, args: readonly string[], tied: boolean): number {
  const err = openSync(join(dir, 'log', `stderr-${name}.log`), 'a');
  const [file, argv] =
    tied && canTieToParent() ? ['setpriv', ['--pdeathsig', 'TERM', '--', cmd, ...args]] : [cmd, args];
  const child = spawn(file, argv, { stdio: ['ignore', err, err], detached: true });
  closeSync(err);
  child.unref();
  if (!child.pid) throw new CephStartError(`start ${name}`, `${cmd} did not start`, dir);
  return child.pid;
}

async function until(
  what: string,
  dir: string,
  deadline: number,
  pids: readonly number[],
  probe: () => Promise<boolean>,
): Promise<void> {
  for (;;) {
    if (await probe()) return;
    const dead = pids.filter((p) => !alive(p));
    if (dead.length) throw new CephStartError(what, `daemon PID ${dead.join(', ')} exited`, dir);
    if (Date.now() > deadline) throw new CephStartError(what, 'timed out', dir);
    await sleep(100);
  }
}

/** Starts one isolated instance; on any failure ends what it started and throws with the logs' tail. */
export async function startCephRgw(options: CephRgwOptions = {}): Promise<CephRgw> {
  const missing = missingCephBinaries();
  if (missing.length)
    throw new Error(
      `Ceph is not installed (missing ${missing.join(', ')}). Install it with: ` +
        `sudo apt-get install -y --no-install-recommends ${CEPH_PACKAGES.join(' ')}`,
    );
  const say = options.say ?? (() => {});
  const tied = options.tiedToParent ?? true;
  const started = Date.now();
  const deadline = started + (options.timeoutMs ?? 90_000);
  const dir = resolve(options.dir ?? mkdtempSync(join(tmpdir(), 'ceph-rgw-')));
  mkdirSync(dir, { recursive: true });
  for (const sub of ['run', 'log', 'mon', 'osd/ceph-0', 'rgw', 'crash']) mkdirSync(join(dir, sub), { recursive: true });
  const fsid = randomUUID();
  const accessKeyId = options.accessKeyId ?? CEPH_DEFAULT_KEYS.accessKeyId;
  const secretAccessKey = options.secretAccessKey ?? CEPH_DEFAULT_KEYS.secretAccessKey;
  const monPort = await freePort();
  let rgwPort = await freePort();
  while (rgwPort === monPort) rgwPort = await freePort();
  const conf = join(dir, 'ceph.conf');
  // A UNIX socket path holds at most 107 bytes; the longest here is ceph-client.admin.<pid>.asok (~32).
  const runDir = join(dir, 'run').length > 72 ? mkdtempSync(join(tmpdir(), 'ceph-rgw-run-')) : join(dir, 'run');
  writeFileSync(
    conf,
    cephConf({
      fsid,
      dir,
      runDir,
      monPort,
      rgwPort,
      memstoreBytes: options.memstoreBytes ?? 4 * 2 ** 30,
      rgwSettings: options.rgwSettings,
    }),
  );
  const c = ['-c', conf];
  const pids: CephRgwPids = { mon: 0, osd: 0, rgw: 0 };
  const left = () => Math.max(1000, deadline - Date.now());
  const must = async (step: string, cmd: string, args: string[]) => {
    const r = await runAsync(cmd, args, Math.min(left(), 60_000));
    if (!r.ok) throw new CephStartError(step, r.output, dir);
    return r.output;
  };
  try {
    // A keyring is still read at mkfs even with cephx off.
    await must('keyring', 'ceph-authtool', [
      '--create-keyring',
      join(dir, 'keyring'),
      '--gen-key',
      '-n',
      'mon.',
      '--cap',
      'mon',
      'allow *',
    ]);
    await must('monmap', 'monmaptool', [
      '--create',
      '--fsid',
      fsid,
      '--addv',
      'a',
      `[v2:127.0.0.1:${monPort}]`,
      join(dir, 'monmap'),
    ]);
    await must('mon mkfs', 'ceph-mon', [
      ...c,
      '--mkfs',
      '-i',
      'a',
      '--monmap',
      join(dir, 'monmap'),
      '--keyring',
      join(dir, 'keyring'),
    ]);
    pids.mon = daemon(dir, 'mon', 'ceph-mon', [...c, '-f', '-i', 'a'], tied);
    const ceph = (...args: string[]) =>
      runAsync('ceph', [...c, '--connect-timeout', '10', ...args], Math.min(left(), 30_000));
    await until('mon answering', dir, deadline, [pids.mon], async () => (await ceph('mon', 'stat')).ok);
    say(`mon up (${Date.now() - started} ms)`);

    const osdUuid = randomUUID();
    // The output may hold log lines besides the id.
    const newOsd = await must('osd new', 'ceph', [...c, 'osd', 'new', osdUuid]);
    const id = /^\s*(\d+)\s*$/m.exec(newOsd)?.[1] ?? newOsd.trim();
    if (id !== '0') throw new CephStartError('osd new', `expected OSD id 0, got ${id}`, dir);
    await must('osd mkfs', 'ceph-osd', [...c, '-i', '0', '--mkfs', '--osd-uuid', osdUuid]);
    pids.osd = daemon(dir, 'osd', 'ceph-osd', [...c, '-f', '-i', '0'], tied);
    // Pools can be created while the OSD boots; creating them in parallel saves seconds.
    const pools = await Promise.all(
      RGW_POOLS.map(async (pool) => {
        const r = await ceph('osd', 'pool', 'create', pool, '8', '8', '--autoscale-mode=off');
        if (!r.ok) return `${pool}: ${r.output}`;
        const a = await ceph('osd', 'pool', 'application', 'enable', pool, 'rgw');
        return a.ok ? '' : `${pool}: ${a.output}`;
      }),
    );
    const failed = pools.filter(Boolean);
    if (failed.length) throw new CephStartError('pool create', failed.join('\n'), dir);
    await until('osd up', dir, deadline, [pids.mon, pids.osd], async () => {
      const r = await ceph('osd', 'stat', '--format', 'json');
      if (!r.ok) return false;
      try {
        return (JSON.parse(r.output) as { num_up_osds?: number }).num_up_osds === 1;
      } catch {
        return false;
      }
    });
    say(`osd up, pools created (${Date.now() - started} ms)`);

    pids.rgw = daemon(dir, 'rgw', 'radosgw', [...c, '-f', '-n', 'client.rgw'], tied);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await until('radosgw answering', dir, deadline, [pids.mon, pids.osd, pids.rgw], async () => {
      try {
        const res = await fetch(endpoint, { signal: AbortSignal.timeout(2000) });
        await res.arrayBuffer();
        return res.status > 0;
      } catch {
        return false;
      }
    });
    // The user is created after radosgw has set up the default zone (so radosgw-admin does not race it).
    await must('user create', 'radosgw-admin', [
      ...c,
      '-n',
      'client.admin',
      'user',
      'create',
      '--uid=migrate',
      '--display-name=rclone-migrate test user',
      `--access-key=${accessKeyId}`,
      `--secret-key=${secretAccessKey}`,
    ]);
    say(`radosgw up on ${endpoint} (${Date.now() - started} ms)`);
    const state: CephRgwState = {
      endpoint,
      accessKeyId,
      secretAccessKey,
      region: CEPH_REGION,
      dir,
      runDir,
      fsid,
      pids,
    };
    writeFileSync(join(dir, 'state.json'), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    return withStop(state);
  } catch (err) {
    await endPids([pids.rgw, pids.osd, pids.mon]);
    throw err;
  }
}

export type RgwUser = { uid: string; accessKeyId: string; secretAccessKey: string };

/** The keys in `radosgw-admin user create`'s JSON answer (log lines may precede it). Pure, for tests. */
export function parseUserKeys(output: string, uid: string): RgwUser {
  const start = output.indexOf('{');
  if (start < 0) throw new Error(`radosgw-admin user create ${uid}: no JSON in its answer`);
  const answer = JSON.parse(output.slice(start)) as { keys?: Array<{ access_key?: string; secret_key?: string }> };
  const key = answer.keys?.[0];
  if (!key?.access_key || !key.secret_key) throw new Error(`radosgw-admin user create ${uid}: no S3 key in its answer`);
  return { uid, accessKeyId: key.access_key, secretAccessKey: key.secret_key };
}

/**
 * A further S3 user on a running instance, with keys radosgw-admin generates (so no secret is on a
 * command line). Two users make two stores in one RGW: neither can read the other's buckets, so a copy
 * between them cannot be a server-side one.
 */
export async function createRgwUser(rgw: Pick<CephRgwState, 'dir'>, uid: string, timeoutMs = 30_000): Promise<RgwUser> {
  if (!/^[a-z0-9-]{1,64}$/.test(uid)) throw new Error(`RGW user id must be lowercase letters, digits and '-': ${uid}`);
  const r = await runAsync(
    'radosgw-admin',
    ['-c', join(rgw.dir, 'ceph.conf'), '-n', 'client.admin', 'user', 'create', `--uid=${uid}`, `--display-name=${uid}`],
    timeoutMs,
  );
  // The answer holds the secret: it goes into no error message.
  if (!r.ok)
    throw new Error(`radosgw-admin user create ${uid} failed${/killed after/.test(r.output) ? ' (timed out)' : ''}`);
  return parseUserKeys(r.output, uid);
}

function withStop(state: CephRgwState): CephRgw {
  return {
    ...state,
    async stop(opts = {}) {
      await endPids([state.pids.rgw, state.pids.osd, state.pids.mon]);
      if (opts.keepDir) return;
      rmSync(state.dir, { recursive: true, force: true });
      if (state.runDir) rmSync(state.runDir, { recursive: true, force: true });
    },
  };
}

/** Reads a running instance's state (written by `start`) from its folder. */
export function readCephState(dir: string): CephRgwState {
  const path = join(dir, 'state.json');
  if (!existsSync(path)) throw new Error(`no Ceph RGW stand-in state at ${path}`);
  return JSON.parse(readFileSync(path, 'utf8')) as CephRgwState;
}

export function attachCephRgw(dir: string): CephRgw {
  return withStop(readCephState(dir));
}

/** The state folder the CLI uses when no --dir is given. */
export function defaultCliDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.RCLONE_MIGRATE_CEPH_DIR || join(tmpdir(), 'rclone-migrate-ceph-rgw');
}

/** The state without the secret (which stays in DIR/state.json, mode 0600). */
const printable = (s: CephRgwState) => ({ ...s, secretAccessKey: `(in ${join(s.dir, 'state.json')})` });

async function cli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const dirFlag = rest.indexOf('--dir');
  const dir = resolve((dirFlag >= 0 ? rest[dirFlag + 1] : undefined) || defaultCliDir());
  const say = (line: string) => console.error(`ceph-rgw: ${line}`);
  switch (command) {
    case 'start': {
      if (existsSync(join(dir, 'state.json'))) {
        const s = readCephState(dir);
        if (Object.values(s.pids).every(alive)) {
          say(`already running in ${dir}`);
          console.log(JSON.stringify(printable(s), null, 2));
          return 0;
        }
        rmSync(dir, { recursive: true, force: true });
      }
      await startCephRgw({ dir, say, tiedToParent: false });
      say(`state in ${dir}`);
      console.log(JSON.stringify(printable(readCephState(dir)), null, 2));
      return 0;
    }
    case 'stop': {
      if (!existsSync(join(dir, 'state.json'))) {
        say(`nothing running in ${dir}`);
        return 0;
      }
      await attachCephRgw(dir).stop();
      say(`stopped; removed ${dir}`);
      return 0;
    }
    case 'status': {
      if (!existsSync(join(dir, 'state.json'))) {
        say(`not running (no state in ${dir})`);
        return 3;
      }
      const s = readCephState(dir);
      const up = Object.entries(s.pids).map(([n, pid]) => `${n} ${pid} ${alive(pid) ? 'up' : 'DOWN'}`);
      say(`${s.endpoint} in ${dir}: ${up.join(', ')}`);
      console.log(JSON.stringify(printable(s), null, 2));
      return Object.values(s.pids).every(alive) ? 0 : 1;
    }
    default:
      console.error('usage: node scripts/ceph-rgw.ts start|stop|status [--dir DIR]');
      return 2;
  }
}

if (import.meta.main) {
  cli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`ceph-rgw: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
