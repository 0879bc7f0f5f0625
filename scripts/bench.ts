// `npm run bench`: the copy benchmark of issues 5 and 13. The agent, the reference approach (six
// processes, one `rclone copyto` per key) and a ceiling (a direct S3 SDK copy loop) consume the same
// queue from the same buckets: small objects, large objects, both again with 40 ms added to every
// source request, and a long run for the daemon's memory. One round per store: both buckets on the
// moto server (which also serves SQS, and is the bottleneck), then both on a Ceph RGW as two users
// (SQS still moto's). Bounded in count and time, every step included; figures go to BENCHMARKS.md.
// `npm run bench -- --help`.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../shared/config.ts';
import type { BatchMessage, BatchObject } from '../shared/message.ts';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { createResources, localClients, startLocalStack, type LocalStack, type Resources } from './local-stack.ts';
import { ensureTools } from './ensure-tools.ts';
import { startLatencyProxy, type LatencyProxy } from './latency-proxy.ts';
import { agentCopier } from './bench/copiers/agent.ts';
import { ceilingCopier } from './bench/copiers/ceiling.ts';
import { rcloneDirect } from './bench/copiers/rclone-direct.ts';
import { referenceCopier } from './bench/copiers/reference.ts';
import type { QueueCopier } from './bench/copiers/types.ts';
import { describeMachine, type Machine } from './bench/machine.ts';
import { parseOptions, USAGE, type BenchOptions } from './bench/options.ts';
import { allProcesses } from './bench/procfs.ts';
import { batchMessages } from './bench/queue.ts';
import { blockText, renderBlocks, writeBlocks, type FlatnessResult, type ScenarioInfo } from './bench/report.ts';
import { bounded } from './bench/bounded.ts';
import { cephStore, motoStore, type BenchStore, type StoreName } from './bench/stores.ts';
import { measureDirectRun, measureQueueRun, type Environment, type RunResult } from './bench/run.ts';
import { seedObjects } from './bench/seed.ts';
import { spread } from './bench/stats.ts';
import { renderThrottle, runThrottleBench, type ThrottleRun } from './bench/throttle.ts';

const started = Date.now();
const elapsed = (): string => `${Math.round((Date.now() - started) / 1000)}s`;
const say = (line: string): void => console.error(`[bench ${elapsed()}] ${line}`);

type Task = { scenario: ScenarioInfo; copier: string; run: number };

/**
 * Rounds: every copier once in every scenario first, then the repeats, so a tight budget still covers
 * all. Repeats do the large objects first: their ratios sit near the targets, where one noisy run on a
 * shared machine decides the verdict; the small-object ratios are far from theirs either way.
 */
function plan(options: BenchOptions, scenarios: readonly ScenarioInfo[]): Task[] {
  const runsOf = (s: ScenarioInfo, copier: string): number =>
    s.kind === 'large' ? options.largeRuns : copier === 'reference' ? options.referenceRuns : options.runs;
  const copiersOf = (s: ScenarioInfo): string[] =>
    options.copiers.filter((c) => (c === 'rclone-direct' ? s.kind === 'large' : true));
  const rounds = Math.max(options.runs, options.referenceRuns, options.largeRuns);
  const tasks: Task[] = [];
  for (let run = 1; run <= rounds; run++) {
    const order =
      run === 1 ? scenarios : [...scenarios].sort((a, b) => Number(a.kind === 'small') - Number(b.kind === 'small'));
    for (const scenario of order) {
      for (const copier of copiersOf(scenario))
        if (run <= runsOf(scenario, copier)) tasks.push({ scenario, copier, run });
    }
  }
  return tasks;
}

/** A round's scenarios: moto's keep their ids (continuity with earlier results); the others are prefixed by the store. */
function scenarioInfos(options: BenchOptions, store: StoreName = 'moto'): ScenarioInfo[] {
  const prefix = store === 'moto' ? '' : `${store}-`;
  const on = store === 'moto' ? '' : ' (Ceph RGW)';
  const all: Array<Omit<ScenarioInfo, 'store'>> = [
    {
      id: 'small',
      kind: 'small',
      title: `Small objects${on}: ${options.smallCount.toLocaleString('en-US')} × ${options.smallBytes / 1024} KiB`,
    },
    {
      id: 'small-latency',
      kind: 'small',
      title: `Small objects${on}, ${options.latencyMs} ms added to each source request`,
    },
    { id: 'large', kind: 'large', title: `Large objects${on}: ${options.largeCount} × ${options.largeMiB} MiB` },
    {
      id: 'large-latency',
      kind: 'large',
      title: `Large objects${on}, ${options.latencyMs} ms added to each source request`,
    },
  ];
  return all.filter((s) => options.scenarios.includes(s.id)).map((s) => ({ ...s, id: prefix + s.id, store }));
}

