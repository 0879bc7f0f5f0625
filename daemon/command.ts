// `rclone-migrate worker`: start the worker, run until SIGTERM/SIGINT, drain, exit 0.
// A second signal exits at once.
import type { Command } from '../shared/command.ts';
import { Worker } from './worker.ts';

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Run the worker daemon: copy the batches on the queue with a pool of rclone children',
  sections: ['log', 'queue', 'source', 'dest', 'worker', 'rclone', 'metrics'],
  async run({ config, log }) {
    const worker = await Worker.start(config, log);
    let signals = 0;
    let draining: Promise<void> | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, 'second signal: exiting now');
        worker.killNow();
        log.flush();
        process.exit(1);
      }
      log.info({ signal }, 'shutting down: finishing in-flight work');
      draining = worker.drain();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    await worker.run();
    await draining;
    return 0;
  },
};
