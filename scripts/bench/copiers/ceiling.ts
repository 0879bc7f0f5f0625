// The ceiling: a direct S3 SDK copy loop over the same queue at the agent's concurrency.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { CHECKSUMS_WHEN_REQUIRED } from './agent.ts';
import { spawnLogged, stopProcesses, waitForLine } from '../processes.ts';
import type { CopierContext, QueueCopier, RunningCopier } from './types.ts';

const WORKER = fileURLToPath(new URL('../ceiling-worker.ts', import.meta.url));

export function ceilingCopier(options: { concurrency: number; partSizeMiB: number }): QueueCopier {
  return {
    name: 'ceiling',
    describe:
      `one process, S3 SDK GetObject → PutObject (streamed multipart Upload from 200 MiB, ` +
      `${options.partSizeMiB} MiB parts), ${options.concurrency} copies at once`,
    async start(context: CopierContext): Promise<RunningCopier> {
      const env = {
        ...process.env,
        ...context.stack.env,
        BENCH_QUEUE_URL: context.resources.queueUrl,
        BENCH_CONCURRENCY: String(options.concurrency),
        BENCH_PART_SIZE: String(options.partSizeMiB * 1024 * 1024),
        BENCH_SOURCE_ENDPOINT: context.sourceEndpoint,
        BENCH_SOURCE_ACCESS_KEY_ID: context.source.accessKeyId,
        BENCH_SOURCE_SECRET_ACCESS_KEY: context.source.secretAccessKey,
        BENCH_SOURCE_REGION: context.source.region,
        // The destination as the agent gets it: endpoint, keys by the SDK's chain (moto's SQS takes any).
        BENCH_DEST_ENDPOINT: context.dest.endpoint,
        AWS_ACCESS_KEY_ID: context.dest.accessKeyId,
        AWS_SECRET_ACCESS_KEY: context.dest.secretAccessKey,
        ...(context.dest.checksumsWhenRequired ? CHECKSUMS_WHEN_REQUIRED : {}),
      };
      const worker = spawnLogged(process.execPath, [WORKER], {
        env,
        logFile: join(context.logDir, `${context.label}.log`),
      });
      await waitForLine(worker, /^ready$/m, 30_000);
      return {
        roots: [worker.pid],
        alive: () => worker.exited(),
        stop: () => stopProcesses([worker], 5_000),
      };
    },
  };
}
