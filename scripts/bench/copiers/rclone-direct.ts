// For large objects: a direct `rclone copyto` of each object, all at once, no queue. The agent's
// large-object target is measured against this.
import { spawn } from 'node:child_process';
import { DEST_REMOTE, rcloneEnv, SOURCE_REMOTE, type Remote } from '../rclone-env.ts';

export async function rcloneDirect(options: {
  /** The source, with the endpoint to read it through (the store or the latency proxy). */
  source: Remote;
  dest: Remote;
  sourceBucket: string;
  destBucket: string;
  keys: readonly string[];
  timeoutMs: number;
}): Promise<void> {
  const env = rcloneEnv(options.source, options.dest);
  await Promise.all(
    options.keys.map(
      (key) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn(
            'rclone',
            [
              'copyto',
              `${SOURCE_REMOTE}:${options.sourceBucket}/${key}`,
              `${DEST_REMOTE}:${options.destBucket}/${key}`,
            ],
            { env, stdio: ['ignore', 'ignore', 'pipe'], timeout: options.timeoutMs },
          );
          let stderr = '';
          child.stderr.on('data', (c: Buffer) => {
            if (stderr.length < 2000) stderr += c.toString();
          });
          child.on('error', reject);
          child.on('exit', (code, signal) =>
            code === 0 ? resolve() : reject(new Error(`rclone copyto ${key}: ${code ?? signal}: ${stderr.trim()}`)),
          );
        }),
    ),
  );
}
