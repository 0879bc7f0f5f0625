// One measured run: start a copier, wait until it is ready, enqueue the batches, time until the
// queue has drained, sample memory and CPU meanwhile, then check what landed at the destination.
import { loadavg } from 'node:os';
import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { BatchMessage } from '../../shared/message.ts';
import type { LocalStack, Resources } from '../local-stack.ts';
import type { CopierContext, QueueCopier } from './copiers/types.ts';
import { readStat, systemCpuBusySeconds, TreeSampler, treeCpuSeconds, treeOf, type ChildRssSeries } from './procfs.ts';
import { bounded } from './bounded.ts';
import type { Remote } from './rclone-env.ts';
import type { DestStore } from './stores.ts';
import { parsePrometheusText } from '../prometheus-text.ts';
import {
  createQueuePair,
  deleteQueues,
  emptyBucket,
  feed,
  listAll,
  missingOrWrong,
  waitUntilDrained,
} from './queue.ts';
import { queueDepth, total } from '../queue-drain.ts';

export type RunResult = {
  scenario: string;
  copier: string;
  run: number;
  objects: number;
  bytes: number;
  seconds: number;
  objectsPerSecond: number;
  mbPerSecond: number;
  /** Peak resident memory of the copier's whole tree (daemon and children), bytes. */
  peakTreeRss?: number;
  /** Peak resident memory of the root process(es) alone (the daemon), bytes. */
  peakRootRss?: number;
  /** CPU seconds of the copier's tree during the run. */
  cpuSeconds?: number;
  /** moto's CPU seconds during the run: one core is the most a single Python process gets. */
  motoCpuSeconds?: number;
  /** CPU seconds of the store's own server processes (Ceph: radosgw, OSD, mon) during the run. */
  storeCpuSeconds?: number;
  /** The bench process's own CPU (the latency proxy, the sampler, the queue polling). */
  benchCpuSeconds?: number;
  /** CPU the rest of the machine used during the run (other work sharing it), in cores. */
  otherCores?: number;
  /** Requests the latency proxy saw during the run. */
  proxyRequests?: number;
  /** The daemon's RSS over time, bytes (flatness). */
  rootRssSeries?: number[];
  /** The daemon's V8 heap in use over time, bytes, from its /metrics (flatness). */
  heapSeries?: number[];
  /** Each rclone child of the daemon: its RSS over the samples it lived for (flatness). */
  childRss?: ChildRssSeries[];
  /** `rclone_migrate_rclone_child_recycles_total` at the end, where the daemon exposes it. */
  childRecycles?: number;
  /** The 1-minute load average at the start and end of the run. */
  load?: [number, number];
  problems: string[];
};

export type Environment = {
  stack: LocalStack;
  resources: Resources;
  s3: S3Client;
  sqs: SQSClient;
  motoPid: number | undefined;
  proxyRequests?: () => number;
  logDir: string;
  /** The source as reached directly, and the destination, with their keys. */
  source: Remote;
  dest: DestStore;
  /** A client on the destination (listing and emptying it). */
  destS3: S3Client;
  /** The store's own server processes (Ceph's daemons), whose CPU is reported; none for moto. */
  serverPids: readonly number[];
};

/** Bounds on the chores between runs: a stuck one fails its run, it never holds the bench. */
const CHORE_MS = { empty: 180_000, list: 120_000, queue: 20_000, drained: 10_000, stop: 45_000 };

const cpuOfPids = (pids: readonly number[]): number =>
  pids.length === 0 ? Number.NaN : pids.reduce((sum, pid) => sum + (readStat(pid)?.cpuSelf ?? Number.NaN), 0);

/** A counter's total over its labels in a Prometheus text, or undefined where the daemon has no such metric. */
export function counterTotal(text: string, name: string): number | undefined {
  const samples = parsePrometheusText(text).filter((s) => s.name === name);
  return samples.length === 0 ? undefined : samples.reduce((sum, s) => sum + s.value, 0);
}

const cpuOfSelf = (): number => {
  const stat = readStat(process.pid);
  return stat ? stat.cpuSelf : Number.NaN;
};
const cpuOfPid = (pid: number | undefined): number =>
  pid === undefined ? Number.NaN : (readStat(pid)?.cpuSelf ?? Number.NaN);

/** Polls a daemon's /metrics for its V8 heap in use: a leak shows there before RSS says so. */
class HeapSampler {
  readonly samples: number[] = [];
  readonly #timer: NodeJS.Timeout;
  constructor(url: string, intervalMs: number) {
    this.#timer = setInterval(() => {
      fetch(url)
        .then((res) => res.text())
        .then((text) => {
          const match = /^rclone_migrate_nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
          if (match) this.samples.push(Number(match[1]));
        })
        .catch(() => undefined); // a missed sample is not a problem for the run
    }, intervalMs);
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

