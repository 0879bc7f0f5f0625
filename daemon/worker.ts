// The worker daemon: receives batches while there is room, runs each through processMessage,
// keeps them invisible while they run, and drains cleanly on shutdown.
import type { Config } from '../shared/config.ts';
import { destEndpoint, destS3Client, sqsClient, storeTimeouts } from '../shared/aws.ts';
import { ConfigError, errorMessage } from '../shared/errors.ts';
import { requireSupportedRclone } from '../shared/rclone-version.ts';
import type { Logger } from '../shared/logger.ts';
import type { Copier } from './copy-object.ts';
import type { DestControls } from './dest-controls.ts';
import { health, type Health } from './health.ts';
import { Heartbeat } from './heartbeat.ts';
import { startStatusServer, type StatusServer } from './http-server.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import {
  OutageGate,
  probeStore,
  UNAVAILABILITIES,
  type ProbeFailure,
  type Stores,
  type Unavailability,
} from './outage.ts';
import { processMessage, type MessageDeps } from './process-message.ts';
import { resolveDeadLetterUrl } from '../shared/dead-letter-url.ts';
import { WorkQueue, type ReceivedMessage } from './queue.ts';
import { RclonePool, type SourceRemote } from './rclone-pool.ts';
import { limitFlags, lowLevelRetries } from './rclone-env.ts';
import { copyLimits } from './copy-limits.ts';
import { ByteRate } from './byte-rate.ts';
import type { KeyOutcome } from './settle.ts';
import { SourceAccess } from './source-access.ts';
import { SourceTags } from './source-tags.ts';
import type { StatusSample } from './status-line.ts';
import { BatchVerifier } from './verify-batch.ts';
import type { SourceCredentials } from '../shared/aws.ts';
import type { StoreSide } from '../shared/errors.ts';
import { sourceSecretNames } from '../shared/source-credentials.ts';

/** Told when the worker starts and stops having work (scale-in protection, systemd status). */
export type ActivityListener = { busy(): void; idle(): void };

/** The destination's storage class and encryption, from the settings. */
export function destControls(config: Pick<Config, 'dest'>): DestControls {
  const { storageClass, sse, sseKmsKeyId, sseBucketKey } = config.dest;
  return { storageClass, sse, sseKmsKeyId, sseBucketKey };
}

/** Messages held at once when not configured: enough queued keys to keep every copy slot busy. */
export function autoMaxMessages(capacity: number): number {
  return Math.max(2, Math.ceil(capacity / 10) + 1);
}

const SQS_BACKOFF_MS = { first: 1000, max: 30_000 };
/** How long past its long-poll wait a receive may take once draining began (a slow or retried call). */
const RECEIVE_GRACE_MS = 10_000;
/** The longest wait between probes of stores that do not answer. */
const OUTAGE_PROBE_MAX_MS = 300_000;

export class Worker {
  readonly metrics: Metrics;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #pool: RclonePool;
  readonly #source: SourceAccess;
  readonly #queue: WorkQueue;
  readonly #heartbeat: Heartbeat;
  readonly #deps: MessageDeps;
  readonly #maxMessages: number;
  readonly #inFlight = new Map<string, Promise<void>>();
  readonly #pollAbort = new AbortController();
  /** Ends a receive only when draining has waited out the long poll and more (see #settleReceive). */
  readonly #receiveAbort = new AbortController();
  /** The receive in flight, with the hand-back of what it returned once draining began. */
  #receiving: Promise<unknown> | undefined;
  readonly #copyAbort = new AbortController();
  readonly #listeners: ActivityListener[] = [];
  readonly #outage: OutageGate;
  /** Cuts the copies in flight when a probe finds their store gone (they are handed back, not failed). */
  #outageAbort = new AbortController();
  /** Copies running, and when one last started from idle or ended: a stalled store shows as no change. */
  #copiesRunning = 0;
  #lastCopyChange = Date.now();
  #stallStores: Stores | undefined;
  #stallProbing = false;
  #stallTimer: NodeJS.Timeout | undefined;
  #server: StatusServer | undefined;
  #stopping = false;
  #sqsFailingSince: number | undefined;
  #room: (() => void) | undefined;
  #copied = 0;

