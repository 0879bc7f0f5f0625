// Subcommand dispatch, --help and --version, and turning a bad configuration into a clear message
// and exit code 2 (never a stack trace, never a crash loop under systemd: see the unit's
// RestartPreventExitStatus).
import { spawnSync } from 'node:child_process';
import { helpText, loadConfig, parseFlags, redactedConfig } from '../shared/config.ts';
import { ConfigError, errorMessage } from '../shared/errors.ts';
import { createLogger } from '../shared/logger.ts';
import type { Command } from '../shared/command.ts';
import { VERSION } from '../shared/version.ts';

/** Commands load lazily so that `--help` and one command do not pay for all the others. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  worker: {
    summary: 'Run the worker daemon: copy the batches on the queue with a pool of rclone children',
    load: async () => (await import('../daemon/command.ts')).workerCommand,
  },
  list: {
    summary: 'List a source bucket and send its keys to the queue in batches',
    load: async () => (await import('../lister/command.ts')).listCommand,
  },
  status: {
    summary: "Show a job's progress: listed totals, queues, done, rate and ETA",
    load: async () => (await import('../ops/status.ts')).statusCommand,
  },
  verify: {
    summary: 'Compare source and destination; report (or --enqueue) missing and different keys',
    load: async () => (await import('../ops/verify.ts')).verifyCommand,
  },
  redrive: {
    summary: 'Move dead-letter messages back to the work queue',
    load: async () => (await import('../ops/redrive.ts')).redriveCommand,
  },
};

export const EXIT_CONFIG = 2;

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return [
    'Usage: rclone-migrate <command> [--setting value ...]',
    '',
    'Commands:',
    ...rows,
    '',
    'Options: --help (with a command: every setting, its environment variable and default), --version,',
    '         --print-config (with a command: the effective configuration, secrets redacted)',
  ].join('\n');
}

export function rcloneVersion(binary = process.env.RCLONE_MIGRATE_RCLONE_BINARY || 'rclone'): string {
  const out = spawnSync(binary, ['version'], { encoding: 'utf8', timeout: 10_000 });
  if (out.error || out.status !== 0) return `not found (${binary})`;
  return out.stdout.split('\n')[0]?.trim() ?? 'unknown';
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === 'version') {
    console.log(`rclone-migrate ${VERSION}\nnode ${process.version}\nrclone: ${rcloneVersion()}`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return name ? 0 : EXIT_CONFIG;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    console.error(`rclone-migrate: unknown command "${name}"\n\n${usage()}`);
    return EXIT_CONFIG;
  }
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(
      [
        `Usage: rclone-migrate ${name} [--setting value ...]`,
        '',
        command.summary,
        command.usage ?? '',
        '',
        'Settings:',
        helpText(command.sections),
      ]
        .filter((l, i, all) => l !== '' || all[i - 1] !== '')
        .join('\n'),
    );
    return 0;
  }
  const printConfig = rest.includes('--print-config');
  const args = rest.filter((a) => a !== '--print-config');
  let config;
  let positional: string[];
  try {
    positional = parseFlags(args).positional;
    config = loadConfig({ argv: args });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`rclone-migrate ${name}: configuration error: ${err.message}`);
      return EXIT_CONFIG;
    }
    throw err;
  }
  if (printConfig) {
    console.log(JSON.stringify(redactedConfig(config), null, 2));
    return 0;
  }
  const log = createLogger(config.log.level).child({ command: name });
  try {
    return await command.run({ config, log, positional });
  } catch (err) {
    if (err instanceof ConfigError) {
      log.fatal({ err: errorMessage(err) }, 'configuration error');
      console.error(`rclone-migrate ${name}: ${err.message}`);
      return EXIT_CONFIG;
    }
    log.fatal({ err }, 'failed');
    return 1;
  } finally {
    log.flush();
  }
}
