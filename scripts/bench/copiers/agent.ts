// The agent under test: `rclone-migrate worker` with default settings, plus what the local stack
// needs (queue URLs, the source by environment).
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { freePort } from '../../local-stack.ts';
import { spawnLogged, stopProcesses, waitForHttp } from '../processes.ts';
import type { CopierContext, QueueCopier, RunningCopier } from './types.ts';

/** The AWS SDK's own switches: checksums only where an operation requires one. */
export const CHECKSUMS_WHEN_REQUIRED = {
  AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
  AWS_RESPONSE_CHECKSUM_VALIDATION: 'WHEN_REQUIRED',
};

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
        RCLONE_MIGRATE_SOURCE_ACCESS_KEY_ID: context.source.accessKeyId,
        RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY: context.source.secretAccessKey,
        RCLONE_MIGRATE_SOURCE_REGION: context.source.region,
        // The destination: its endpoint by setting; its keys through the SDK's default chain, which the
        // worker's destination client and its rclone children (env_auth) both read. moto's SQS takes any keys.
        RCLONE_MIGRATE_DEST_ENDPOINT: context.dest.endpoint,
        AWS_ACCESS_KEY_ID: context.dest.accessKeyId,
        AWS_SECRET_ACCESS_KEY: context.dest.secretAccessKey,
        // RGW 16 answers 411 to the SDK's default streaming-checksum uploads; the worker's destination
        // client takes the SDK's own setting from the environment (shared/aws.ts sets none).
        ...(context.dest.checksumsWhenRequired ? CHECKSUMS_WHEN_REQUIRED : {}),
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
          const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(10_000) });
          const text = await res.text();
          await writeFile(join(context.logDir, `${context.label}.metrics.txt`), text);
          return text;
        },
        stop: () => stopProcesses([daemon], 30_000),
      };
    },
  };
}
