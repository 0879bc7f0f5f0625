// The rclone the worker will run must be one it was built and tested against: older releases lack
// what the copy relies on (the key encoding, metadata mapping, per-call `_config`, multipart fixes
// verified in test/rclone/workarounds.test.ts), and fail in ways that look like data errors.
import { spawnSync } from 'node:child_process';
import { ConfigError } from './errors.ts';

/** The oldest release the project's suite has run against (the pinned one is scripts/rclone-pin.ts). */
export const MIN_RCLONE_VERSION = '1.75.0';

export type RcloneVersion = { major: number; minor: number; patch: number; text: string };

/** Reads `rclone version`'s first line (`rclone v1.75.2`, `rclone v1.76.0-beta.8812.abc`, `rclone v1.60.1-DEV`). */
export function parseRcloneVersion(output: string): RcloneVersion | undefined {
  const m = /^rclone v(\d+)\.(\d+)\.(\d+)(\S*)/m.exec(output);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text: `v${m[1]}.${m[2]}.${m[3]}${m[4]}` };
}

function compare(a: RcloneVersion, b: RcloneVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** Pure: is this version supported? Returns the reason it is not. */
export function unsupportedReason(
  version: RcloneVersion | undefined,
  minimum = MIN_RCLONE_VERSION,
): string | undefined {
  const min = parseRcloneVersion(`rclone v${minimum}`) as RcloneVersion;
  if (!version) return 'its `rclone version` output was not understood';
  if (compare(version, min) < 0) return `it is ${version.text}, older than the supported minimum v${minimum}`;
  return undefined;
}

/** Runs `BINARY version` and throws a ConfigError (exit 2, no restart) when it is missing or too old. */
export function requireSupportedRclone(binary: string, env: NodeJS.ProcessEnv = process.env): RcloneVersion {
  const run = spawnSync(binary, ['version'], { encoding: 'utf8', timeout: 20_000, env: { PATH: env.PATH ?? '' } });
  if (run.error || run.status !== 0) {
    const why = run.error ? run.error.message : `it exited with ${String(run.status)}`;
    throw new ConfigError(
      `rclone (${binary}) could not be run: ${why}; install rclone v${MIN_RCLONE_VERSION} or newer ` +
        'or set rclone.binary (--rclone-binary, RCLONE_MIGRATE_RCLONE_BINARY)',
    );
  }
  const version = parseRcloneVersion(run.stdout);
  const reason = unsupportedReason(version);
  if (reason) {
    throw new ConfigError(
      `rclone (${binary}) cannot be used: ${reason}. Install rclone v${MIN_RCLONE_VERSION} or newer ` +
        '(https://rclone.org/downloads/) or point rclone.binary at one',
    );
  }
  return version as RcloneVersion;
}
