// The one rclone release the project runs and tests with, fetched from Debian's packages without
// touching the machine's apt sources or upgrading anything: a private apt configuration for the
// unstable suite (on the mirror the machine already uses), `apt-get download` of that exact package
// version, its SHA-256 checked, unpacked into a cache folder. A second run reuses the cache.
// Debian 12's own rclone is 1.60.1 (2022); the 1.75 binary needs only glibc >= 2.34.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';

/** The pinned release. Raise all four together (and RcloneVersion in cloudformation/, DESIGN notes). */
export const RCLONE_PIN = {
  version: '1.75.2',
  /** Debian's package version in the suite below. */
  debianVersion: '1.75.2-2',
  suite: 'unstable',
  /** SHA-256 of rclone_1.75.2-2_amd64.deb as Debian's archive serves it (apt checks the archive's signature too). */
  debSha256: 'bf63212eb78117deff2480e757c9910c56698ea7fca63ab0e33c336c3ec9c54b',
} as const;

type Say = (line: string) => void;

/** Where the pinned release is unpacked; its binary is `<dir>/usr/bin/rclone`. */
export function rclonePinDir(env: NodeJS.ProcessEnv = process.env): string {
  const cache = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(cache, 'rclone-migrate', `rclone-${RCLONE_PIN.debianVersion}`);
}

export const pinnedRcloneBinary = (env: NodeJS.ProcessEnv = process.env): string =>
  join(rclonePinDir(env), 'usr', 'bin', 'rclone');

function run(command: string, args: readonly string[], cwd?: string, timeoutMs = 300_000) {
  const res = spawnSync(command, args, { encoding: 'utf8', cwd, timeout: timeoutMs });
  const output = `${res.stdout ?? ''}${res.stderr ?? ''}${res.error ? String(res.error) : ''}`;
  return { ok: !res.error && res.status === 0, output };
}

const tail = (text: string, lines = 12) => text.trim().split('\n').slice(-lines).join('\n');

/** `rclone version`'s first line, when the binary runs. */
export function rcloneVersionLine(binary: string): string | undefined {
  const r = run(binary, ['version'], undefined, 20_000);
  return r.ok ? r.output.split('\n')[0]?.trim() : undefined;
}

export function rclonePinInstructions(why: string): string {
  return [
    `The pinned rclone ${RCLONE_PIN.version} could not be fetched: ${why}`,
    `It comes from Debian's ${RCLONE_PIN.suite} suite (package rclone=${RCLONE_PIN.debianVersion}). Either make`,
    "apt-get and dpkg-deb available with a Debian mirror in the machine's apt sources, or install rclone",
    `${RCLONE_PIN.version} yourself (https://rclone.org/downloads/) and put its folder first on PATH.`,
  ].join('\n');
}

/**
 * The Debian archive mirror the machine's apt sources already name (deb822 `.sources` files or
 * one-line `sources.list`), skipping security and third-party archives. Pure: takes the files' texts.
 */
export function debianMirror(sourceTexts: readonly string[]): string | undefined {
  const uris: string[] = [];
  for (const text of sourceTexts) {
    for (const stanza of text.split(/\n\s*\n/)) {
      const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim();
      const types = field('Types');
      if (types !== undefined) {
        const suites = (field('Suites') ?? '').split(/\s+/);
        if (!types.split(/\s+/).includes('deb') || suites.every((s) => s.endsWith('-security'))) continue;
        const signedBy = field('Signed-By') ?? '';
        if (signedBy && !signedBy.includes('debian-archive-keyring')) continue;
        uris.push(...(field('URIs') ?? '').split(/\s+/).filter(Boolean));
      }
      for (const line of stanza.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (m?.[1] && m[2] && !m[2].endsWith('-security') && /\/debian\/?$/.test(m[1])) uris.push(m[1]);
      }
    }
  }
  return uris.find((u) => /^https?:\/\//.test(u) && /\/debian\/?$/.test(u)) ?? uris.find((u) => /^https?:\/\//.test(u));
}

export function aptSourceTexts(): string[] {
  const texts: string[] = [];
  if (existsSync('/etc/apt/sources.list')) texts.push(readFileSync('/etc/apt/sources.list', 'utf8'));
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      if (name.endsWith('.sources') || name.endsWith('.list')) texts.push(readFileSync(join(dir, name), 'utf8'));
    }
  }
  return texts;
}

const KEYRING = '/usr/share/keyrings/debian-archive-keyring.gpg';

