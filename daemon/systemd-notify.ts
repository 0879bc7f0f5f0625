// systemd notification protocol (Type=notify): readiness, a one-line STATUS=, watchdog pings, stopping.
//
// Node has no unix datagram sockets, so each message is sent by the `systemd-notify` tool. A message from
// a short-lived helper is attributed to our unit only if PID 1 reads it while the helper is alive; since
// systemd 246 `systemd-notify` (without --no-block) waits on a BARRIER=1 round trip before it exits, which
// closes that race (Amazon Linux 2023 ships 252). The unit must say NotifyAccess=all for a helper to be
// heard. Sends are serialised so READY, STATUS and STOPPING arrive in the order they were made.
//
// The notify variables are removed from the environment we were given (process.env by default) so the
// children started later do not inherit them: `rclone rcd` itself sends READY=1 and STOPPING=1 when it
// finds NOTIFY_SOCKET, and under NotifyAccess=all a restarting child would tell systemd we are stopping.
import { spawn } from 'node:child_process';
import type { Logger } from '../shared/logger.ts';

export type SystemdNotifier = {
  /** True when systemd is listening (NOTIFY_SOCKET was set). */
  readonly enabled: boolean;
  ready(): void;
  /** One line shown by `systemctl status` (newlines are flattened, long lines cut). */
  status(line: string): void;
  watchdog(): void;
  stopping(): void;
  /** How often to call watchdog() (half of WatchdogSec), when systemd expects pings from us. */
  readonly watchdogIntervalMs?: number;
  /** Waits (bounded) for queued messages to be delivered; later calls are ignored. */
  close(): Promise<void>;
};

export type NotifierOptions = {
  /** The environment to read and scrub (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** The sender (default `systemd-notify` on PATH). */
  binary?: string;
  /** Our pid, matched against WATCHDOG_PID (default process.pid). */
  pid?: number;
};

const STATUS_MAX = 200;
const SEND_TIMEOUT_MS = 10_000;
const CLOSE_TIMEOUT_MS = 10_000;

/** The watchdog ping interval systemd asks for, or undefined when the watchdog is off or meant for another pid. */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** A status line systemd shows as one line. */
export function statusText(line: string): string {
  const flat = line.replace(/[\r\n]+/g, ' ').trim();
  return flat.length > STATUS_MAX ? `${flat.slice(0, STATUS_MAX - 1)}…` : flat;
}

const NOOP: SystemdNotifier = {
  enabled: false,
  ready() {},
  status() {},
  watchdog() {},
  stopping() {},
  async close() {},
};

export function createSystemdNotifier(log: Logger, options: NotifierOptions = {}): SystemdNotifier {
  const env = options.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  const interval = watchdogInterval(env, options.pid ?? process.pid);
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;
  if (!socket) return NOOP;

  const binary = options.binary ?? 'systemd-notify';
  const childEnv: NodeJS.ProcessEnv = { NOTIFY_SOCKET: socket, PATH: env.PATH ?? '/usr/bin:/bin' };
  // Messages waiting to be sent: a newer STATUS= or WATCHDOG=1 replaces one still queued.
  let queue: string[] = [];
  let sending: Promise<void> | undefined;
  let closed = false;
  let failedOnce = false;

  const sendOne = (assignment: string): Promise<void> =>
    new Promise((resolve) => {
      const child = spawn(binary, [assignment], { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        if (stderr.length < 2000) stderr += chunk.toString();
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), SEND_TIMEOUT_MS);
      const done = (problem?: string): void => {
        clearTimeout(timer);
        if (problem && !failedOnce) {
          // Logged once: under WatchdogSec a notifier that cannot send gets the service restarted.
          failedOnce = true;
          log.error({ binary, message: assignment.split('=')[0], problem }, 'systemd notification failed');
        }
        resolve();
      };
      child.on('error', (err) => done(err.message));
      child.on('exit', (code, signal) =>
        done(code === 0 ? undefined : `exit ${code ?? signal}${stderr ? `: ${stderr.trim()}` : ''}`),
      );
    });

  const pump = (): void => {
    if (sending) return;
    const next = queue.shift();
    if (next === undefined) return;
    sending = sendOne(next).then(() => {
      sending = undefined;
      pump();
    });
  };

  const enqueue = (assignment: string): void => {
    if (closed) return;
    const key = assignment.slice(0, assignment.indexOf('=') + 1);
    if (key === 'STATUS=' || key === 'WATCHDOG=') queue = queue.filter((m) => !m.startsWith(key));
    queue.push(assignment);
    pump();
  };

  return {
    enabled: true,
    ...(interval === undefined ? {} : { watchdogIntervalMs: interval }),
    ready: () => enqueue('READY=1'),
    status: (line) => enqueue(`STATUS=${statusText(line)}`),
    watchdog: () => enqueue('WATCHDOG=1'),
    stopping: () => enqueue('STOPPING=1'),
    async close() {
      if (closed) return;
      closed = true;
      // pump() starts a send as soon as one is queued, so "nothing sending" means "all delivered".
      const deadline = Date.now() + CLOSE_TIMEOUT_MS;
      while (sending && Date.now() < deadline) {
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise((r) => (timer = setTimeout(r, deadline - Date.now())));
        await Promise.race([sending, expired]);
        clearTimeout(timer);
      }
    },
  };
}
