// `rclone-migrate worker` (placeholder until the worker lands).
import type { Command } from '../shared/command.ts';

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Run the worker daemon',
  sections: ['log', 'queue', 'source', 'dest', 'worker', 'rclone', 'metrics'],
  async run() {
    return 1;
  },
};
