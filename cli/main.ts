// Subcommand dispatch, --help and --version, and turning a bad configuration into a clear message
// and exit code 2 (never a stack trace, never a crash loop under systemd: see the unit's
// RestartPreventExitStatus).
import { spawnSync } from 'node:child_process';
import { helpText, loadConfig, parseFlags, redactedConfig } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { fatalMessage, stackWithoutPaths, wantsStack } from '../shared/fatal.ts';
import { createLogger } from '../shared/logger.ts';
import { setProcessTitle } from '../shared/process-title.ts';
import { MIN_RCLONE_VERSION, parseRcloneVersion, unsupportedReason } from '../shared/rclone-version.ts';
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

/** The rclone binary the worker would run: from the config file and environment, as the worker reads them. */
function configuredRcloneBinary(): string {
  try {
    return loadConfig({ argv: [] }).rclone.binary;
  } catch {
    return process.env.RCLONE_MIGRATE_RCLONE_BINARY || 'rclone';
  }
}

/** What `--version` says of rclone: the version the worker would run, and whether it is supported. */
export function rcloneVersion(binary = configuredRcloneBinary()): string {
  const out = spawnSync(binary, ['version'], { encoding: 'utf8', timeout: 10_000 });
  if (out.error || out.status !== 0) return `not found (${binary}; v${MIN_RCLONE_VERSION} or newer needed)`;
  const version = parseRcloneVersion(out.stdout);
  const reason = unsupportedReason(version);
  return `${version?.text ?? out.stdout.split('\n')[0]?.trim() ?? 'unknown'} (${binary})${reason ? `: unsupported, ${reason}` : ''}`;
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
  setProcessTitle(name);
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
    // One line (JSON for journald); the stack at debug level only. A person at a terminal gets it in words too.
    const configError = err instanceof ConfigError;
    log.fatal({ err: fatalMessage(err) }, configError ? 'configuration error' : 'failed');
    log.debug({ stack: stackWithoutPaths(err) }, 'stack of the failure');
    if (process.stderr.isTTY) {
      console.error(`rclone-migrate ${name}: ${configError ? 'configuration error: ' : ''}${fatalMessage(err)}`);
    }
    return configError ? EXIT_CONFIG : 1;
  } finally {
    log.flush();
  }
}

/** Prints a failure that escaped main() (or a crash at run time) as one line; the stack only at debug level. */
function reportCrash(err: unknown): void {
  console.error(`rclone-migrate: fatal: ${fatalMessage(err)}`);
  if (wantsStack(process.env.RCLONE_MIGRATE_LOG_LEVEL)) console.error(stackWithoutPaths(err) ?? '');
}

/** The entry of both the source CLI and the single executable: main() with nothing escaping as a stack trace. */
export async function runCli(argv: string[]): Promise<number> {
  const crash = (err: unknown) => {
    reportCrash(err);
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  try {
    return await main(argv);
  } catch (err) {
    reportCrash(err);
    return 1;
  }
}
