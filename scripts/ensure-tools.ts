// Makes sure the external tools the demo, the benchmarks and the tests run against are there: the
// pinned rclone (scripts/rclone-pin.ts), moto's server (installed with pip, or into a private virtualenv
// where the system Python refuses pip installs) and the Ceph daemons scripts/ceph-rgw.ts runs (apt-get). Where it cannot install, it says
// exactly what to run instead of letting a later step fail obscurely.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { CEPH_PACKAGES, missingCephBinaries } from './ceph-rgw.ts';
import { ensurePinnedRclone } from './rclone-pin.ts';

/** The moto release DESIGN.md's facts were verified with. */
export const MOTO_REQUIREMENT = 'moto[server]==5.2.1';

/** Where moto is installed when the system Python is externally managed (PEP 668). .ci/run uses the same. */
export function motoVenvDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(cache, 'rclone-migrate', 'moto-venv');
}

type Say = (line: string) => void;

type Run = { ok: boolean; output: string };

function run(command: string, args: readonly string[], timeoutMs = 600_000): Run {
  const res = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: timeoutMs,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const output = `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? String(res.error) : ''}`;
  return { ok: !res.error && res.status === 0, output };
}

const tail = (text: string, lines = 15) => text.trim().split('\n').slice(-lines).join('\n');

const isRoot = () => process.getuid?.() === 0;

function prependPath(dir: string): void {
  const parts = (process.env.PATH ?? '').split(delimiter);
  if (!parts.includes(dir)) process.env.PATH = [dir, ...parts].join(delimiter);
}

export function motoInstructions(venv = motoVenvDir()): string {
  return [
    "moto_server (moto's local AWS server) is not installed and could not be installed automatically.",
    'Install it with one of these, then run this again:',
    `  python3 -m pip install '${MOTO_REQUIREMENT}'`,
    `  python3 -m venv ${venv} && ${venv}/bin/pip install '${MOTO_REQUIREMENT}' && export PATH=${venv}/bin:$PATH`,
    '  (on Debian/Ubuntu the venv module comes with: sudo apt-get install -y python3-venv)',
  ].join('\n');
}

const motoWorks = () => run('moto_server', ['--help'], 30_000).ok;

/** Directories pip may have put moto_server in that are not on PATH. */
function pipScriptDirs(): string[] {
  const r = run('python3', [
    '-c',
    "import sysconfig, site; print(sysconfig.get_path('scripts')); print(site.USER_BASE)",
  ]);
  if (!r.ok) return [];
  const [scripts, userBase] = r.output.trim().split('\n');
  return [scripts, userBase ? join(userBase, 'bin') : undefined].filter((d): d is string => Boolean(d));
}

/** Makes moto_server runnable by this process and its children (may prepend to process.env.PATH). */
export function ensureMoto(say: Say): void {
  if (motoWorks()) return;
  const venv = motoVenvDir();
  const venvBin = join(venv, 'bin');
  if (existsSync(join(venvBin, 'moto_server'))) {
    prependPath(venvBin);
    if (motoWorks()) return;
  }
  if (!run('python3', ['--version'], 10_000).ok)
    throw new Error(`python3 is not installed.\n\n${motoInstructions(venv)}`);

  say(`moto_server is missing: trying python3 -m pip install '${MOTO_REQUIREMENT}'`);
  const pip = run('python3', ['-m', 'pip', 'install', '--quiet', MOTO_REQUIREMENT]);
  if (pip.ok) {
    if (motoWorks()) return;
    for (const dir of pipScriptDirs()) {
      if (existsSync(join(dir, 'moto_server'))) prependPath(dir);
    }
    if (motoWorks()) return;
  } else {
    const why = pip.output.split('\n').find((l) => /externally-managed|error/i.test(l)) ?? tail(pip.output, 1);
    say(`pip install did not work (${why.trim()}); installing into a virtualenv at ${venv}`);
  }

  let created = run('python3', ['-m', 'venv', venv]);
  if (!created.ok && isRoot() && run('apt-get', ['--version'], 10_000).ok) {
    say('python3 -m venv failed: installing python3-venv with apt-get');
    if (!run('apt-get', ['install', '-y', 'python3-venv']).ok) run('apt-get', ['update']);
    run('apt-get', ['install', '-y', 'python3-venv']);
    created = run('python3', ['-m', 'venv', venv]);
  }
  if (!created.ok)
    throw new Error(`python3 -m venv ${venv} failed:\n${tail(created.output)}\n\n${motoInstructions(venv)}`);
  const install = run(join(venvBin, 'python'), ['-m', 'pip', 'install', '--quiet', MOTO_REQUIREMENT]);
  if (!install.ok)
    throw new Error(`pip install into ${venv} failed:\n${tail(install.output)}\n\n${motoInstructions(venv)}`);
  prependPath(venvBin);
  if (!motoWorks()) throw new Error(`moto_server still does not run after installing it.\n\n${motoInstructions(venv)}`);
}

/** Both tools, with one line each saying what was found. */
export function ensureTools(say: Say): { rclone: string } {
  const rclone = ensurePinnedRclone(say).version;
  ensureMoto(say);
  return { rclone };
}

/** Makes the Ceph daemons the RGW stand-in (scripts/ceph-rgw.ts) runs available: apt-get as root, else instructions. */
export function ensureCeph(say: Say): void {
  if (missingCephBinaries().length === 0) return;
  const install = `apt-get install -y --no-install-recommends ${CEPH_PACKAGES.join(' ')}`;
  const instructions = `Install them with: sudo ${install}   (Debian/Ubuntu; Ceph 16 on Debian 12 is what the tests were verified with)`;
  if (!isRoot() || !run('apt-get', ['--version'], 10_000).ok)
    throw new Error(
      `Ceph (${missingCephBinaries().join(', ')}) is missing and cannot be installed from here.\n${instructions}`,
    );
  say(`Ceph is missing (${missingCephBinaries().join(', ')}): running ${install}`);
  const args = ['install', '-y', '--no-install-recommends', ...CEPH_PACKAGES];
  let r = run('apt-get', args, 1_200_000);
  if (!r.ok) {
    run('apt-get', ['update'], 600_000);
    r = run('apt-get', args, 1_200_000);
  }
  const still = missingCephBinaries();
  if (!r.ok || still.length)
    throw new Error(
      `installing Ceph failed (still missing: ${still.join(', ') || 'none'}):\n${tail(r.output)}\n${instructions}`,
    );
}
