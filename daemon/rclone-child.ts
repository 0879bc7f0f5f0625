// One `rclone rcd` child: spawned with an explicit environment, bound to a loopback port the kernel
// picks, spoken to over HTTP keep-alive with its own random Basic credentials.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { Agent, request } from 'node:http';
import type { Logger } from '../shared/logger.ts';
import { MIN_RCLONE_VERSION } from '../shared/rclone-version.ts';
import { isRcErrorReply, type CorePidReply, type RcErrorReply } from './rc-api.ts';
import { DROPPED_OWN_METADATA } from './rclone-env.ts';

/** The child could not be reached, or the connection broke (it died, was killed, or hung). */
export class RcTransportError extends Error {
  override name = 'RcTransportError';
}

/** rclone answered with an error reply. */
export class RcReplyError extends Error {
  override name = 'RcReplyError';
  readonly reply: RcErrorReply;
  constructor(reply: RcErrorReply) {
    super(reply.error);
    this.reply = reply;
  }
}

/** The caller's signal fired; the request was dropped, which cancels the call inside rclone. */
export class RcAbortError extends Error {
  override name = 'RcAbortError';
}

/** The child did not come up; the message says why, with the end of its stderr. */
export class ChildStartError extends Error {
  override name = 'ChildStartError';
}

export type ChildSpec = {
  binary: string;
  /** Command the binary runs under, e.g. setpriv's parent-death signal (see parentDeathWrapper). */
  wrapper: string[];
  args: string[];
  env: Record<string, string>;
  rcUser: string;
  rcPass: string;
  startTimeoutMs: number;
  /** Values to blank out of anything the child prints before it is logged or kept. */
  secrets: string[];
  log: Logger;
};

export type CallOptions = { signal?: AbortSignal; timeoutMs?: number };
export type ExitInfo = { code: number | null; signal: NodeJS.Signals | null };

const SERVING = /Serving remote control on http:\/\/127\.0\.0\.1:(\d+)\//;
const TAIL_LINES = 20;

export class RcloneChild {
  readonly pid: number;
  #port = 0;
  readonly #proc: ChildProcess;
  readonly #agent = new Agent({ keepAlive: true, scheduling: 'lifo' });
  readonly #authorization: string;
  readonly #secrets: string[];
  readonly #log: Logger;
  readonly #tail: string[] = [];
  readonly #exited: Promise<ExitInfo>;
  #exit: ExitInfo | undefined;
  #partial = '';

