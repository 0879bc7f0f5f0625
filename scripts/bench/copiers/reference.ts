// The reference approach: six worker processes, each running one `rclone copyto` per key.
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { spawnLogged, stopProcesses, waitForLine, type Started } from '../processes.ts';
import { rcloneEnv } from '../rclone-env.ts';
import type { CopierContext, QueueCopier, RunningCopier } from './types.ts';

const WORKER = fileURLToPath(new URL('../reference-worker.ts', import.meta.url));

export function referenceCopier(processes = 6): QueueCopier {
  return {
    name: 'reference',
    describe: `${processes} worker processes, one \`rclone copyto\` process per key, batch deleted when all succeeded`,
    async start(context: CopierContext): Promise<RunningCopier> {
      const { stack, resources } = context;
      const env = {
        ...rcloneEnv({ ...context.source, endpoint: context.sourceEndpoint }, context.dest),
        ...stack.env,
        BENCH_QUEUE_URL: resources.queueUrl,
      };
      const workers: Started[] = [];
      for (let i = 0; i < processes; i++) {
        workers.push(
          spawnLogged(process.execPath, [WORKER], { env, logFile: join(context.logDir, `${context.label}-${i}.log`) }),
        );
      }
      await Promise.all(workers.map((w) => waitForLine(w, /^ready$/m, 30_000)));
      return {
        roots: workers.map((w) => w.pid),
        alive: () => workers.map((w) => w.exited()).find(Boolean),
        stop: () => stopProcesses(workers, 5_000),
      };
    },
  };
}