function expectedOf(objects: readonly BatchObject[], prefix = ''): Map<string, number> {
  return new Map(objects.map((o) => [prefix + o.key, o.size ?? 0]));
}

/** Everything a run measured: kept as results.json in the log directory, and enough to render the notes again. */
type SavedRun = {
  machine: Machine;
  options: BenchOptions;
  copiers: Array<{ name: string; describe: string }>;
  results: RunResult[];
  flatness?: FlatnessResult;
  /** Notes of the moto round (the name kept from before there were rounds), and of the others by store. */
  notes: string[];
  storeNotes?: Partial<Record<StoreName, string[]>>;
  /** What each round's store was. */
  storeDescribe?: Partial<Record<StoreName, string>>;
  flatnessNotes: string[];
  throttle?: ThrottleRun[];
  wallSeconds: number;
  command: string;
};

/** Prints the notes' blocks and writes them into the notes file, unless --no-write. */
function publish(saved: SavedRun, write = saved.options.write, out = saved.options.out): void {
  const stores = saved.options.stores ?? ['moto'];
  const blocks = renderBlocks({
    ...saved,
    scenarios: stores.flatMap((store) => scenarioInfos(saved.options, store)),
    storeNotes: { ...saved.storeNotes, moto: saved.notes },
    storeDescribe: saved.storeDescribe ?? {},
  });
  if (saved.throttle) {
    const header = `Measured ${saved.machine.date} by \`${saved.command}\`: ${saved.machine.cpus} CPUs (${saved.machine.cpuModel}), ${saved.machine.memoryGiB} GiB; ${saved.machine.rclone}, moto ${saved.machine.moto}; other work shared the machine.`;
    const text = renderThrottle(
      saved.throttle,
      { ...saved.options.throttle, batchSize: saved.options.batchSize },
      header,
    );
    blocks.push({ id: 'throttle-bench', heading: '## Throttled source: adaptive copy concurrency', text });
  }
  console.log(blocks.map(blockText).join('\n\n'));
  if (write) {
    writeBlocks(out, blocks);
    say(`wrote ${out}`);
  }
}

/** Bounds on the bench's own setup and teardown steps. */
const STEP_MS = { seed: 600_000, proxy: 10_000, storeStop: 45_000, stackStop: 15_000 };

/** What one round (one store) adds to the saved run. */
type Round = {
  results: RunResult[];
  notes: string[];
  flatness?: FlatnessResult;
  throttle?: ThrottleRun[];
};

