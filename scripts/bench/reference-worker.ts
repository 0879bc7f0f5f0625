// One process of the reference approach: receive one batch at a time and run one `rclone copyto`
// process per key, one after another; delete the message when all succeeded. The bench starts six.
// Remotes `src` and `dst` come from RCLONE_CONFIG_* in the environment (see rclone-env.ts).
import { spawn } from 'node:child_process';
import { DEST_REMOTE, SOURCE_REMOTE } from './rclone-env.ts';
import { runWorkerLoop } from './worker-loop.ts';

const rclone = process.env.BENCH_RCLONE_BINARY || 'rclone';

function copyto(from: string, to: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(rclone, ['copyto', from, to], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      if (stderr.length < 2000) stderr += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`rclone copyto exited ${code}: ${stderr.trim()}`)),
    );
  });
}

await runWorkerLoop({
  queueUrl: process.env.BENCH_QUEUE_URL ?? '',
  receiveMax: 1,
  keysAtOnce: 1,
  messagesInFlight: 1,
  copy: (message, object, key) =>
    copyto(`${SOURCE_REMOTE}:${message.source.bucket}/${object.key}`, `${DEST_REMOTE}:${message.dest.bucket}/${key}`),
});
