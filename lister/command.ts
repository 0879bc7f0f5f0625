// `rclone-migrate list` (placeholder until the lister lands).
import type { Command } from '../shared/command.ts';

export const listCommand: Command = {
  name: 'list',
  summary: 'List a source bucket and send its keys to the queue in batches',
  sections: ['log', 'queue', 'source', 'dest', 'lister'],
  async run() {
    return 1;
  },
};
