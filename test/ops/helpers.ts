// Running the operator commands as an operator does: the real CLI in a child process, against a stack.
import { spawn } from 'node:child_process';
import { CLI } from '../helpers/worker-process.ts';

export type CliResult = { code: number | null; stdout: string; stderr: string };

/** Runs `rclone-migrate ARGS` with the stack's environment plus `env`; killed after `timeoutMs`. */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 120_000): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args, '--log-level', 'warn'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}