async function runRound(input: {
  store: BenchStore;
  options: BenchOptions;
  stack: LocalStack;
  sqs: SQSClient;
  resources: Resources;
  motoPid: number | undefined;
  logDir: string;
  flatnessHere: boolean;
  flatnessNotes: string[];
}): Promise<Round> {
  const { store, options, stack } = input;
  const roundStart = Date.now();
  const deadline = roundStart + options.budgetSeconds * 1000;
  const notes: string[] = [];
  if (store.name === 'moto' && input.motoPid === undefined)
    notes.push('moto server process not found: its CPU is not reported');
  const scenarios = scenarioInfos(options, store.name);
  const doFlatness = input.flatnessHere && options.scenarios.includes('flatness') && options.copiers.includes('agent');
  const needSmall = scenarios.some((s) => s.kind === 'small') || doFlatness;
  const needLarge = scenarios.some((s) => s.kind === 'large');
  const resources: Resources = { ...input.resources, sourceBucket: store.sourceBucket, destBucket: store.destBucket };

  const seedStart = Date.now();
  const small = needSmall
    ? await bounded(
        seedObjects(store.sourceS3, store.sourceBucket, {
          prefix: 'small/',
          count: options.smallCount,
          size: options.smallBytes,
          concurrency: 32,
        }),
        STEP_MS.seed,
        `seeding small objects on ${store.name}`,
      )
    : [];
  const large = needLarge
    ? await bounded(
        seedObjects(store.sourceS3, store.sourceBucket, {
          prefix: 'large/',
          count: options.largeCount,
          size: options.largeMiB * 1024 * 1024,
          concurrency: 1,
        }),
        STEP_MS.seed,
        `seeding large objects on ${store.name}`,
      )
    : [];
  say(
    `${store.name}: seeded ${small.length} small and ${large.length} large objects in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`,
  );

  let proxy: LatencyProxy | undefined;
  try {
    if (scenarios.some((s) => s.id.endsWith('-latency'))) {
      proxy = await startLatencyProxy({
        target: store.source.endpoint,
        delayMs: options.latencyMs,
        // A forgotten proxy must not outlive its round.
        lifetimeMs: options.budgetSeconds * 1000 + 600_000,
      });
    }
    const env: Environment = {
      stack,
      resources,
      s3: store.sourceS3,
      sqs: input.sqs,
      motoPid: input.motoPid,
      logDir: input.logDir,
      source: store.source,
      dest: store.dest,
      destS3: store.destS3,
      serverPids: store.serverPids,
    };
    // The ceiling runs as many copies at once as the agent will: its children × transfers per child.
    const agentConfig = loadConfig({ argv: options.agentArgs });
    const queueCopiers: Record<string, QueueCopier> = {
      agent: agentCopier(options.agentArgs),
      reference: referenceCopier(6),
      ceiling: ceilingCopier({
        concurrency: agentConfig.rclone.children * agentConfig.rclone.transfersPerChild,
        partSizeMiB: options.ceilingPartMiB,
      }),
    };

    const results: RunResult[] = [];
    const durations = new Map<string, number>();
    const reserve = doFlatness ? 90_000 : 15_000;
    for (const task of plan(options, scenarios)) {
      const key = `${task.scenario.id}/${task.copier}`;
      const estimate = durations.get(key) ?? 0;
      if (Date.now() + estimate > deadline - reserve) {
        notes.push(`skipped ${task.copier} run ${task.run} of "${task.scenario.title}": over the time budget`);
        continue;
      }
      const latency = task.scenario.id.endsWith('-latency');
      const sourceEndpoint = latency && proxy ? proxy.endpoint : store.source.endpoint;
      const runEnv: Environment = latency && proxy ? { ...env, proxyRequests: proxy.requests } : env;
      // The reference's rate is flat per object (a process per key), so it copies a leading share of
      // the small objects: a full pass would spend a quarter of the time budget on the slowest copier.
      const objects =
        task.scenario.kind === 'large'
          ? large
          : task.copier === 'reference' && options.referenceCount > 0
            ? small.slice(0, options.referenceCount)
            : small;
      const expected = expectedOf(objects);
      const runStart = Date.now();
      let result: RunResult;
      try {
        if (task.copier === 'rclone-direct') {
          result = await measureDirectRun(runEnv, {
            scenario: task.scenario.id,
            copier: task.copier,
            run: task.run,
            expected,
            go: () =>
              rcloneDirect({
                source: { ...store.source, endpoint: sourceEndpoint },
                dest: store.dest,
                sourceBucket: store.sourceBucket,
                destBucket: store.destBucket,
                keys: objects.map((o) => o.key),
                timeoutMs: 300_000,
              }),
          });
        } else {
          const messages = batchMessages(objects, {
            job: `bench-${task.scenario.id}-${task.copier}-${task.run}`,
            sourceBucket: store.sourceBucket,
            destBucket: store.destBucket,
            batchSize: options.batchSize,
          });
          result = await measureQueueRun(runEnv, queueCopiers[task.copier] as QueueCopier, {
            scenario: task.scenario.id,
            run: task.run,
            sourceEndpoint,
            messages,
            expected,
            timeoutMs: Math.min(300_000, Math.max(30_000, deadline - Date.now())),
            sampleMs: 250,
          });
        }
      } catch (err) {
        result = failedRun(task.scenario.id, task.copier, task.run, expected.size, err);
      }
      durations.set(key, Date.now() - runStart);
      results.push(result);
      if (store.usedBytes && task.scenario.kind === 'large') {
        // What the OSD holds after the run: deleted destinations must be freed, or memstore fills with them.
        say(`${store.name}: the memstore OSD's RSS is ${(store.usedBytes() / 2 ** 30).toFixed(2)} GiB`);
      }
      say(
        `${task.scenario.id} ${task.copier} run ${task.run}: ${result.objectsPerSecond.toFixed(1)} objects/s, ` +
          `${result.mbPerSecond.toFixed(1)} MB/s in ${result.seconds.toFixed(1)} s` +
          (result.problems.length ? ` — ${result.problems.join('; ')}` : ''),
      );
    }

    let flatness: FlatnessResult | undefined;
    if (doFlatness) {
      flatness = await flatnessRun(
        env,
        store.name,
        options,
        small,
        results,
        queueCopiers.agent as QueueCopier,
        deadline,
        input.flatnessNotes,
      );
    }

    let throttle: ThrottleRun[] | undefined;
    if (options.scenarios.includes('throttle') && store.name === 'moto') {
      const objects = await bounded(
        seedObjects(store.sourceS3, store.sourceBucket, {
          prefix: 'throttle/',
          count: options.throttle.count,
          size: options.smallBytes,
          concurrency: 32,
        }),
        STEP_MS.seed,
        'seeding the throttle objects',
      );
      throttle = await runThrottleBench(
        env,
        objects,
        { ...options.throttle, batchSize: options.batchSize },
        deadline,
        say,
        notes,
      );
    }
    say(`${store.name} round done in ${Math.round((Date.now() - roundStart) / 1000)} s`);
    return { results, notes, flatness, throttle };
  } finally {
    if (proxy) await bounded(proxy.stop(), STEP_MS.proxy, 'stopping the latency proxy').catch(warn);
  }
}

