#!/usr/bin/env node
// `node scripts/with-tools.ts COMMAND [ARGS…]`: makes sure the external tools are there (the pinned
// rclone, moto, Ceph; see ensure-tools.ts), then runs COMMAND with them first on PATH and exits as it does.
// `npm test` runs tap through it, so the tests run the same rclone as the demo, the bench and CI.
// For a tap run it also starts ONE Ceph RGW stand-in (scripts/ceph-rgw.ts) that every test file shares
// through RCLONE_MIGRATE_TEST_CEPH_* (test/helpers/ceph.ts; tests use unique bucket names), and ends it by
// PID when tap exits. RCLONE_MIGRATE_TEST_CEPH=own makes each file start its own instead.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { startCephRgw, type CephRgw } from './ceph-rgw.ts';
import { ensureCeph, ensureTools } from './ensure-tools.ts';

/** The environment variables test/helpers/ceph.ts reads. */
export const TEST_CEPH_ENV = {
  endpoint: 'RCLONE_MIGRATE_TEST_CEPH_ENDPOINT',
  accessKeyId: 'RCLONE_MIGRATE_TEST_CEPH_ACCESS_KEY',
  secretAccessKey: 'RCLONE_MIGRATE_TEST_CEPH_SECRET_KEY',
  region: 'RCLONE_MIGRATE_TEST_CEPH_REGION',
} as const;

/** Whether a test file reads from Ceph (it uses test/helpers/ceph.ts, directly or through source-store.ts). */
export function usesCeph(file: string): boolean {
  try {
    return /helpers\/(ceph|source-store)\.ts/.test(readFileSync(file, 'utf8'));
  } catch {
    return true; // not a file we can read (a glob, a folder): assume it may
  }
}

/**
 * A tap run (`tap …` or `npx tap …`) that does not already have a shared Ceph, running the whole suite
 * or a test file that reads from Ceph: a run of unit files alone does not start one. A file that needs
 * Ceph without a shared one starts its own (test/helpers/ceph.ts), so a wrong guess costs time only.
 */
export function wantsSharedCeph(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  readsCeph: (file: string) => boolean = usesCeph,
): boolean {
  const isNpx = basename(command) === 'npx' && args[0] === 'tap';
  const isTap = basename(command) === 'tap' || isNpx;
  if (!isTap || env[TEST_CEPH_ENV.endpoint] || env.RCLONE_MIGRATE_TEST_CEPH === 'own') return false;
  const files = (isNpx ? args.slice(1) : args).filter((a) => !a.startsWith('-'));
  return files.length === 0 || files.some(readsCeph);
}

async function main(): Promise<void> {
  const [command, ...args] = process.argv.slice(2);
  if (!command) {
    console.error('usage: node scripts/with-tools.ts COMMAND [ARGS...]');
    process.exit(2);
  }
  const say = (line: string) => console.error(`with-tools: ${line}`);
  let ceph: CephRgw | undefined;
  try {
    const tools = ensureTools(say);
    say(tools.rclone);
    // Only a tap run needs Ceph (its tests read from it); other commands run without it.
    if (wantsSharedCeph(command, args, process.env)) {
      ensureCeph(say);
      ceph = await startCephRgw({ say: (line) => say(`ceph: ${line}`) });
      process.env[TEST_CEPH_ENV.endpoint] = ceph.endpoint;
      process.env[TEST_CEPH_ENV.accessKeyId] = ceph.accessKeyId;
      process.env[TEST_CEPH_ENV.secretAccessKey] = ceph.secretAccessKey;
      process.env[TEST_CEPH_ENV.region] = ceph.region;
    }
  } catch (err) {
    say(err instanceof Error ? err.message : String(err));
    process.exit(1);
  }
  const child = spawn(command, args, { stdio: 'inherit', env: process.env });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    const status = code ?? (signal ? 128 : 1);
    void (ceph ? ceph.stop() : Promise.resolve()).finally(() => process.exit(status));
  });
}

if (import.meta.main) await main();
