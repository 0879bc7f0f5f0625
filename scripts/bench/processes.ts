// Starting and stopping the copier processes the bench measures, with their output in log files.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { treeOf } from './procfs.ts';

export type Started = { child: ChildProcess; pid: number; exited: () => string | undefined };

/** Spawns a process with stdout and stderr appended to one log file. */
export function spawnLogged(
  command: string,
  args: readonly string[],
  options: { env: NodeJS.ProcessEnv; logFile: string; cwd?: string },
): Started {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  child.once('exit', () => setTimeout(() => log.end(), 100));
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return {
    child,
    pid: child.pid,
    exited: () =>
      child.exitCode !== null || child.signalCode !== null
        ? `${command} exited (${child.exitCode ?? child.signalCode}); see ${options.logFile}`
        : undefined,
  };
}

/** Resolves when a line matching `pattern` appears on the child's stdout. */
export function waitForLine(started: Started, pattern: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => finish(new Error(`no ${String(pattern)} within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      buffer = (buffer + chunk.toString()).slice(-4096);
      if (pattern.test(buffer)) finish();
    };
    const onExit = (): void => finish(new Error(started.exited() ?? 'exited'));
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      started.child.stdout?.off('data', onData);
      started.child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    started.child.stdout?.on('data', onData);
    started.child.once('exit', onExit);
  });
}

/** Polls an HTTP URL until it answers 200. */
export async function waitForHttp(url: string, timeoutMs: number, alive: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    const dead = alive();
    if (dead) throw new Error(dead);
    try {
      const res = await fetch(url);
      last = `${res.status} ${await res.text()}`;
      if (res.ok) return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const exitedOf = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));

/**
 * SIGTERM to the roots, then, after `graceMs`, SIGKILL to whatever of their trees is left (found
 * before signalling, so children orphaned by a killed parent are not missed). Only these pids.
 */
export async function stopProcesses(started: readonly Started[], graceMs: number): Promise<void> {
  const tree = treeOf(started.map((s) => s.pid)).map((p) => p.pid);
  for (const s of started) if (!s.exited()) s.child.kill('SIGTERM');
  const all = Promise.all(started.map((s) => exitedOf(s.child)));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([all, new Promise((r) => (timer = setTimeout(r, graceMs)))]);
  clearTimeout(timer);
  for (const pid of tree) {
    try {
      process.kill(pid, 0);
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await all;
}