const warn = (err: unknown): void => say(`cleanup: ${(err as Error).message}`);

async function main(): Promise<number> {
  const parsed = parseOptions(process.argv.slice(2));
  if (parsed === 'help') {
    console.log(USAGE);
    return 0;
  }
  const options = parsed;
  if (options.fromResults) {
    // Render the notes again from a saved run (after a change to the report, say) without measuring.
    publish(JSON.parse(readFileSync(options.fromResults, 'utf8')) as SavedRun, options.write, options.out);
    return 0;
  }
  // The pinned rclone first on PATH, for the agent's children and the reference alike; moto too.
  say(ensureTools(say).rclone);
  const logDir = mkdtempSync(join(tmpdir(), 'rclone-migrate-bench-'));
  say(`logs in ${logDir}`);
  const machine = describeMachine();
  const flatnessNotes: string[] = [];

  const stack = await startLocalStack();
  try {
    const resources = await createResources(stack, { name: 'bench', visibilitySeconds: 300 });
    const { sqs } = localClients(stack);
    const motoPid = allProcesses().find((p) => p.ppid === process.pid && /moto/.test(p.comm))?.pid;
    const describe = options.copiers.map((name) =>
      name === 'rclone-direct'
        ? { name, describe: 'large objects only: one `rclone copyto` process per object, all at once, no queue' }
        : { name, describe: copierDescriptions(options)[name] ?? '' },
    );
    const results: RunResult[] = [];
    const storeNotes: Partial<Record<StoreName, string[]>> = {};
    const storeDescribe: Partial<Record<StoreName, string>> = {};
    let flatness: FlatnessResult | undefined;
    let throttle: ThrottleRun[] | undefined;
    for (const name of options.stores) {
      let store: BenchStore;
      try {
        store =
          name === 'moto'
            ? await motoStore(stack, { source: resources.sourceBucket, dest: resources.destBucket })
            : await cephStore({
                say,
                // memstore holds data in memory, and only what is written: the source, one run's
                // destination, and deleted data until RGW's garbage collection frees it.
                memstoreBytes: 12 * 2 ** 30,
                buckets: { source: 'bench-source', dest: 'bench-dest' },
              });
      } catch (err) {
        storeNotes[name] = [`the ${name} round could not start: ${(err as Error).message.split('\n')[0]}`];
        say(storeNotes[name][0] ?? '');
        continue;
      }
      storeDescribe[name] = store.describe;
      try {
        const round = await runRound({
          store,
          options,
          stack,
          sqs,
          resources,
          motoPid,
          logDir,
          flatnessHere: name === options.stores.at(-1),
          flatnessNotes,
        });
        results.push(...round.results);
        storeNotes[name] = round.notes;
        flatness ??= round.flatness;
        throttle ??= round.throttle;
      } catch (err) {
        storeNotes[name] = [...(storeNotes[name] ?? []), `the ${name} round failed: ${(err as Error).message}`];
        say(`${name} round failed: ${(err as Error).stack ?? String(err)}`);
      } finally {
        const stopStart = Date.now();
        await bounded(store.stop(), STEP_MS.storeStop, `stopping ${name}`).catch(warn);
        say(`${name} stopped in ${((Date.now() - stopStart) / 1000).toFixed(1)} s`);
      }
    }
    if (options.scenarios.includes('throttle') && !options.stores.includes('moto')) {
      (storeNotes.ceph ??= []).push('the throttle scenario runs in the moto round only: not run');
    }

    const saved: SavedRun = {
      machine,
      throttle,
      options,
      copiers: describe,
      results,
      flatness,
      notes: storeNotes.moto ?? [],
      storeNotes,
      storeDescribe,
      flatnessNotes,
      wallSeconds: (Date.now() - started) / 1000,
      command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    };
    writeFileSync(join(logDir, 'results.json'), JSON.stringify(saved, null, 2));
    publish(saved);
    return 0;
  } finally {
    await bounded(stack.stop(), STEP_MS.stackStop, 'stopping moto').catch(warn);
  }
}

