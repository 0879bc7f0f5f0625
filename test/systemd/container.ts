// A real systemd 252 as PID 1 in a systemd-nspawn container, for the unit test under systemd
// (test/systemd/unit.systemd.ts). The root is a debootstrap minbase of Debian 12 from the mirror the
// machine's own apt sources name, cached as a tarball under ~/.cache/rclone-migrate; the host network
// is shared, so moto on 127.0.0.1 is reachable from inside. Commands run in the container with
// nsenter into its PID 1 (machinectl and `systemd-run -M` need machined and D-Bus, absent here).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { aptSourceTexts, debianMirror } from '../../scripts/rclone-pin.ts';

const SUITE = 'bookworm';
const INCLUDE = 'systemd,systemd-sysv,dbus,ca-certificates,libstdc++6';
/** Raise when the root's recipe below changes, so a cached tarball of the old recipe is not reused. */
const RECIPE = `minbase ${SUITE} ${INCLUDE} v1`;

export const SYSTEMD_PACKAGES = ['systemd-container', 'debootstrap'];

type Run = { status: number; out: string };

export function run(cmd: string, args: readonly string[], timeoutMs = 120_000, input?: string): Run {
  const res = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, input });
  const out = `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? String(res.error) : ''}`;
  return { status: res.error ? 127 : (res.status ?? 1), out };
}

/** Why a systemd container cannot run here, or undefined when it can. */
export function missingPrerequisite(): string | undefined {
  if (process.platform !== 'linux') return `needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'needs root (systemd-nspawn boots a container); run as root, as CI does';
  for (const tool of ['systemd-nspawn', 'debootstrap', 'nsenter', 'tar']) {
    if (run('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      return `${tool} not found: apt-get install -y --no-install-recommends ${SYSTEMD_PACKAGES.join(' ')}`;
    }
  }
  if (!debianMirror(aptSourceTexts())) return "no Debian mirror in the machine's apt sources (debootstrap needs one)";
  return undefined;
}

function cacheDir(): string {
  const dir = join(process.env.XDG_CACHE_HOME || join(process.env.HOME || homedir(), '.cache'), 'rclone-migrate');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The cached root tarball, built once (about a minute) with debootstrap. */
export function rootTarball(say: (line: string) => void): string {
  const hash = createHash('sha256').update(RECIPE).digest('hex').slice(0, 10);
  const tarball = join(cacheDir(), `systemd-root-${SUITE}-${hash}.tar`);
  if (existsSync(tarball)) return tarball;
  const mirror = debianMirror(aptSourceTexts());
  if (!mirror) throw new Error("no Debian mirror in the machine's apt sources");
  const work = mkdtempSync(join(cacheDir(), 'systemd-root-build-'));
  try {
    const root = join(work, 'root');
    say(`debootstrap --variant=minbase ${SUITE} from ${mirror} (once; cached as ${tarball})`);
    const boot = run('debootstrap', ['--variant=minbase', `--include=${INCLUDE}`, SUITE, root, mirror], 15 * 60_000);
    if (boot.status !== 0) throw new Error(`debootstrap failed (exit ${boot.status}):\n${boot.out.slice(-4000)}`);
    const tar = run('tar', ['-C', root, '-cf', join(work, 'root.tar'), '.'], 10 * 60_000);
    if (tar.status !== 0) throw new Error(`tar of the root failed: ${tar.out}`);
    renameSync(join(work, 'root.tar'), tarball);
    return tarball;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function parentOf(pid: string): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Host PIDs of the direct children of a process. */
export function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e) && parentOf(e) === pid)
    .map(Number);
}

export class Container {
  readonly name: string;
  readonly root: string;
  readonly #nspawn: ChildProcess;
  readonly #exited: Promise<void>;
  #init = 0;

  private constructor(name: string, root: string, nspawn: ChildProcess) {
    this.name = name;
    this.root = root;
    this.#nspawn = nspawn;
    this.#exited = new Promise((resolve) => nspawn.once('exit', () => resolve()));
  }

  /** Unpacks the root into `dir/root`, applies `prepare` to it, boots it; console output to `dir/console.log`. */
  static async boot(tarball: string, dir: string, prepare: (root: string) => void): Promise<Container> {
    const root = join(dir, 'root');
    mkdirSync(root, { recursive: true });
    const untar = run('tar', ['-C', root, '-xf', tarball], 10 * 60_000);
    if (untar.status !== 0) throw new Error(`unpacking ${tarball} failed: ${untar.out}`);
    prepare(root);
    const name = `rclone-migrate-test-${process.pid}`;
    const consoleLog = createWriteStream(join(dir, 'console.log'));
    const nspawn = spawn(
      'systemd-nspawn',
      // Without --register=no --keep-unit it stops with "Failed to open system bus" (no machined here).
      ['-D', root, '-M', name, '--boot', '--register=no', '--keep-unit', '--console=read-only', '--link-journal=no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    nspawn.stdout?.pipe(consoleLog);
    nspawn.stderr?.pipe(consoleLog);
    const container = new Container(name, root, nspawn);
    try {
      await container.#waitForInit();
      await container.#waitRunning();
    } catch (err) {
      await container.stop();
      throw err;
    }
    return container;
  }

  /** Host PID of the container's PID 1 (systemd), a child of systemd-nspawn. */
  get initPid(): number {
    return this.#init;
  }

  async #waitForInit(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.#nspawn.exitCode !== null) throw new Error(`systemd-nspawn exited with ${this.#nspawn.exitCode}`);
      const init = childrenOf(this.#nspawn.pid as number).find((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'systemd';
        } catch {
          return false;
        }
      });
      if (init) {
        this.#init = init;
        return;
      }
      await sleep(100);
    }
    throw new Error('the container did not start systemd within 30 s');
  }

  async #waitRunning(): Promise<void> {
    // is-system-running --wait fails until the container's bus is up: retry it (bounded).
    const deadline = Date.now() + 90_000;
    let last = '';
    while (Date.now() < deadline) {
      const res = this.exec(['systemctl', 'is-system-running', '--wait'], 60_000);
      last = res.out.trim();
      if (/^(running|degraded)$/m.test(last)) return;
      await sleep(500);
    }
    throw new Error(`systemd in the container did not finish booting within 90 s: ${last}`);
  }

  /** Runs a command inside the container (its mount, UTS, IPC and PID namespaces; the host network). */
  exec(command: readonly string[], timeoutMs = 60_000, input?: string): Run {
    return run(
      'nsenter',
      ['--target', String(this.#init), '--mount', '--uts', '--ipc', '--pid', '--', ...command],
      timeoutMs,
      input,
    );
  }

  /** exec that throws with the output when the command fails. */
  must(command: readonly string[], timeoutMs = 60_000): string {
    const res = this.exec(command, timeoutMs);
    if (res.status !== 0)
      throw new Error(`${command.join(' ')} failed in the container (exit ${res.status}):\n${res.out}`);
    return res.out;
  }

  /** Powers the container off (SIGTERM to nspawn), then SIGKILL to nspawn and the init by PID if it lingers. */
  async stop(): Promise<void> {
    const alive = () => this.#nspawn.exitCode === null && this.#nspawn.signalCode === null;
    if (alive()) this.#nspawn.kill('SIGTERM');
    await Promise.race([this.#exited, sleep(20_000)]);
    if (alive()) {
      if (this.#init) {
        try {
          process.kill(this.#init, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      this.#nspawn.kill('SIGKILL');
      await Promise.race([this.#exited, sleep(5000)]);
    }
  }
}
