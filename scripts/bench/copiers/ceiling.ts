// The ceiling: a direct S3 SDK copy loop over the same queue at the agent's concurrency.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { LOCAL_CREDENTIALS } from '../../local-stack.ts';
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
        BENCH_SOURCE_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        BENCH_SOURCE_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
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
