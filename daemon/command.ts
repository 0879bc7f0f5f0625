// `rclone-migrate worker`: start the worker under systemd's eye, run until SIGTERM/SIGINT or a
// termination lifecycle action, drain, exit 0. A second signal exits at once.
import type { Command } from '../shared/command.ts';
import { startFleet } from './fleet.ts';
import { statusLine, type StatusSample } from './status-line.ts';
import { createSystemdNotifier } from './systemd-notify.ts';
import { Worker } from './worker.ts';

const STATUS_INTERVAL_MS = 5000;

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Run the worker daemon: copy the batches on the queue with a pool of rclone children',
  sections: ['log', 'queue', 'source', 'dest', 'worker', 'rclone', 'metrics', 'fleet'],
  async run({ config, log }) {
    // First: it scrubs NOTIFY_SOCKET from the environment the rclone children will inherit.
    const systemd = createSystemdNotifier(log);
    const worker = await Worker.start(config, log);
    let draining: Promise<void> | undefined;
    const drain = (): Promise<void> => {
      if (!draining) {
        systemd.stopping();
        draining = worker.drain();
      }
      return draining;
    };
    const fleet = await startFleet({ config, log, onTerminate: drain });
    worker.addActivityListener(fleet);

    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      if (++signals > 1) {
        log.warn({ signal }, 'second signal: exiting now');
        worker.killNow();
        log.flush();
        process.exit(1);
      }
      log.info({ signal }, 'shutting down: finishing in-flight work');
      void drain();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);

    let previous: StatusSample | undefined;
    const report = () => {
      const sample = { at: Date.now(), ...worker.status(), draining: draining !== undefined };
      systemd.status(statusLine(previous, sample));
      previous = sample;
    };
    report();
    systemd.ready();
    const statusTimer = setInterval(report, STATUS_INTERVAL_MS);
    const watchdogTimer = systemd.watchdogIntervalMs
      ? setInterval(() => systemd.watchdog(), systemd.watchdogIntervalMs)
      : undefined;
    try {
      await worker.run();
      await drain();
      // A termination lifecycle action is completed only once the drain is done.
      if (fleet.terminating) await fleet.lifecycleDone;
    } finally {
      clearInterval(statusTimer);
      clearInterval(watchdogTimer);
      await fleet.stop();
      await systemd.close();
    }
    return 0;
  },
};