/** What each queue copier is, for the notes (the same in every round). */
function copierDescriptions(options: BenchOptions): Record<string, string> {
  const agentConfig = loadConfig({ argv: options.agentArgs });
  return {
    agent: agentCopier(options.agentArgs).describe,
    reference: referenceCopier(6).describe,
    ceiling: ceilingCopier({
      concurrency: agentConfig.rclone.children * agentConfig.rclone.transfersPerChild,
      partSizeMiB: options.ceilingPartMiB,
    }).describe,
  };
}

/**
 * The agent over many small objects: the seeded objects enqueued again and again under different
 * destination prefixes, so every copy is a real one. Its count is cut to what the budget has left,
 * from the rate the agent showed on small objects.
 */
async function flatnessRun(
  env: Environment,
  store: StoreName,
  options: BenchOptions,
  small: readonly BatchObject[],
  results: readonly RunResult[],
  agent: QueueCopier,
  deadline: number,
  notes: string[],
): Promise<FlatnessResult> {
  const smallId = store === 'moto' ? 'small' : `${store}-small`;
  const rate = spread(
    results
      .filter((r) => r.scenario === smallId && r.copier === 'agent' && r.problems.length === 0)
      .map((r) => r.objectsPerSecond),
  ).median;
  const perSecond = Number.isFinite(rate) ? rate : 100;
  // Room for starting, listing the destination and writing the notes.
  const seconds = Math.max(0, (deadline - Date.now()) / 1000 - 40);
  const fits = Math.floor((perSecond * seconds * 0.85) / small.length) * small.length;
  const passes = Math.max(1, Math.min(Math.ceil(options.flatnessObjects / small.length), fits / small.length));
  if (passes * small.length < options.flatnessObjects) {
    notes.push(
      `the flatness run was cut to ${(passes * small.length).toLocaleString('en-US')} objects to fit the time budget; ` +
        `run \`npm run bench -- --stores ${store} --scenarios flatness --copiers agent --budget-seconds 1500\` for all ${options.flatnessObjects.toLocaleString('en-US')}`,
    );
  }
  const messages: BatchMessage[] = [];
  const expected = new Map<string, number>();
  for (let p = 0; p < passes; p++) {
    const prefix = `flat-${String(p).padStart(3, '0')}/`;
    messages.push(
      ...batchMessages(small, {
        job: `bench-flatness-${p}`,
        sourceBucket: env.resources.sourceBucket,
        destBucket: env.resources.destBucket,
        destPrefix: prefix,
        batchSize: options.batchSize,
      }),
    );
    for (const [k, v] of expectedOf(small, prefix)) expected.set(k, v);
  }
  say(`flatness: ${expected.size} objects through the agent`);
  const result = await measureQueueRun(env, agent, {
    scenario: 'flatness',
    run: 1,
    sourceEndpoint: env.source.endpoint,
    messages,
    expected,
    timeoutMs: Math.max(60_000, deadline - Date.now()),
    sampleMs: 500,
    feedChunk: Math.ceil(small.length / options.batchSize),
    heapSampleMs: 2_000,
  }).catch((err: unknown) => failedRun('flatness', 'agent', 1, expected.size, err));
  say(`flatness: ${result.objectsPerSecond.toFixed(1)} objects/s over ${result.seconds.toFixed(1)} s`);
  return { ...result, requested: options.flatnessObjects, store };
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
}
// Everything is stopped and written by now: whatever still holds the event loop (a socket, a timer)
// is named and the process ends, rather than the bench hanging after its last figure.
setTimeout(() => {
  say(`still running 20 s after the end, held by: ${process.getActiveResourcesInfo().join(', ')}; exiting`);
  process.exit();
}, 20_000).unref();

/** A run that could not be measured: recorded with its reason, its figures not a number. */
function failedRun(
  scenario: RunResult['scenario'],
  copier: RunResult['copier'],
  run: number,
  objects: number,
  err: unknown,
): RunResult {
  return {
    scenario,
    copier,
    run,
    objects,
    bytes: 0,
    seconds: Number.NaN,
    objectsPerSecond: Number.NaN,
    mbPerSecond: Number.NaN,
    problems: [`could not run: ${(err as Error).message}`],
  };
}
