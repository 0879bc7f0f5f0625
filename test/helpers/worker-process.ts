// Runs `rclone-migrate worker` as a real child process against the local stack, and reads what it
// says: its JSON log lines and its /metrics.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { LocalStack, Resources } from '../../scripts/local-stack.ts';

export const CLI = fileURLToPath(new URL('../../bin/rclone-migrate.ts', import.meta.url));

export type LogLine = { level: string; msg: string; [field: string]: unknown };

export type WorkerProcess = {
  child: ChildProcess;
  logs: LogLine[];
  /** Raw stdout and stderr, for asserting what never appears in them. */
  output(): string;
  metricsUrl: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Reads one sample of a metric (summing over label sets that match `labels`). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/** Polls a condition until it holds or the deadline passes (no fixed sleeps). */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function workerArgs(resources: Resources, extra: string[] = []): string[] {
  return [
    'worker',
    '--queue-url',
    resources.queueUrl,
    '--dead-letter-url',
    resources.deadLetterUrl,
    '--metrics-port',
    '0',
    '--wait-seconds',
    '1',
    '--rclone-children',
    '2',
    '--retry-delay-seconds',
    '0',
    // these tests are about the rclone pool under the worker; the SDK path's whole-object copy has its own
    '--copy-path',
    'rclone',
    ...extra,
  ];
}

export async function startWorker(
  stack: LocalStack,
  args: string[],
  env: Record<string, string> = {},
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...stack.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a test can SIGKILL the worker and its children together
  });
  const logs: LogLine[] = [];
  let raw = '';
  child.stderr?.on('data', (chunk: Buffer) => (raw += chunk.toString()));
  createInterface({ input: child.stdout }).on('line', (line) => {
    raw += `${line}\n`;
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      // not a log line
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const started = await Promise.race([
    waitFor('the worker to start', () => logs.find((l) => l.msg === 'worker started'), 60_000),
    exited.then(({ code }) => {
      throw new Error(`worker exited with ${code} before it started:\n${raw}`);
    }),
  ]);
  const metricsUrl = String(started.metrics);
  return {
    child,
    logs,
    output: () => raw,
    metricsUrl,
    exited,
    async metric(name, labels = {}) {
      const text = await (await fetch(metricsUrl)).text();
      let total = 0;
      for (const line of text.split('\n')) {
        const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const ok = Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`));
        if (ok) total += Number(m[3]);
      }
      return total;
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** SIGKILLs a worker and every rclone child in its process group, as a crash or OOM kill would. */
export function killGroup(worker: WorkerProcess): void {
  if (worker.child.pid) process.kill(-worker.child.pid, 'SIGKILL');
}