  private constructor(proc: ChildProcess, spec: ChildSpec) {
    this.#proc = proc;
    this.pid = proc.pid ?? 0;
    this.#authorization = `Basic ${Buffer.from(`${spec.rcUser}:${spec.rcPass}`).toString('base64')}`;
    this.#secrets = spec.secrets.filter((s) => s.length >= 4);
    this.#log = spec.log.child({ pid: this.pid });
    this.#exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        this.#agent.destroy();
        resolve(this.#exit);
      });
    });
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => this.#stderr(chunk));
  }

  /** Spawns a child and resolves once it answers its rc API with its own pid. */
  static async start(spec: ChildSpec): Promise<RcloneChild> {
    const binary = findExecutable(spec.binary, spec.env.PATH ?? '');
    if (!binary) {
      throw new ChildStartError(
        `rclone executable ${JSON.stringify(spec.binary)} was not found: install rclone v${MIN_RCLONE_VERSION} or newer ` +
          'or set rclone.binary (RCLONE_MIGRATE_RCLONE_BINARY)',
      );
    }
    const [file, ...args] = [...spec.wrapper, binary, ...spec.args] as [string, ...string[]];
    const proc = spawn(file, args, { env: spec.env, stdio: ['ignore', 'ignore', 'pipe'] });
    const spawned = await new Promise<Error | undefined>((resolve) => {
      proc.once('spawn', () => resolve(undefined));
      proc.once('error', resolve);
    });
    if (spawned) throw new ChildStartError(`could not start ${JSON.stringify(file)}: ${spawned.message}`);
    const child = new RcloneChild(proc, spec);
    try {
      await child.#ready(spec.startTimeoutMs);
      return child;
    } catch (err) {
      child.kill('SIGKILL');
      await child.#exited;
      throw err;
    }
  }

  get port(): number {
    return this.#port;
  }

  get alive(): boolean {
    return this.#exit === undefined;
  }

  /** Resolves when the process has exited. */
  get exited(): Promise<ExitInfo> {
    return this.#exited;
  }

  /** The last lines the child printed, secrets blanked: for error messages. */
  stderrTail(): string {
    return this.#tail.join('\n');
  }

  async #ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const failure = (why: string) =>
      new ChildStartError(`rclone rcd ${why}${this.#tail.length ? `; it printed: ${this.stderrTail()}` : ''}`);
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(failure(`did not answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const died = this.#exited.then((e) => {
      throw failure(`exited during start (code ${e.code}, signal ${e.signal})`);
    });
    const listening = new Promise<void>((resolve) => {
      const check = () => {
        if (this.#port) {
          this.#proc.stderr?.off('data', check);
          resolve();
        }
      };
      this.#proc.stderr?.on('data', check);
      check();
    });
    try {
      await Promise.race([listening, died, timeout]);
      const reply = await Promise.race([
        this.call<CorePidReply>('core/pid', {}, { timeoutMs: Math.max(1, deadline - Date.now()) }),
        died,
        timeout,
      ]);
      if (reply.pid !== this.pid)
        throw failure(`on port ${this.#port} answered with pid ${reply.pid}, not ${this.pid}`);
    } finally {
      clearTimeout(timer);
      died.catch(() => undefined);
    }
  }

  #stderr(chunk: string): void {
    const lines = (this.#partial + chunk).split('\n');
    this.#partial = lines.pop() ?? '';
    if (this.#partial.length > 10_000) this.#partial = this.#partial.slice(0, 10_000);
    for (const raw of lines) {
      const line = this.#redact(raw.trimEnd());
      if (!line || DROPPED_OWN_METADATA.test(line)) continue;
      if (!this.#port) {
        const serving = SERVING.exec(line);
        if (serving) this.#port = Number(serving[1]);
      }
      this.#tail.push(line.slice(0, 2000));
      if (this.#tail.length > TAIL_LINES) this.#tail.shift();
      this.#log.debug({ rclone: line }, 'rclone output');
    }
  }

  #redact(line: string): string {
    let out = line;
    for (const secret of this.#secrets) out = out.split(secret).join('[redacted]');
    return out;
  }

  /** One rc call. Rejects with RcReplyError, RcTransportError or RcAbortError. */
  call<T>(path: string, params: object, options: CallOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const { signal, timeoutMs } = options;
      if (signal?.aborted) return reject(new RcAbortError('aborted before the call'));
      if (!this.alive || !this.#port) return reject(new RcTransportError(`rclone child ${this.pid} is not running`));
      const body = Buffer.from(JSON.stringify(params));
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const req = request({
        host: '127.0.0.1',
        port: this.#port,
        path: `/${path}`,
        method: 'POST',
        agent: this.#agent,
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          authorization: this.#authorization,
        },
      });
      // Dropping the request cancels the call inside rclone (its context is the request's).
      const onAbort = () => req.destroy(new RcAbortError('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs) {
        req.setTimeout(timeoutMs, () => req.destroy(new RcTransportError(`${path}: no answer within ${timeoutMs} ms`)));
      }
      req.on('error', (err) =>
        finish(() =>
          reject(
            err instanceof RcAbortError || err instanceof RcTransportError
              ? err
              : new RcTransportError(`${path} on rclone child ${this.pid}: ${err.message}`),
          ),
        ),
      );
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) =>
          finish(() => reject(new RcTransportError(`${path} on rclone child ${this.pid}: ${err.message}`))),
        );
        res.on('end', () =>
          finish(() => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            if (res.statusCode === 200 && parsed !== undefined) return resolve(parsed as T);
            if (isRcErrorReply(parsed)) return reject(new RcReplyError(parsed));
            // not rclone's JSON (a 401 from a stranger on a reused port, a proxy page): not our child
            reject(
              new RcTransportError(
                `${path} on rclone child ${this.pid}: unexpected HTTP ${res.statusCode} reply: ${text.slice(0, 200)}`,
              ),
            );
          }),
        );
      });
      req.end(body);
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.alive) this.#proc.kill(signal);
  }

  /** SIGTERM, then SIGKILL after the grace; resolves when the process has exited. */
  async stop(graceMs: number): Promise<ExitInfo> {
    if (!this.alive) return this.#exited;
    this.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), graceMs);
    });
    const first = await Promise.race([this.#exited, grace]);
    clearTimeout(timer);
    if (first === 'late') {
      this.#log.warn({ graceMs }, 'rclone child ignored SIGTERM: killing it');
      this.kill('SIGKILL');
    }
    return this.#exited;
  }
}

/** The executable a name resolves to (searched on PATH unless it has a slash), or undefined. */
export function findExecutable(name: string, path: string): string | undefined {
  const candidates = name.includes('/')
    ? [name]
    : path
        .split(delimiter)
        .filter(isAbsolute)
        .map((d) => join(d, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * On Linux, util-linux's setpriv makes the kernel SIGKILL a child when the daemon dies, even by SIGKILL,
 * so no orphaned rclone keeps running (and holding the source keys) after a crash. The setting survives
 * setpriv's exec of rclone. Where setpriv is missing, children are spawned directly (systemd's cgroup
 * kill still reaps them in production).
 */
export function parentDeathWrapper(path: string): string[] {
  if (process.platform !== 'linux') return [];
  const setpriv = findExecutable('setpriv', path);
  return setpriv ? [setpriv, '--pdeathsig', 'KILL', '--'] : [];
}
