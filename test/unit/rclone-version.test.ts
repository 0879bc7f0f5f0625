// The worker refuses an rclone older than the supported minimum: the pure decision, and the real
// command exiting 2 (systemd does not restart on it) with a message that says what to install.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MIN_RCLONE_VERSION, parseRcloneVersion, unsupportedReason } from '../../shared/rclone-version.ts';
import { RCLONE_PIN } from '../../scripts/rclone-pin.ts';
import { CLI } from '../helpers/worker-process.ts';

void t.test('rclone version lines', async (t) => {
  t.match(parseRcloneVersion('rclone v1.75.2\n- os/version: debian 12'), {
    major: 1,
    minor: 75,
    patch: 2,
    text: 'v1.75.2',
  });
  t.match(parseRcloneVersion('rclone v1.76.0-beta.8812.0a1b2c3\n'), { minor: 76, text: 'v1.76.0-beta.8812.0a1b2c3' });
  t.equal(parseRcloneVersion('rsync  version 3.2.7  protocol version 31'), undefined);
  t.match(unsupportedReason(parseRcloneVersion('rclone v1.60.1-DEV')), /older than the supported minimum/);
  t.match(unsupportedReason(parseRcloneVersion('rclone v1.74.9')), /v1\.74\.9, older/);
  t.equal(unsupportedReason(parseRcloneVersion(`rclone v${MIN_RCLONE_VERSION}`)), undefined);
  t.equal(unsupportedReason(parseRcloneVersion('rclone v2.0.0')), undefined);
  t.match(unsupportedReason(undefined), /not understood/);
  t.equal(
    unsupportedReason(parseRcloneVersion(`rclone v${RCLONE_PIN.version}`)),
    undefined,
    'the pinned one is supported',
  );
});

/** A stand-in executable that answers `version` as an old rclone does (no S3 call is reached). */
function fakeRclone(versionLine: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'rm-old-rclone-')), 'rclone');
  writeFileSync(path, `#!/bin/sh\necho '${versionLine}'\necho '- os/version: debian 12.11 (64 bit)'\n`);
  chmodSync(path, 0o755);
  return path;
}

const worker = (binary: string) =>
  spawnSync(
    process.execPath,
    [CLI, 'worker', '--queue-url', 'http://127.0.0.1:9/queue/none', '--rclone-binary', binary, '--metrics-port', '-1'],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, RCLONE_MIGRATE_FLEET: 'off' } },
  );

void t.test('the worker refuses rclone 1.60.1 with exit 2 and says what to do', async (t) => {
  const res = worker(fakeRclone('rclone v1.60.1-DEV'));
  const said = res.stdout + res.stderr; // the log line (stdout), and a plain line where stderr is a terminal
  t.equal(res.status, 2, said);
  t.match(said, /v1\.60\.1-DEV, older than the supported minimum v1\.75\.0/);
  t.match(said, /Install rclone v1\.75\.0 or newer/);
  t.notMatch(said, /\n\s+at /, 'no stack trace');
});

void t.test('a missing binary is a configuration error too', async (t) => {
  const res = worker('/nonexistent/rclone');
  t.equal(res.status, 2, res.stdout + res.stderr);
  t.match(res.stdout + res.stderr, /rclone \(\/nonexistent\/rclone\) could not be run/);
});

void t.test('--version names the rclone the worker would run', async (t) => {
  const res = spawnSync(process.execPath, [CLI, '--version'], {
    encoding: 'utf8',
    env: { ...process.env, RCLONE_MIGRATE_RCLONE_BINARY: fakeRclone('rclone v1.60.1') },
  });
  t.equal(res.status, 0);
  t.match(
    res.stdout,
    /rclone: v1\.60\.1 \(.*\/rclone\): unsupported, it is v1\.60\.1, older than the supported minimum/,
  );
});