/** The machine's busy CPU not accounted for by the run's own processes, in cores. */
export function otherCores(systemBusy: number, ours: readonly number[], seconds: number): number {
  return Math.max(0, systemBusy - ours.reduce((a, b) => a + b, 0)) / seconds;
}

/** Figures of a run from what was measured. */
export function figures(
  objects: number,
  bytes: number,
  seconds: number,
): Pick<RunResult, 'objectsPerSecond' | 'mbPerSecond'> {
  return { objectsPerSecond: objects / seconds, mbPerSecond: bytes / 1e6 / seconds };
}

/** Leaves the destination empty before a run. */
export async function resetBetweenRuns(env: Environment): Promise<void> {
  await bounded(emptyBucket(env.destS3, env.resources.destBucket), CHORE_MS.empty, 'emptying the destination bucket');
}

export async function measureQueueRun(
  env: Environment,
  copier: QueueCopier,
  options: {
    scenario: string;
    run: number;
    sourceEndpoint: string;
    messages: readonly BatchMessage[];
    /** Destination key → size expected when the run is done. */
    expected: ReadonlyMap<string, number>;
    timeoutMs: number;
    sampleMs: number;
    /** Messages enqueued at a time (default: all at once). */
    feedChunk?: number;
    /** Sample the daemon's heap from its /metrics this often (0: not). */
    heapSampleMs?: number;
  },
): Promise<RunResult> {
  await resetBetweenRuns(env);
  const label = `${options.scenario}-${copier.name}-${options.run}`;
  // 60 s, not more: a message whose receive answer goes astray (seen with the ceiling on a loaded machine:
  // one message in flight, held by no copier) comes back after this long, and the run waits for it. The
  // agent extends its messages' visibility by heartbeat; the others finish a batch well within it.
  const queues = await bounded(
    createQueuePair(env.sqs, `bench-${label}`, { visibilitySeconds: 60, maxReceiveCount: 10 }),
    CHORE_MS.queue,
    'creating the queues',
  );
  const resources = { ...env.resources, ...queues };
  const context: CopierContext = {
    stack: env.stack,
    resources,
    sourceEndpoint: options.sourceEndpoint,
    source: env.source,
    dest: env.dest,
    logDir: env.logDir,
    label,
  };
  const bytes = [...options.expected.values()].reduce((a, b) => a + b, 0);
  const base = {
    scenario: options.scenario,
    copier: copier.name,
    run: options.run,
    objects: options.expected.size,
    bytes,
  };
  const problems: string[] = [];
  const running = await copier.start(context);
  const sampler = new TreeSampler(running.roots, options.sampleMs, running.daemon !== undefined ? 'rclone' : undefined);
  const load0 = loadavg()[0] ?? Number.NaN;
  const cpu0 = treeCpuSeconds(treeOf(running.roots));
  const moto0 = cpuOfPid(env.motoPid);
  const store0 = cpuOfPids(env.serverPids);
  const bench0 = cpuOfSelf();
  const system0 = systemCpuBusySeconds();
  const proxy0 = env.proxyRequests?.() ?? 0;
  const heap =
    running.metricsUrl && options.heapSampleMs ? new HeapSampler(running.metricsUrl, options.heapSampleMs) : undefined;
  const t0 = Date.now();
  let t1 = Number.NaN;
  let cpu1 = Number.NaN;
  try {
    const deadline = t0 + options.timeoutMs;
    await feed(env.sqs, resources.queueUrl, options.messages, {
      chunk: options.feedChunk ?? options.messages.length,
      deadline,
      pollMs: 200,
      alive: running.alive,
    });
    t1 = await waitUntilDrained(env.sqs, resources.queueUrl, { deadline, pollMs: 100, alive: running.alive });
    cpu1 = treeCpuSeconds(treeOf(running.roots));
    sampler.sample();
  } catch (err) {
    problems.push((err as Error).message);
  } finally {
    sampler.stop();
    heap?.stop();
  }
  const moto1 = cpuOfPid(env.motoPid);
  const store1 = cpuOfPids(env.serverPids);
  const bench1 = cpuOfSelf();
  const system1 = systemCpuBusySeconds();
  const proxy1 = env.proxyRequests?.() ?? 0;
  const load1 = loadavg()[0] ?? Number.NaN;
  // Each chore after the run is bounded and its failure recorded: the run's figures stand, the bench goes on.
  const chore = async <T>(what: string, ms: number, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await bounded(work(), ms, what);
    } catch (err) {
      problems.push(`after the run: ${(err as Error).message}`);
      return undefined;
    }
  };
  const metricsText = running.drained
    ? await chore('saving the metrics', CHORE_MS.drained, running.drained)
    : undefined;
  await chore('stopping the copier', CHORE_MS.stop, running.stop);

  const dead = await chore('reading the dead-letter queue', CHORE_MS.queue, () =>
    queueDepth(env.sqs, resources.deadLetterUrl),
  );
  if (dead && total(dead) > 0) problems.push(`${total(dead)} messages dead-lettered`);
  await chore('deleting the queues', CHORE_MS.queue, () =>
    deleteQueues(env.sqs, [resources.queueUrl, resources.deadLetterUrl]),
  );
  const landed = await chore('listing the destination', CHORE_MS.list, () =>
    listAll(env.destS3, env.resources.destBucket),
  );
  const wrong = landed ? missingOrWrong(options.expected, landed) : [];
  if (wrong.length > 0) problems.push(`${wrong.length} objects missing or wrong, e.g. ${wrong.slice(0, 3).join('; ')}`);

  const seconds = (t1 - t0) / 1000;
  const result: RunResult = {
    ...base,
    seconds,
    ...figures(base.objects, bytes, seconds),
    peakTreeRss: sampler.peakTreeRss,
    peakRootRss: sampler.peakRootRss,
    cpuSeconds: cpu1 - cpu0,
    motoCpuSeconds: moto1 - moto0,
    storeCpuSeconds: store1 - store0,
    benchCpuSeconds: bench1 - bench0,
    otherCores: otherCores(
      system1 - system0,
      [cpu1 - cpu0, moto1 - moto0, bench1 - bench0, ...(env.serverPids.length ? [store1 - store0] : [])],
      seconds,
    ),
    load: [load0, load1],
    problems,
  };
  if (env.proxyRequests) result.proxyRequests = proxy1 - proxy0;
  if (typeof metricsText === 'string') {
    const recycles = counterTotal(metricsText, 'rclone_migrate_rclone_child_recycles_total');
    if (recycles !== undefined) result.childRecycles = recycles;
  }
  if (running.daemon !== undefined) {
    result.rootRssSeries = sampler.samples.map((s) => s.rootRss);
    result.childRss = [...sampler.children.values()];
  }
  if (heap) result.heapSeries = heap.samples;
  return result;
}