  private constructor(init: {
    config: Config;
    log: Logger;
    metrics: Metrics;
    pool: RclonePool;
    source: SourceAccess;
    queue: WorkQueue;
  }) {
    this.#config = init.config;
    this.#log = init.log;
    this.metrics = init.metrics;
    this.#pool = init.pool;
    this.#source = init.source;
    this.#queue = init.queue;
    this.#heartbeat = new Heartbeat(init.queue, init.config.queue.heartbeatSeconds * 1000, init.log);
    const capacity = init.pool.stats().capacity;
    this.#maxMessages = init.config.worker.maxMessagesInFlight || autoMaxMessages(capacity);
    this.#outage = new OutageGate(init.config.worker.outageProbeSeconds * 1000, OUTAGE_PROBE_MAX_MS);
    const copier: Copier = {
      rcloneCopy: (req) => init.pool.copy(req),
      source: () => init.source.client(),
      dest: destS3Client({
        region: init.config.dest.region,
        endpoint: destEndpoint(init.config.dest.endpoint),
        maxSockets: capacity * 2,
        timeouts: storeTimeouts(init.config),
      }),
      partSizeBytes: init.config.worker.sdkPartSizeMiB * 1024 * 1024,
      partConcurrency: init.config.worker.sdkPartConcurrency,
      verifyEtag: init.config.worker.verifyEtag,
      copyPath: init.config.worker.copyPath,
      rcloneFromBytes: init.config.worker.rcloneFromMiB * 1024 * 1024,
      controls: destControls(init.config),
      tags: new SourceTags(init.log, init.config.worker.copyTags),
      limits: init.config.worker.adaptiveConcurrency
        ? copyLimits(capacity, init.metrics, init.config.worker.maxRequestsPerSecond)
        : undefined,
      bandwidth: init.config.worker.maxMiBPerSecond
        ? new ByteRate(init.config.worker.maxMiBPerSecond * 1024 * 1024)
        : undefined,
    };
    this.#deps = {
      queue: init.queue,
      copier,
      verifier: new BatchVerifier({
        dest: copier.dest,
        source: () => init.source.client(),
        by: init.config.worker.verifyBy,
        compareEtag: init.config.worker.verifyEtag,
        metrics: init.metrics,
        log: init.log,
        endpoint: destEndpoint(init.config.dest.endpoint),
      }),
      metrics: init.metrics,
      log: init.log,
      retry: { maxAttempts: init.config.worker.maxAttempts, retryDelaySeconds: init.config.worker.retryDelaySeconds },
      onAuthError: () => void init.source.refresh(),
      onOutcomes: (outcomes, stores) => this.#noteOutcomes(outcomes, stores),
      onCopy: (event, stores) => this.#noteCopy(event, stores),
    };
    const idleMs = init.config.worker.storeIdleTimeoutSeconds * 1000;
    // Stalled for one idle timeout, checked four times as often, a probe bounded by connect + idle:
    // a silent store is seen within 30 s with the defaults (10 + 2.5 + 15 s at worst).
    this.#stallTimer = setInterval(() => void this.#checkStall(idleMs), Math.max(1000, idleMs / 4));
    this.#stallTimer.unref();
  }

  /** Reads credentials, finds the queues, starts the rclone children and the status server. */
  static async start(config: Config, log: Logger): Promise<Worker> {
    if (!config.queue.url) throw new ConfigError('queue.url is not set (--queue-url or QUEUE_URL)');
    const rclone = requireSupportedRclone(config.rclone.binary);
    const metrics = createMetrics();
    const sqs = sqsClient();
    const deadLetterUrl = await resolveDeadLetterUrl(sqs, config.queue.url, config.queue.deadLetterUrl);
    const queue = new WorkQueue({
      client: sqs,
      url: config.queue.url,
      deadLetterUrl,
      visibilitySeconds: config.queue.visibilitySeconds,
      waitSeconds: config.queue.waitSeconds,
      metrics,
    });
    const capacity = config.rclone.children * config.rclone.transfersPerChild;
    const source = await SourceAccess.open({
      config,
      log,
      // Called only after a refresh, long after the pool below exists.
      onChange: async (creds) => pool.updateSource(sourceRemote(config, creds)),
      maxSockets: capacity * 2,
      onRefreshed: (result) => metrics.credentialRefreshes.inc({ result }),
    });
    const pool = new RclonePool({
      binary: config.rclone.binary,
      children: config.rclone.children,
      transfersPerChild: config.rclone.transfersPerChild,
      flags: [
        ...limitFlags({
          children: config.rclone.children,
          maxRequestsPerSecond: config.worker.maxRequestsPerSecond,
          maxMiBPerSecond: config.worker.maxMiBPerSecond,
        }),
        ...config.rclone.flags,
      ],
      keepOwnMetadata: config.rclone.keepOwnMetadata,
      startTimeoutMs: config.rclone.startTimeoutSeconds * 1000,
      source: sourceRemote(config, source.credentials),
      dest: {
        endpoint: destEndpoint(config.dest.endpoint),
        region: config.dest.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || '',
        options: config.dest.rcloneOptions,
        controls: destControls(config),
      },
      baseEnv: process.env,
      log: log.child({ component: 'rclone' }),
      metrics,
      timeouts: storeTimeouts(config),
      recycle: { rssMiB: config.rclone.recycleRssMiB, afterCopies: config.rclone.recycleAfterCopies },
      lowLevelRetries: lowLevelRetries(config.worker.adaptiveConcurrency),
    });
    await pool.start();
    const worker = new Worker({ config, log, metrics, pool, source, queue });
    if (config.metrics.port >= 0) {
      worker.#server = await startStatusServer(config.metrics.host, config.metrics.port, metrics.registry, () =>
        worker.health(),
      );
    }
    log.info(
      {
        queue: config.queue.url,
        deadLetterQueue: deadLetterUrl,
        rclone: rclone.text,
        children: config.rclone.children,
        copySlots: capacity,
        maxMessagesInFlight: worker.#maxMessages,
        metrics: worker.#server ? `http://${config.metrics.host}:${worker.#server.port}/metrics` : 'off',
      },
      'worker started',
    );
    return worker;
  }

  get metricsPort(): number | undefined {
    return this.#server?.port;
  }

  addActivityListener(listener: ActivityListener): void {
    this.#listeners.push(listener);
  }

  health(): Health {
    const stats = this.#pool.stats();
    return health({
      childrenUp: stats.up,
      childrenTotal: stats.total,
      sqsFailingSince: this.#sqsFailingSince,
      sqsUnhealthyMs: this.#config.worker.sqsUnhealthySeconds * 1000,
      draining: this.#stopping,
      now: Date.now(),
    });
  }

  /** A one-line summary for systemd's STATUS= and logs. */
  status(): Omit<StatusSample, 'at' | 'draining'> {
    const stats = this.#pool.stats();
    return {
      childrenUp: stats.up,
      children: stats.total,
      messagesInFlight: this.#inFlight.size,
      objectsCopied: this.#copied,
      paused: this.#outage.pause,
    };
  }

  /** Receives and processes messages until drain() is called. */
  async run(): Promise<void> {
    let backoff = SQS_BACKOFF_MS.first;
    while (!this.#stopping) {
      if (this.#outage.open) {
        await this.#waitOutOutage();
        continue;
      }
      const room = this.#maxMessages - this.#inFlight.size;
      if (room <= 0) {
        await new Promise<void>((resolve) => (this.#room = resolve));
        continue;
      }
      let received: ReceivedMessage[];
      try {
        const receiving = this.#receiveUnlessStopping(room);
        this.#receiving = receiving.catch(() => undefined);
        received = await receiving;
        this.#sqsFailingSince = undefined;
        backoff = SQS_BACKOFF_MS.first;
      } catch (err) {
        if (this.#stopping) break;
        this.#sqsFailingSince ??= Date.now();
        this.#log.error({ err: errorMessage(err), retryInMs: backoff }, 'receiving from SQS failed');
        await this.#pause(backoff);
        backoff = Math.min(backoff * 2, SQS_BACKOFF_MS.max);
        continue;
      }
      for (const message of received) this.#begin(message);
    }
  }

  /**
   * One receive. Draining does not abort it (SQS would hand out messages nobody sees, invisible for
   * the visibility timeout and one receive spent): what it returns once draining has begun goes back.
   */
  async #receiveUnlessStopping(room: number): Promise<ReceivedMessage[]> {
    const received = await this.#queue.receive(room, this.#receiveAbort.signal);
    if (!this.#stopping) return received;
    if (received.length > 0) this.#log.info({ messages: received.length }, 'received while draining: handed back');
    await Promise.all(received.map((message) => this.#handBack(message)));
    return [];
  }

  /** Back to the queue at once (visibility 0), untouched. */
  async #handBack(message: ReceivedMessage): Promise<void> {
    try {
      await this.#queue.release(message.receiptHandle);
    } catch (err) {
      this.#log.warn({ messageId: message.messageId, err: errorMessage(err) }, 'handing a message back failed');
    }
  }

  /** Waits for the receive in flight (bounded by its long poll); past that bound it is cut. */
  async #settleReceive(): Promise<void> {
    if (!this.#receiving) return;
    const boundMs = this.#config.queue.waitSeconds * 1000 + RECEIVE_GRACE_MS;
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      this.#receiving.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), boundMs))),
    ]);
    clearTimeout(timer);
    if (!finished) {
      this.#log.warn({ waitedMs: boundMs }, 'a receive outlived its long poll: cut short');
      this.#receiveAbort.abort();
      await this.#receiving;
    }
  }

  #begin(message: ReceivedMessage): void {
    if (this.#outage.open) {
      // Received by a poll that began before a store went away.
      void this.#handBack(message);
      return;
    }
    if (this.#inFlight.size === 0) for (const l of this.#listeners) l.busy();
    this.metrics.messagesReceived.inc();
    this.#heartbeat.add(message.receiptHandle);
    const signal = AbortSignal.any([this.#copyAbort.signal, this.#outageAbort.signal]);
    const work = processMessage(this.#deps, message, signal)
      .then((result) => {
        if (result.outcome !== 'released') this.#copied += result.copied;
      })
      .catch((err: unknown) => {
        // The message stays on the queue and comes back after its visibility lapses.
        this.#log.error({ messageId: message.messageId, err: errorMessage(err) }, 'settling a message failed');
      })
      .finally(() => {
        this.#heartbeat.remove(message.receiptHandle);
        this.#inFlight.delete(message.receiptHandle);
        this.metrics.messagesInFlight.set(this.#inFlight.size);
        if (this.#inFlight.size === 0) for (const l of this.#listeners) l.idle();
        this.#room?.();
        this.#room = undefined;
      });
    this.#inFlight.set(message.receiptHandle, work);
    this.metrics.messagesInFlight.set(this.#inFlight.size);
  }

  /** A batch whose every key found a store unavailable pauses receiving; a copy made resumes it. */
  #noteOutcomes(outcomes: readonly KeyOutcome[], stores: Stores): void {
    const change = this.#outage.afterBatch(outcomes, stores, Date.now());
    const pause = this.#outage.pause;
    if (change === 'opened' && pause) {
      this.#showPause(pause.reason);
      // The error line naming the store follows the first probe, due at once (#waitOutOutage).
      this.#log.warn(
        { reason: pause.reason, store: pause.store, ...stores, err: pause.error },
        'a batch found a store unavailable: receiving paused, probing the stores',
      );
    } else if (change === 'closed') {
      this.#showPause(undefined);
      this.#log.info('copies succeed again: receiving resumed');
    }
  }

  #noteCopy(event: 'start' | 'end', stores: Stores): void {
    if (event === 'start' && this.#copiesRunning === 0) this.#lastCopyChange = Date.now();
    if (event === 'end') this.#lastCopyChange = Date.now();
    this.#copiesRunning += event === 'start' ? 1 : -1;
    this.#stallStores = stores;
  }

  /**
   * Copies in flight and none ended for `stallMs`: a store may have stopped answering without
   * refusing anything, which rclone's own retries of a silent GET take several idle timeouts to
   * give up on. The stores are probed now; one that does not answer pauses receiving at once and the
   * copies in flight are cut and handed back (visibility 0), to be copied once the store answers.
   */
  async #checkStall(stallMs: number): Promise<void> {
    const stores = this.#stallStores;
    if (this.#stopping || this.#outage.open || this.#stallProbing || !stores || this.#copiesRunning === 0) return;
    if (Date.now() - this.#lastCopyChange < stallMs) return;
    this.#stallProbing = true;
    try {
      const failure = await this.#probe(stores);
      if (this.#stopping) return;
      if (!failure || failure.reason !== 'unreachable') {
        // Both answer: long copies, not a silent store (refused credentials fail copies fast, and the
        // batch that meets them pauses receiving itself). Ask again after another stall period.
        this.#lastCopyChange = Date.now();
        return;
      }
      if (!this.#outage.openedByProbe(failure, stores, Date.now())) return;
      this.#showPause(failure.reason);
      this.#log.error(
        {
          reason: failure.reason,
          ...this.#describeStore(failure.store, stores),
          err: failure.error,
          copiesCut: this.#copiesRunning,
          stalledSeconds: Math.round((Date.now() - this.#lastCopyChange) / 1000),
        },
        `copies stalled and the ${failure.store} does not answer: receiving paused, copies in flight handed back`,
      );
      this.#outageAbort.abort();
      this.#outageAbort = new AbortController();
    } finally {
      this.#stallProbing = false;
    }
  }

  /**
   * Probes the source, then the destination, each bounded by one connect and idle timeout (the
   * SDK's own retries of a silent store would take three). Returns the first store found wanting.
   */
  async #probe(stores: Stores): Promise<(ProbeFailure & { store: StoreSide }) | undefined> {
    const boundMs =
      (this.#config.worker.storeConnectTimeoutSeconds + this.#config.worker.storeIdleTimeoutSeconds) * 1000;
    const signal = () => AbortSignal.any([this.#pollAbort.signal, AbortSignal.timeout(boundMs)]);
    const sourceDown = await probeStore(this.#source.client(), stores.sourceBucket, signal());
    if (sourceDown) return { store: 'source', ...sourceDown };
    const destDown = await probeStore(this.#deps.copier.dest, stores.destBucket, signal());
    return destDown ? { store: 'destination', ...destDown } : undefined;
  }

  /** The gauges: which reason, if any, has receiving paused. */
  #showPause(reason: Unavailability | undefined): void {
    for (const r of UNAVAILABILITIES) this.metrics.storesUnavailable.set({ reason: r }, r === reason ? 1 : 0);
    this.metrics.storesUnreachable.set(reason === 'unreachable' ? 1 : 0);
  }

  /** Where a store is, for the one error line an operator acts on (secret names, never values). */
  #describeStore(store: StoreSide, stores: Stores): Record<string, unknown> {
    if (store === 'source') {
      return {
        store,
        endpoint: this.#source.credentials.endpoint,
        bucket: stores.sourceBucket,
        secrets: sourceSecretNames(this.#config),
      };
    }
    return {
      store,
      endpoint: destEndpoint(this.#config.dest.endpoint) || 'Amazon S3 (default endpoint)',
      bucket: stores.destBucket,
      region: this.#config.dest.region || undefined,
    };
  }

  /**
   * While a store is unavailable: nothing received; when a probe is due, the source secrets are read
   * again (a corrected secret restarts the rclone children with it) and both stores are probed.
   */
  async #waitOutOutage(): Promise<void> {
    await this.#pause(this.#outage.waitMs(Date.now()));
    const stores = this.#outage.stores;
    if (this.#stopping || !stores) return;
    await this.#source.refresh({ force: true });
    if (this.#stopping) return;
    const failure = await this.#probe(stores);
    if (this.#stopping) return;
    const before = this.#outage.pause;
    const pausedMs = Date.now() - (before?.since ?? Date.now());
    this.metrics.outageProbes.inc({ result: failure ? failure.reason : 'answered' });
    this.#outage.probed(failure, Date.now());
    if (failure) {
      this.#showPause(failure.reason);
      const detail = {
        reason: failure.reason,
        ...this.#describeStore(failure.store, stores),
        err: failure.error,
        retryInMs: this.#outage.waitMs(Date.now()),
      };
      const changed = before?.probes === 0 || before?.reason !== failure.reason || before.store !== failure.store;
      if (changed) {
        this.#log.error(
          detail,
          failure.reason === 'auth'
            ? `the ${failure.store} refuses our credentials: receiving paused until a probe is accepted`
            : `the ${failure.store} does not answer: receiving paused until it does`,
        );
      } else {
        this.#log.warn(detail, `the ${failure.store} is still unavailable`);
      }
    } else {
      this.#showPause(undefined);
      this.#log.info({ pausedSeconds: Math.round(pausedMs / 1000) }, 'stores answer again: receiving resumed');
    }
  }

  #pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#pollAbort.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }

  /**
   * Stops receiving, lets in-flight batches finish until the deadline, then hands the rest back
   * (visibility 0) and stops the children.
   */
  async drain(deadlineMs = this.#config.worker.drainSeconds * 1000): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    // Pauses and probes end at once; a receive in flight is let finish (#settleReceive).
    this.#pollAbort.abort();
    this.#room?.();
    this.#log.info({ messagesInFlight: this.#inFlight.size, deadlineMs }, 'draining');
    const all = () => Promise.allSettled([...this.#inFlight.values()]);
    let timer: NodeJS.Timeout | undefined;
    const [expired] = await Promise.all([
      Promise.race([
        all().then(() => false),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), deadlineMs))),
      ]),
      this.#settleReceive(),
    ]);
    clearTimeout(timer);
    if (expired) {
      this.#log.warn(
        { messagesInFlight: this.#inFlight.size },
        'drain deadline passed: handing unfinished messages back',
      );
      this.#copyAbort.abort();
      await all();
    }
    this.#heartbeat.stop();
    await this.#pool.stop();
    this.#source.destroy();
    await this.#server?.close();
    this.#log.info('drained');
  }

  /** On a second signal: no more waiting. */
  killNow(): void {
    this.#pool.killNow();
  }
}

function sourceRemote(config: Config, creds: SourceCredentials): SourceRemote {
  return {
    ...creds,
    region: config.source.region,
    provider: config.source.provider,
    forcePathStyle: config.source.forcePathStyle,
    options: config.source.rcloneOptions,
  };
}
