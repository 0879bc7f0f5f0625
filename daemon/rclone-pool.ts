// The supervised pool of long-lived `rclone rcd` children: dispatch of copies to the least busy healthy
// child (FIFO when all slots are taken), health checks, restarts with back-off, transparent retry of
// copies a dying child had in flight, rolling restarts when the source credentials change, and recycling
// of a child past its memory or copy limit (drained, then restarted in its slot).
import { randomBytes } from 'node:crypto';
import { CopyError, errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Metrics } from './metrics.ts';
import { readRssBytes } from './proc-rss.ts';
import { classifyRcError, describeCopyFailure, type CopyFileParams, type CorePidReply } from './rc-api.ts';
import { parentDeathWrapper, RcAbortError, RcloneChild, RcReplyError, RcTransportError } from './rclone-child.ts';
import { childArgs, childEnv, DEST_REMOTE, SOURCE_REMOTE, type DestRemote, type SourceRemote } from './rclone-env.ts';
import { recycleDecision, type RecycleLimits, type RecycleReason } from './recycle.ts';

export type { DestRemote, SourceRemote } from './rclone-env.ts';

/** Supervision timings; the defaults suit production, tests shorten them. */
export type PoolTuning = {
  healthIntervalMs: number;
  healthTimeoutMs: number;
  /** Consecutive failed health checks before a child is killed and restarted. */
  healthFailures: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** A child up this long has its back-off reset. */
  stableAfterMs: number;
  /** Times a copy is moved to another child after its child broke under it. */
  childRetries: number;
  /** Copies waiting for a slot fail (kind 'child') once no child has been up for this long. */
  noChildTimeoutMs: number;
  /** SIGTERM to SIGKILL on stop. */
  stopGraceMs: number;
};

export const DEFAULT_TUNING: PoolTuning = {
  healthIntervalMs: 5_000,
  healthTimeoutMs: 10_000,
  healthFailures: 3,
  backoffBaseMs: 500,
  backoffMaxMs: 30_000,
  stableAfterMs: 60_000,
  childRetries: 3,
  noChildTimeoutMs: 60_000,
  stopGraceMs: 5_000,
};

export type PoolOptions = {
  binary: string;
  children: number;
  transfersPerChild: number;
  flags: string[];
  startTimeoutMs: number;
  source: SourceRemote;
  dest: DestRemote;
  baseEnv: NodeJS.ProcessEnv;
  log: Logger;
  metrics?: Metrics;
  tuning?: Partial<PoolTuning>;
  /** Connect and idle timeouts towards the stores (rclone-env.ts childArgs). */
  timeouts?: { connectMs: number; idleMs: number };
  /** Let rclone write its own mtime, btime and md5chksum metadata (rclone-env.ts ownMetadataFlags). */
  keepOwnMetadata?: boolean;
  /** A child past these limits is drained and restarted (recycle.ts); default: never. */
  recycle?: RecycleLimits;
  /** Each child's --low-level-retries (rclone-env.ts lowLevelRetries). */
  lowLevelRetries?: number;
};

export type CopyRequest = {
  srcBucket: string;
  srcKey: string;
  dstBucket: string;
  dstKey: string;
  /**
   * The destination is presumed absent (a first delivery): rclone skips its HEAD of the source and
   * its existence check at the destination, two of the four requests of a small copy. Redeliveries
   * leave it unset so an object already copied is found identical and skipped.
   */
  presumeAbsent?: boolean;
  /** The tag set as an x-amz-tagging value: sent with the upload (rclone never reads tags itself). */
  tagging?: string;
  signal?: AbortSignal;
};

/** capacity: copies the pool runs at once when all children are up (children × transfersPerChild). */
export type PoolStats = { up: number; total: number; restarts: number; busy: number; capacity: number };

export type ChildInfo = { slot: number; pid: number | undefined; port: number | undefined; up: boolean; busy: number };

/** The back-off before restart number `failures` (0-based) of a slot. */
export function backoffMs(failures: number, tuning: Pick<PoolTuning, 'backoffBaseMs' | 'backoffMaxMs'>): number {
  return Math.min(tuning.backoffMaxMs, tuning.backoffBaseMs * 2 ** Math.min(failures, 30));
}