/** Downloads and unpacks the pinned package into the cache; returns the binary. Throws with instructions. */
function fetchPinned(say: Say, env: NodeJS.ProcessEnv): string {
  for (const tool of ['apt-get', 'dpkg-deb']) {
    if (!run(tool, ['--version'], undefined, 10_000).ok) throw new Error(rclonePinInstructions(`${tool} not found`));
  }
  if (!existsSync(KEYRING)) throw new Error(rclonePinInstructions(`${KEYRING} not found`));
  const mirror = debianMirror(aptSourceTexts());
  if (!mirror) throw new Error(rclonePinInstructions("no Debian mirror in the machine's apt sources"));
  const work = mkdtempSync(join(tmpdir(), 'rclone-pin-'));
  try {
    const apt = join(work, 'apt');
    for (const d of ['lists/partial', 'cache/archives/partial', 'etc/sources.list.d', 'etc/preferences.d']) {
      mkdirSync(join(apt, d), { recursive: true });
    }
    writeFileSync(join(apt, 'etc/sources.list'), `deb [signed-by=${KEYRING}] ${mirror} ${RCLONE_PIN.suite} main\n`);
    const options = [
      `Dir::Etc::SourceList=${join(apt, 'etc/sources.list')}`,
      `Dir::Etc::SourceParts=${join(apt, 'etc/sources.list.d')}`,
      `Dir::Etc::Preferences=${join(apt, 'etc/preferences')}`,
      `Dir::Etc::PreferencesParts=${join(apt, 'etc/preferences.d')}`,
      `Dir::State::Lists=${join(apt, 'lists')}`,
      `Dir::Cache=${join(apt, 'cache')}`,
      'Acquire::Languages=none',
      // the private folders are ours; apt's download user could not write to them
      'APT::Sandbox::User=root',
      'Debug::NoLocking=true',
    ].flatMap((o) => ['-o', o]);
    say(`fetching rclone ${RCLONE_PIN.debianVersion} from Debian's ${RCLONE_PIN.suite} suite (once; cached)`);
    const update = run('apt-get', [...options, 'update']);
    if (!update.ok) throw new Error(rclonePinInstructions(`apt-get update failed:\n${tail(update.output)}`));
    const download = run('apt-get', [...options, 'download', `rclone=${RCLONE_PIN.debianVersion}`], work);
    if (!download.ok) throw new Error(rclonePinInstructions(`apt-get download failed:\n${tail(download.output)}`));
    const deb = readdirSync(work).find((n) => n.startsWith('rclone_') && n.endsWith('.deb'));
    if (!deb) throw new Error(rclonePinInstructions('apt-get download left no .deb'));
    const sha = createHash('sha256')
      .update(readFileSync(join(work, deb)))
      .digest('hex');
    if (sha !== RCLONE_PIN.debSha256) {
      throw new Error(rclonePinInstructions(`${deb} has SHA-256 ${sha}, expected ${RCLONE_PIN.debSha256}`));
    }
    const unpacked = join(work, 'root');
    const x = run('dpkg-deb', ['-x', join(work, deb), unpacked]);
    if (!x.ok) throw new Error(rclonePinInstructions(`dpkg-deb -x failed:\n${tail(x.output)}`));
    const dir = rclonePinDir(env);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dirname(dir), { recursive: true });
    renameSync(unpacked, dir);
    return pinnedRcloneBinary(env);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The pinned rclone's binary (fetched into the cache when missing) and its version line. Puts its
 * folder first on this process's PATH, so every child started from here runs it.
 */
export function ensurePinnedRclone(
  say: Say,
  env: NodeJS.ProcessEnv = process.env,
): { binary: string; version: string } {
  let binary = pinnedRcloneBinary(env);
  let version = existsSync(binary) ? rcloneVersionLine(binary) : undefined;
  if (!version?.includes(`v${RCLONE_PIN.version}`)) {
    binary = fetchPinned(say, env);
    version = rcloneVersionLine(binary);
    if (!version?.includes(`v${RCLONE_PIN.version}`)) {
      throw new Error(rclonePinInstructions(`the unpacked ${binary} answers ${JSON.stringify(version ?? 'nothing')}`));
    }
  }
  const bin = dirname(binary);
  const parts = (process.env.PATH ?? '').split(delimiter).filter((p) => p !== bin);
  process.env.PATH = [bin, ...parts].join(delimiter);
  return { binary, version };
}
