#!/usr/bin/env node
// `node scripts/with-tools.ts COMMAND [ARGS…]`: makes sure the external tools are there (the pinned
// rclone, moto; see ensure-tools.ts), then runs COMMAND with them first on PATH and exits as it does.
// `npm test` runs tap through it, so the tests run the same rclone as the demo, the bench and CI.
import { spawn } from 'node:child_process';
import { ensureTools } from './ensure-tools.ts';

const [command, ...args] = process.argv.slice(2);
if (!command) {
  console.error('usage: node scripts/with-tools.ts COMMAND [ARGS...]');
  process.exit(2);
}
try {
  const tools = ensureTools((line) => console.error(`with-tools: ${line}`));
  console.error(`with-tools: ${tools.rclone}`);
} catch (err) {
  console.error(`with-tools: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
const child = spawn(command, args, { stdio: 'inherit', env: process.env });
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