type Slot = {
  index: number;
  child: RcloneChild | undefined;
  up: boolean;
  /** Copies dispatched to this slot, including ones still finishing on a child it has since replaced. */
  busy: number;
  upSince: number;
  /** Restarts since the slot was last stable: drives the back-off. */
  failures: number;
  healthFailures: number;
  checking: boolean;
  restartTimer: NodeJS.Timeout | undefined;
  /** Source credentials generation its child was started with. */
  generation: number;
  /** Copies dispatched to its child since it started, and the child's last sampled RSS. */
  copies: number;
  rssBytes: number | undefined;
  /** A recycle under way: its child takes no new copies, then it is stopped and the slot started again. */
  recycling: 'draining' | 'restarting' | undefined;
};

type Lease = { slot: Slot; child: RcloneChild };

type Where = { bucket: string; key: string; attempt: number };

type Waiter = {
  avoid: RcloneChild | undefined;
  resolve: (lease: Lease) => void;
  reject: (err: Error) => void;
};

export class RclonePool {
  readonly #options: PoolOptions;
  readonly #tuning: PoolTuning;
  readonly #log: Logger;
  readonly #slots: Slot[];
  readonly #waiters: Waiter[] = [];
  /** Copies running per child, so a replaced child is stopped once its last copy ends. */
  readonly #inFlight = new Map<RcloneChild, number>();
  readonly #retired = new Set<RcloneChild>();
  #source: SourceRemote;
  #generation = 0;
  #restarts = 0;
  #started = false;
  #stopping = false;
  #allDownSince: number | undefined = Date.now();
  #healthTimer: NodeJS.Timeout | undefined;
  #rolling: Promise<void> = Promise.resolve();
  /** Child starts under way, so stop() can wait for them. */
  readonly #starts = new Set<Promise<unknown>>();
  readonly #onProcessExit = () => this.killNow();
  readonly #wrapper: string[];

