// The agent under test: `rclone-migrate worker` with default settings, plus what the local stack
// needs (queue URLs, the source by environment).
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { freePort, LOCAL_CREDENTIALS } from '../../local-stack.ts';
import { spawnLogged, stopProcesses, waitForHttp } from '../processes.ts';
import type { CopierContext, QueueCopier, RunningCopier } from './types.ts';

const CLI = fileURLToPath(new URL('../../../bin/rclone-migrate.ts', import.meta.url));

export function agentCopier(extraArgs: readonly string[] = []): QueueCopier {
  return {
    name: 'agent',
    describe: `\`rclone-migrate worker\`, default settings${extraArgs.length ? ` plus ${extraArgs.join(' ')}` : ''}`,
    async start(context: CopierContext): Promise<RunningCopier> {
      const port = await freePort();
      const env = {
        ...process.env,
        ...context.stack.env,
        // The source by environment rather than Secrets Manager, so the latency runs can point it
        // at the proxy; secrets stay off the command line.
        RCLONE_MIGRATE_SOURCE_ENDPOINT: context.sourceEndpoint,
        RCLONE_MIGRATE_SOURCE_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      };
      const args = [
        CLI,
        'worker',
        '--queue-url',
        context.resources.queueUrl,
        '--dead-letter-url',
        context.resources.deadLetterUrl,
        '--metrics-port',
        String(port),
        ...extraArgs,
      ];
      const daemon = spawnLogged(process.execPath, args, {
        env,
        logFile: join(context.logDir, `${context.label}.log`),
      });
      try {
        await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000, daemon.exited);
      } catch (err) {
        await stopProcesses([daemon], 2_000);
        throw err;
      }
      return {
        roots: [daemon.pid],
        daemon: daemon.pid,
        metricsUrl: `http://127.0.0.1:${port}/metrics`,
        alive: daemon.exited,
        // The daemon's own account of the run (copy and batch durations, SQS errors), for profiling.
        drained: async () => {
          const res = await fetch(`http://127.0.0.1:${port}/metrics`);
          await writeFile(join(context.logDir, `${context.label}.metrics.txt`), await res.text());
        },
        stop: () => stopProcesses([daemon], 30_000),
      };
    },
  };
}
