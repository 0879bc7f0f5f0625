// The worker daemon: receives batches while there is room, runs each through processMessage,
// keeps them invisible while they run, and drains cleanly on shutdown.
import type { Config } from '../shared/config.ts';
import { destEndpoint, destS3Client, sqsClient } from '../shared/aws.ts';
import { ConfigError, errorMessage } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import type { Copier } from './copy-object.ts';
import { health, type Health } from './health.ts';
import { Heartbeat } from './heartbeat.ts';
import { startStatusServer, type StatusServer } from './http-server.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { OutageGate, probeStore, type Stores } from './outage.ts';
import { processMessage, type MessageDeps } from './process-message.ts';
import { resolveDeadLetterUrl, WorkQueue, type ReceivedMessage } from './queue.ts';
import { RclonePool, type SourceRemote } from './rclone-pool.ts';
import { limitFlags } from './rclone-env.ts';
import { copyLimits } from './copy-limits.ts';
import { ByteRate } from './byte-rate.ts';
import type { KeyOutcome } from './settle.ts';
import { SourceAccess } from './source-access.ts';
import type { StatusSample } from './status-line.ts';
import { BatchVerifier } from './verify-batch.ts';
import type { SourceCredentials } from '../shared/aws.ts';

/** Told when the worker starts and stops having work (scale-in protection, systemd status). */
export type ActivityListener = { busy(): void; idle(): void };

/** Messages held at once when not configured: enough queued keys to keep every copy slot busy. */
export function autoMaxMessages(capacity: number): number {
  return Math.max(2, Math.ceil(capacity / 10) + 1);
}

const SQS_BACKOFF_MS = { first: 1000, max: 30_000 };
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
  readonly #copyAbort = new AbortController();
  readonly #listeners: ActivityListener[] = [];
  readonly #outage: OutageGate;
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
      }),
      partSizeBytes: init.config.worker.sdkPartSizeMiB * 1024 * 1024,
      verifyEtag: init.config.worker.verifyEtag,
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
      }),
      metrics: init.metrics,
      log: init.log,
      retry: { maxAttempts: init.config.worker.maxAttempts, retryDelaySeconds: init.config.worker.retryDelaySeconds },
      onAuthError: () => void init.source.refresh(),
      onOutcomes: (outcomes, stores) => this.#noteOutcomes(outcomes, stores),
    };
  }

  /** Reads credentials, finds the queues, starts the rclone children and the status server. */
  static async start(config: Config, log: Logger): Promise<Worker> {
    if (!config.queue.url) throw new ConfigError('queue.url is not set (--queue-url or QUEUE_URL)');
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
    const source = await SourceAccess.open(
      config,
      log,
      // Called only after a refresh, long after the pool below exists.
      async (creds) => pool.updateSource(sourceRemote(config, creds)),
      capacity * 2,
    );
    const pool = new RclonePool({
      binary: config.rclone.binary,
      children: config.rclone.children,
      transfersPerChild: config.rclone.transfersPerChild,
      flags: [
        ...limitFlags({
          adaptive: config.worker.adaptiveConcurrency,
          children: config.rclone.children,
          maxRequestsPerSecond: config.worker.maxRequestsPerSecond,
          maxMiBPerSecond: config.worker.maxMiBPerSecond,
        }),
        ...config.rclone.flags,
      ],
      startTimeoutMs: config.rclone.startTimeoutSeconds * 1000,
      source: sourceRemote(config, source.credentials),
      dest: {
        endpoint: destEndpoint(config.dest.endpoint),
        region: config.dest.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || '',
        options: config.dest.rcloneOptions,
      },
      baseEnv: process.env,
      log: log.child({ component: 'rclone' }),
      metrics,
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
      storesUnreachableSince: this.#outage.since,
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
        received = await this.#queue.receive(room, this.#pollAbort.signal);
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

  #begin(message: ReceivedMessage): void {
    if (this.#outage.open) {
      // Received by a poll that began before a store went away: back to the queue, untouched.
      void this.#queue.release(message.receiptHandle).catch((err: unknown) => {
        this.#log.warn({ messageId: message.messageId, err: errorMessage(err) }, 'handing a message back failed');
      });
      return;
    }
    if (this.#inFlight.size === 0) for (const l of this.#listeners) l.busy();
    this.metrics.messagesReceived.inc();
    this.#heartbeat.add(message.receiptHandle);
    const work = processMessage(this.#deps, message, this.#copyAbort.signal)
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

  /** A batch whose every key found a store not answering pauses receiving; a copy made resumes it. */
  #noteOutcomes(outcomes: readonly KeyOutcome[], stores: Stores): void {
    const change = this.#outage.afterBatch(outcomes, stores, Date.now());
    if (change === 'opened') {
      this.metrics.storesUnreachable.set(1);
      const first = outcomes.find((o) => !o.ok);
      this.#log.error(
        {
          ...stores,
          err: first && !first.ok ? first.error : undefined,
          probeInMs: this.#outage.waitMs(Date.now()),
        },
        'a store does not answer: receiving paused until it does',
      );
    } else if (change === 'closed') {
      this.metrics.storesUnreachable.set(0);
      this.#log.info('copies succeed again: receiving resumed');
    }
  }

  /** While a store does not answer: nothing received; both stores probed when a probe is due. */
  async #waitOutOutage(): Promise<void> {
    await this.#pause(this.#outage.waitMs(Date.now()));
    const stores = this.#outage.stores;
    if (this.#stopping || !stores) return;
    const signal = this.#pollAbort.signal;
    const sourceDown = await probeStore(this.#source.client(), stores.sourceBucket, signal);
    const destDown = sourceDown ? undefined : await probeStore(this.#deps.copier.dest, stores.destBucket, signal);
    if (this.#stopping) return;
    const failure = sourceDown ? `source: ${sourceDown}` : destDown ? `destination: ${destDown}` : undefined;
    const pausedMs = Date.now() - (this.#outage.since ?? Date.now());
    this.metrics.outageProbes.inc({ result: failure ? 'unreachable' : 'answered' });
    this.#outage.probed(failure === undefined, Date.now());
    if (failure) {
      this.#log.warn({ err: failure, retryInMs: this.#outage.waitMs(Date.now()) }, 'stores still not answering');
    } else {
      this.metrics.storesUnreachable.set(0);
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
    this.#pollAbort.abort();
    this.#room?.();
    this.#log.info({ messagesInFlight: this.#inFlight.size, deadlineMs }, 'draining');
    const all = () => Promise.allSettled([...this.#inFlight.values()]);
    let timer: NodeJS.Timeout | undefined;
    const expired = await Promise.race([
      all().then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), deadlineMs))),
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