/** A run of something that is not a queue copier (the direct rclone copies): timed, moto measured. */
export async function measureDirectRun(
  env: Environment,
  options: {
    scenario: string;
    copier: string;
    run: number;
    expected: ReadonlyMap<string, number>;
    go: () => Promise<void>;
  },
): Promise<RunResult> {
  await resetBetweenRuns(env);
  const bytes = [...options.expected.values()].reduce((a, b) => a + b, 0);
  const problems: string[] = [];
  // The rclone processes are the bench's own children: their CPU shows in its reaped-children time.
  const reaped0 = readStat(process.pid)?.cpuReaped ?? Number.NaN;
  const load0 = loadavg()[0] ?? Number.NaN;
  const moto0 = cpuOfPid(env.motoPid);
  const store0 = cpuOfPids(env.serverPids);
  const bench0 = cpuOfSelf();
  const system0 = systemCpuBusySeconds();
  const proxy0 = env.proxyRequests?.() ?? 0;
  const t0 = Date.now();
  let t1 = Number.NaN;
  try {
    await options.go();
    t1 = Date.now();
  } catch (err) {
    problems.push((err as Error).message);
  }
  const reaped1 = readStat(process.pid)?.cpuReaped ?? Number.NaN;
  const moto1 = cpuOfPid(env.motoPid);
  const store1 = cpuOfPids(env.serverPids);
  const bench1 = cpuOfSelf();
  const system1 = systemCpuBusySeconds();
  const load1 = loadavg()[0] ?? Number.NaN;
  let landed: Map<string, number> | undefined;
  try {
    landed = await bounded(listAll(env.destS3, env.resources.destBucket), CHORE_MS.list, 'listing the destination');
  } catch (err) {
    problems.push(`after the run: ${(err as Error).message}`);
  }
  const wrong = landed ? missingOrWrong(options.expected, landed) : [];
  if (wrong.length > 0) problems.push(`${wrong.length} objects missing or wrong, e.g. ${wrong.slice(0, 3).join('; ')}`);
  const seconds = (t1 - t0) / 1000;
  const result: RunResult = {
    scenario: options.scenario,
    copier: options.copier,
    run: options.run,
    objects: options.expected.size,
    bytes,
    seconds,
    ...figures(options.expected.size, bytes, seconds),
    cpuSeconds: reaped1 - reaped0,
    motoCpuSeconds: moto1 - moto0,
    storeCpuSeconds: store1 - store0,
    benchCpuSeconds: bench1 - bench0,
    otherCores: otherCores(
      system1 - system0,
      [reaped1 - reaped0, moto1 - moto0, bench1 - bench0, ...(env.serverPids.length ? [store1 - store0] : [])],
      seconds,
    ),
    load: [load0, load1],
    problems,
  };
  if (env.proxyRequests) result.proxyRequests = (env.proxyRequests() ?? 0) - proxy0;
  return result;
}