  constructor(options: PoolOptions) {
    this.#options = options;
    this.#tuning = { ...DEFAULT_TUNING, ...options.tuning };
    this.#log = options.log;
    this.#source = options.source;
    this.#wrapper = parentDeathWrapper(options.baseEnv.PATH ?? '');
    // Fail at once on a bad flag or option, not in every child start.
    this.#args();
    childEnv({ source: options.source, dest: options.dest, baseEnv: options.baseEnv, rcUser: 'u', rcPass: 'p' });
    this.#slots = Array.from({ length: options.children }, (_, index) => ({
      index,
      child: undefined,
      up: false,
      busy: 0,
      upSince: 0,
      failures: 0,
      healthFailures: 0,
      checking: false,
      restartTimer: undefined,
      generation: 0,
      copies: 0,
      rssBytes: undefined,
      recycling: undefined,
    }));
    options.metrics?.childrenConfigured.set(options.children);
    options.metrics?.childrenUp.set(0);
  }

  /** Starts every child; resolves when all answered, or rejects when none did (the rest keep retrying). */
  async start(): Promise<void> {
    if (this.#started) throw new Error('RclonePool.start() called twice');
    this.#started = true;
    process.once('exit', this.#onProcessExit);
    const results = await Promise.allSettled(this.#slots.map((slot) => this.#startSlot(slot)));
    const failures = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (failures.length === this.#slots.length) {
      await this.stop();
      const first = failures[0];
      throw new Error(`no rclone child came up: ${errorMessage(first)}`, { cause: first });
    }
    this.#healthTimer = setInterval(() => this.#healthTick(), this.#tuning.healthIntervalMs);
    this.#healthTimer.unref();
    if (failures.length) {
      this.#log.warn(
        { up: this.#upCount(), total: this.#slots.length, error: errorMessage(failures[0]) },
        'some rclone children did not come up; retrying them in the background',
      );
    } else {
      this.#log.info(
        { children: this.#slots.length, pids: this.#slots.map((s) => s.child?.pid) },
        'rclone children up',
      );
    }
  }

  /** Copies one object through the least busy healthy child. Rejects with CopyError. */
  async copy(req: CopyRequest): Promise<void> {
    const where = { bucket: req.srcBucket, key: req.srcKey, attempt: 0 };
    const params: CopyFileParams = req.presumeAbsent
      ? {
          srcFs: `${SOURCE_REMOTE},no_head_object=true:${req.srcBucket}`,
          srcRemote: req.srcKey,
          dstFs: `${DEST_REMOTE}:${req.dstBucket}`,
          dstRemote: req.dstKey,
          _config: { NoCheckDest: true },
        }
      : {
          srcFs: `${SOURCE_REMOTE}:${req.srcBucket}`,
          srcRemote: req.srcKey,
          dstFs: `${DEST_REMOTE}:${req.dstBucket}`,
          dstRemote: req.dstKey,
        };
    if (req.tagging) params._config = { ...params._config, MetadataSet: { 'x-amz-tagging': req.tagging } };
    let avoid: RcloneChild | undefined;
    for (let moved = 0; ; moved++) {
      const lease = await this.#acquire(req.signal, avoid, where);
      try {
        await lease.child.call('operations/copyfile', params, { signal: req.signal });
        return;
      } catch (err) {
        if (err instanceof RcAbortError || req.signal?.aborted) {
          throw new CopyError('aborted', 'copy aborted', where);
        }
        if (err instanceof RcReplyError) {
          const endpoints = { source: this.#source.endpoint, dest: this.#options.dest.endpoint };
          const { store, text } = describeCopyFailure(err.reply, endpoints);
          throw new CopyError(classifyRcError(err.reply), text, { ...where, store });
        }
        if (!(err instanceof RcTransportError)) throw new CopyError('copy', errorMessage(err), where);
        if (this.#stopping) throw new CopyError('aborted', 'the rclone pool is stopping', where);
        await this.#suspect(lease);
        if (moved >= this.#tuning.childRetries) {
          throw new CopyError('child', `rclone children kept failing under the copy: ${err.message}`, where);
        }
        this.#log.warn(
          { slot: lease.slot.index, pid: lease.child.pid, error: err.message },
          'rclone child failed under a copy: retrying on another child',
        );
        avoid = lease.child;
      } finally {
        this.#release(lease);
      }
    }
  }

  /** New source credentials: each child is replaced by one started with them; copies under way finish. */
  async updateSource(source: SourceRemote): Promise<void> {
    childEnv({ source, dest: this.#options.dest, baseEnv: this.#options.baseEnv, rcUser: 'u', rcPass: 'p' });
    this.#source = source;
    this.#generation++;
    return this.#scheduleRoll();
  }

  #scheduleRoll(): Promise<void> {
    const run = this.#rolling.then(() => this.#roll());
    this.#rolling = run.catch(() => undefined);
    return run;
  }

  stats(): PoolStats {
    const up = this.#upCount();
    return {
      up,
      total: this.#slots.length,
      restarts: this.#restarts,
      busy: this.#slots.reduce((n, s) => n + s.busy, 0),
      capacity: this.#slots.length * this.#options.transfersPerChild,
    };
  }

  /** Per slot: its child's pid and rc port, whether it takes copies, copies running. */
  childInfo(): ChildInfo[] {
    return this.#slots.map((s) => ({ slot: s.index, pid: s.child?.pid, port: s.child?.port, up: s.up, busy: s.busy }));
  }

  /** Stops taking copies, SIGTERMs every child (SIGKILL after a grace) and resolves when all exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#healthTimer);
    for (const slot of this.#slots) clearTimeout(slot.restartTimer);
    for (const waiter of this.#waiters.splice(0)) waiter.reject(new Error('the rclone pool is stopping'));
    const children = [...this.#slots.flatMap((s) => (s.child ? [s.child] : [])), ...this.#retired];
    for (const slot of this.#slots) slot.up = false;
    this.#updateUp();
    await Promise.all(children.map((c) => c.stop(this.#tuning.stopGraceMs)));
    // a start under way when stop() was called stops its own child (see #startChild)
    await Promise.allSettled([...this.#starts]);
    process.off('exit', this.#onProcessExit);
  }

  /** SIGKILLs every child at once (a second signal; the process exiting). */
  killNow(): void {
    this.#stopping = true;
    clearInterval(this.#healthTimer);
    for (const slot of this.#slots) {
      clearTimeout(slot.restartTimer);
      slot.child?.kill('SIGKILL');
    }
    for (const child of this.#retired) child.kill('SIGKILL');
  }

  #upCount(): number {
    return this.#slots.filter((s) => s.up).length;
  }

  #updateUp(): void {
    const up = this.#upCount();
    this.#options.metrics?.childrenUp.set(up);
    if (up > 0) this.#allDownSince = undefined;
    else this.#allDownSince ??= Date.now();
  }

  #args(): string[] {
    const { transfersPerChild, flags, baseEnv, timeouts, keepOwnMetadata, lowLevelRetries } = this.#options;
    return childArgs({ transfersPerChild, flags, baseEnv, timeouts, keepOwnMetadata, lowLevelRetries });
  }

  #spec() {
    const rcUser = randomBytes(12).toString('hex');
    const rcPass = randomBytes(24).toString('hex');
    const { baseEnv, dest } = this.#options;
    const source = this.#source;
    return {
      binary: this.#options.binary,
      wrapper: this.#wrapper,
      args: this.#args(),
      env: childEnv({ source, dest, baseEnv, rcUser, rcPass }),
      rcUser,
      rcPass,
      startTimeoutMs: this.#options.startTimeoutMs,
      secrets: [rcPass, source.secretAccessKey, baseEnv.AWS_SECRET_ACCESS_KEY ?? '', baseEnv.AWS_SESSION_TOKEN ?? ''],
    };
  }

  /** Starts a child into a slot. On failure the slot is left down with a restart scheduled. */
  async #startSlot(slot: Slot): Promise<void> {
    const generation = this.#generation;
    try {
      this.#install(slot, await this.#startChild(slot), generation);
      // started with credentials replaced while it came up: roll it too
      if (generation !== this.#generation) void this.#scheduleRoll();
    } catch (err) {
      // even a missing binary may be back soon (a package upgrade); start() gives up if none came up
      if (!this.#stopping) this.#scheduleRestart(slot);
      throw err;
    }
  }

  /** Starts a child with the current source; one that comes up after stop() began is stopped again. */
  #startChild(slot: Slot): Promise<RcloneChild> {
    const start = (async () => {
      const child = await RcloneChild.start({ ...this.#spec(), log: this.#log.child({ slot: slot.index }) });
      if (this.#stopping) {
        await child.stop(this.#tuning.stopGraceMs);
        throw new Error('the rclone pool is stopping');
      }
      return child;
    })();
    this.#starts.add(start);
    void start.catch(() => undefined).finally(() => this.#starts.delete(start));
    return start;
  }

  /** Makes a running child the one a slot dispatches to. */
  #install(slot: Slot, child: RcloneChild, generation: number): void {
    slot.child = child;
    slot.up = true;
    slot.upSince = Date.now();
    slot.healthFailures = 0;
    slot.generation = generation;
    slot.copies = 0;
    slot.rssBytes = undefined;
    // before #pump below: from here another slot may be recycled
    if (slot.recycling) this.#log.debug({ slot: slot.index, pid: child.pid }, 'recycled rclone child is up');
    slot.recycling = undefined;
    this.#inFlight.set(child, 0);
    void child.exited.then((exit) => this.#childExited(slot, child, exit));
    this.#updateUp();
    this.#pump();
  }

  #childExited(slot: Slot, child: RcloneChild, exit: { code: number | null; signal: NodeJS.Signals | null }): void {
    this.#retired.delete(child);
    if ((this.#inFlight.get(child) ?? 0) === 0) this.#inFlight.delete(child);
    if (slot.child !== child) return;
    slot.up = false;
    slot.child = undefined;
    this.#updateUp();
    if (this.#stopping) return;
    if (Date.now() - slot.upSince >= this.#tuning.stableAfterMs) slot.failures = 0;
    this.#log.warn(
      { slot: slot.index, pid: child.pid, code: exit.code, signal: exit.signal, stderr: child.stderrTail() },
      'rclone child exited',
    );
    this.#scheduleRestart(slot);
  }

  #scheduleRestart(slot: Slot): void {
    if (this.#stopping || slot.restartTimer) return;
    const delay = backoffMs(slot.failures, this.#tuning);
    slot.failures++;
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.#stopping) return;
      this.#restarts++;
      this.#options.metrics?.childRestarts.inc();
      this.#log.info({ slot: slot.index, attempt: slot.failures }, 'restarting rclone child');
      this.#startSlot(slot).catch((err: unknown) =>
        this.#log.warn({ slot: slot.index, error: errorMessage(err) }, 'rclone child restart failed'),
      );
    }, delay);
  }

  /** Waits (FIFO) for a slot with room on a healthy child. */
  #acquire(signal: AbortSignal | undefined, avoid: RcloneChild | undefined, where: Where): Promise<Lease> {
    return new Promise<Lease>((resolve, reject) => {
      if (signal?.aborted) return reject(new CopyError('aborted', 'copy aborted', where));
      if (this.#stopping || !this.#started) {
        return reject(new CopyError('aborted', 'the rclone pool is not running', where));
      }
      const onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new CopyError('aborted', 'copy aborted while waiting for an rclone child', where));
      };
      const waiter: Waiter = {
        avoid,
        resolve: (lease) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(lease);
        },
        reject: (err) => {
          signal?.removeEventListener('abort', onAbort);
          reject(
            err instanceof CopyError ? err : new CopyError(this.#stopping ? 'aborted' : 'child', err.message, where),
          );
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#pump();
      this.#failIfNoChild();
    });
  }

  #release(lease: Lease): void {
    lease.slot.busy--;
    const left = (this.#inFlight.get(lease.child) ?? 1) - 1;
    this.#inFlight.set(lease.child, left);
    if (left === 0 && this.#retired.has(lease.child)) void this.#stopRetired(lease.child);
    if (left === 0 && !lease.child.alive) this.#inFlight.delete(lease.child);
    if (left === 0 && lease.slot.child === lease.child && lease.slot.recycling === 'draining') {
      void this.#restartRecycled(lease.slot, lease.child);
    }
    this.#pump();
  }

  /** Hands free slots to waiters in arrival order: the least busy up child, another than `avoid` if any. */
  #pump(): void {
    const capacity = this.#options.transfersPerChild;
    while (this.#waiters.length > 0) {
      const waiter = this.#waiters[0] as Waiter;
      let best: Slot | undefined;
      for (const slot of this.#slots) {
        if (!slot.up || !slot.child || slot.recycling || slot.busy >= capacity) continue;
        if (!best) {
          best = slot;
          continue;
        }
        const avoidBest = best.child === waiter.avoid;
        const avoidThis = slot.child === waiter.avoid;
        if (avoidBest !== avoidThis ? avoidBest : slot.busy < best.busy) best = slot;
      }
      if (!best || !best.child) return;
      this.#waiters.shift();
      best.busy++;
      best.copies++;
      this.#inFlight.set(best.child, (this.#inFlight.get(best.child) ?? 0) + 1);
      waiter.resolve({ slot: best, child: best.child });
      this.#considerRecycle(best);
    }
  }

  /** Copies waiting while no child has been up for too long fail rather than wait forever. */
  #failIfNoChild(): void {
    if (this.#allDownSince === undefined || !this.#waiters.length) return;
    if (Date.now() - this.#allDownSince < this.#tuning.noChildTimeoutMs) return;
    const seconds = Math.round((Date.now() - this.#allDownSince) / 1000);
    for (const waiter of this.#waiters.splice(0)) {
      waiter.reject(new Error(`no rclone child has been up for ${seconds} s`));
    }
  }

  #healthTick(): void {
    this.#failIfNoChild();
    for (const slot of this.#slots) void this.#check(slot);
  }

  /**
   * A copy broke on this child. If the child does not answer a health check at once either, it takes no
   * more copies and is killed (its exit restarts the slot), so the retry cannot land on it again.
   */
  async #suspect(lease: Lease): Promise<void> {
    const { slot, child } = lease;
    if (!child.alive) return;
    try {
      const reply = await child.call<CorePidReply>('core/pid', {}, { timeoutMs: this.#tuning.healthTimeoutMs });
      if (reply.pid === child.pid) return; // a broken connection, not a broken child
    } catch {
      // fall through
    }
    if (slot.child === child && slot.up) {
      slot.up = false;
      this.#updateUp();
    }
    this.#log.warn({ slot: slot.index, pid: child.pid }, 'rclone child broke a copy and does not answer: killing it');
    child.kill('SIGKILL');
  }

  async #check(slot: Slot): Promise<void> {
    const child = slot.child;
    if (!child || !slot.up || slot.checking || this.#stopping) return;
    slot.checking = true;
    try {
      const reply = await child.call<CorePidReply>('core/pid', {}, { timeoutMs: this.#tuning.healthTimeoutMs });
      if (reply.pid !== child.pid) throw new Error(`answered with pid ${reply.pid}`);
      slot.healthFailures = 0;
      if (Date.now() - slot.upSince >= this.#tuning.stableAfterMs) slot.failures = 0;
      await this.#sampleRss(slot, child);
    } catch (err) {
      if (slot.child !== child || !child.alive) return;
      slot.healthFailures++;
      this.#log.warn(
        { slot: slot.index, pid: child.pid, failures: slot.healthFailures, error: errorMessage(err) },
        'rclone child failed its health check',
      );
      if (slot.healthFailures >= this.#tuning.healthFailures) {
        slot.up = false;
        this.#updateUp();
        child.kill('SIGKILL'); // its exit restarts the slot
      }
    } finally {
      slot.checking = false;
    }
  }

  /** Replaces every child started with older credentials, one slot at a time. */
  async #roll(): Promise<void> {
    for (const slot of this.#slots) {
      if (this.#stopping) return;
      const generation = this.#generation;
      const old = slot.child;
      if (!old || !slot.up || slot.generation === generation) continue; // a slot restarting picks up the new source
      let fresh: RcloneChild;
      try {
        fresh = await this.#startChild(slot);
      } catch (err) {
        if (this.#stopping) return;
        this.#log.warn(
          { slot: slot.index, error: errorMessage(err) },
          'could not start an rclone child with the new source credentials; the old one stays',
        );
        continue;
      }
      if (slot.child !== old || !slot.up) {
        // the old child died meanwhile and the slot restarts on its own, with the new source
        await fresh.stop(this.#tuning.stopGraceMs);
        continue;
      }
      this.#retired.add(old);
      if ((this.#inFlight.get(old) ?? 0) === 0) void this.#stopRetired(old);
      this.#install(slot, fresh, generation);
    }
    this.#log.info({ up: this.#upCount() }, 'rclone children restarted with new source credentials');
  }

  /** Reads a healthy child's RSS on the health-check tick, and recycles it if that is past the limit. */
  async #sampleRss(slot: Slot, child: RcloneChild): Promise<void> {
    const rss = await readRssBytes(child.pid);
    if (rss === undefined || slot.child !== child) return;
    slot.rssBytes = rss;
    this.#options.metrics?.childRss.set({ slot: String(slot.index) }, rss);
    this.#considerRecycle(slot);
  }

  #considerRecycle(slot: Slot): void {
    const limits = this.#options.recycle;
    const child = slot.child;
    if (!limits || !child || !slot.up || slot.recycling || this.#stopping) return;
    const decision = recycleDecision({
      rssBytes: slot.rssBytes,
      copies: slot.copies,
      limits,
      anotherRecycling: this.#slots.some((s) => s !== slot && s.recycling !== undefined),
      slots: this.#slots.length,
      othersUp: this.#slots.filter((s) => s !== slot && s.up).length,
    });
    if (decision.action === 'recycle') this.#beginRecycle(slot, child, decision.reason);
  }

  /** Takes the child out of dispatch; it is restarted once its copies in flight are done (#release). */
  #beginRecycle(slot: Slot, child: RcloneChild, reason: RecycleReason): void {
    slot.recycling = 'draining';
    this.#options.metrics?.childRecycles.inc({ reason });
    const inFlight = this.#inFlight.get(child) ?? 0;
    this.#log.info(
      { slot: slot.index, pid: child.pid, reason, rssBytes: slot.rssBytes, copies: slot.copies, inFlight },
      'recycling rclone child: it takes no new copies and restarts once those in flight are done',
    );
    if (inFlight === 0) void this.#restartRecycled(slot, child);
  }

  /** Stops a drained child and starts a fresh one in its slot; a failed start retries with back-off. */
  async #restartRecycled(slot: Slot, child: RcloneChild): Promise<void> {
    slot.recycling = 'restarting';
    slot.up = false;
    slot.child = undefined; // its exit is then no crash to restart from (#childExited)
    this.#retired.add(child);
    this.#updateUp();
    await this.#stopRetired(child);
    if (this.#stopping) return;
    try {
      await this.#startSlot(slot);
    } catch (err) {
      this.#log.warn(
        { slot: slot.index, error: errorMessage(err) },
        'rclone child did not come back after recycling: retrying with back-off',
      );
    }
  }

  async #stopRetired(child: RcloneChild): Promise<void> {
    await child.stop(this.#tuning.stopGraceMs);
    this.#retired.delete(child);
    this.#inFlight.delete(child);
  }
}
