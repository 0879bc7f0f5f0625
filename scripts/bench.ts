// `npm run bench`: the copy benchmark of issue 5. On the local stack (one moto server on loopback),
// the agent, the reference approach (six processes, one `rclone copyto` per key) and a ceiling (a
// direct S3 SDK copy loop) consume the same queue from the same buckets: small objects, large
// objects, both again with 40 ms added to every source request, and a long run for the daemon's
// memory. Bounded in count and time; figures go to BENCHMARKS.md. `npm run bench -- --help`.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../shared/config.ts';
import type { BatchMessage, BatchObject } from '../shared/message.ts';
import { createResources, localClients, startLocalStack } from './local-stack.ts';
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
import { blockText, renderBlocks, writeBlocks, type ScenarioInfo } from './bench/report.ts';
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

function scenarioInfos(options: BenchOptions): ScenarioInfo[] {
  const all: ScenarioInfo[] = [
    {
      id: 'small',
      kind: 'small',
      title: `Small objects: ${options.smallCount.toLocaleString('en-US')} × ${options.smallBytes / 1024} KiB`,
    },
    {
      id: 'small-latency',
      kind: 'small',
      title: `Small objects, ${options.latencyMs} ms added to each source request`,
    },
    { id: 'large', kind: 'large', title: `Large objects: ${options.largeCount} × ${options.largeMiB} MiB` },
    {
      id: 'large-latency',
      kind: 'large',
      title: `Large objects, ${options.latencyMs} ms added to each source request`,
    },
  ];
  return all.filter((s) => options.scenarios.includes(s.id));
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
  flatness?: RunResult & { requested: number };
  notes: string[];
  flatnessNotes: string[];
  throttle?: ThrottleRun[];
  wallSeconds: number;
  command: string;
};

/** Prints the notes' blocks and writes them into the notes file, unless --no-write. */
function publish(saved: SavedRun, write = saved.options.write, out = saved.options.out): void {
  const blocks = renderBlocks({ ...saved, scenarios: scenarioInfos(saved.options) });
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
  const deadline = started + options.budgetSeconds * 1000;
  // The pinned rclone first on PATH, for the agent's children and the reference alike; moto too.
  say(ensureTools(say).rclone);
  const logDir = mkdtempSync(join(tmpdir(), 'rclone-migrate-bench-'));
  say(`logs in ${logDir}`);
  const machine = describeMachine();
  const notes: string[] = [];
  const flatnessNotes: string[] = [];

  const scenarios = scenarioInfos(options);
  const needSmall = scenarios.some((s) => s.kind === 'small') || options.scenarios.includes('flatness');
  const needLarge = scenarios.some((s) => s.kind === 'large');

  const stack = await startLocalStack();
  let proxy: LatencyProxy | undefined;
  try {
    const resources = await createResources(stack, { name: 'bench', visibilitySeconds: 300 });
    const { s3, sqs } = localClients(stack);
    const motoPid = allProcesses().find((p) => p.ppid === process.pid && /moto/.test(p.comm))?.pid;
    if (motoPid === undefined) notes.push('moto server process not found: its CPU is not reported');

    const seedStart = Date.now();
    const small = needSmall
      ? await seedObjects(s3, resources.sourceBucket, {
          prefix: 'small/',
          count: options.smallCount,
          size: options.smallBytes,
          concurrency: 32,
        })
      : [];
    const large = needLarge
      ? await seedObjects(s3, resources.sourceBucket, {
          prefix: 'large/',
          count: options.largeCount,
          size: options.largeMiB * 1024 * 1024,
          concurrency: 1,
        })
      : [];
    say(
      `seeded ${small.length} small and ${large.length} large objects in ${((Date.now() - seedStart) / 1000).toFixed(1)} s`,
    );

    if (scenarios.some((s) => s.id.endsWith('-latency'))) {
      proxy = await startLatencyProxy({ target: stack.endpoint, delayMs: options.latencyMs });
    }
    const env: Environment = { stack, resources, s3, sqs, motoPid, logDir };
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
    const describe = options.copiers.map((name) =>
      name === 'rclone-direct'
        ? { name, describe: 'large objects only: one `rclone copyto` process per object, all at once, no queue' }
        : { name, describe: queueCopiers[name]?.describe ?? '' },
    );

    const results: RunResult[] = [];
    const durations = new Map<string, number>();
    const reserve = options.scenarios.includes('flatness') ? 90_000 : 15_000;
    for (const task of plan(options, scenarios)) {
      const key = `${task.scenario.id}/${task.copier}`;
      const estimate = durations.get(key) ?? 0;
      if (Date.now() + estimate > deadline - reserve) {
        notes.push(`skipped ${task.copier} run ${task.run} of "${task.scenario.title}": over the time budget`);
        continue;
      }
      const latency = task.scenario.id.endsWith('-latency');
      const sourceEndpoint = latency && proxy ? proxy.endpoint : stack.endpoint;
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
                sourceEndpoint,
                destEndpoint: stack.endpoint,
                sourceBucket: resources.sourceBucket,
                destBucket: resources.destBucket,
                keys: objects.map((o) => o.key),
                timeoutMs: 300_000,
              }),
          });
        } else {
          const messages = batchMessages(objects, {
            job: `bench-${task.scenario.id}-${task.copier}-${task.run}`,
            sourceBucket: resources.sourceBucket,
            destBucket: resources.destBucket,
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
      say(
        `${task.scenario.id} ${task.copier} run ${task.run}: ${result.objectsPerSecond.toFixed(1)} objects/s, ` +
          `${result.mbPerSecond.toFixed(1)} MB/s in ${result.seconds.toFixed(1)} s` +
          (result.problems.length ? ` — ${result.problems.join('; ')}` : ''),
      );
    }

    let flatness: (RunResult & { requested: number }) | undefined;
    if (options.scenarios.includes('flatness') && options.copiers.includes('agent')) {
      flatness = await flatnessRun(
        env,
        options,
        small,
        results,
        queueCopiers.agent as QueueCopier,
        deadline,
        flatnessNotes,
      );
    }

    let throttle: ThrottleRun[] | undefined;
    if (options.scenarios.includes('throttle')) {
      const objects = await seedObjects(s3, resources.sourceBucket, {
        prefix: 'throttle/',
        count: options.throttle.count,
        size: options.smallBytes,
        concurrency: 32,
      });
      throttle = await runThrottleBench(
        env,
        objects,
        { ...options.throttle, batchSize: options.batchSize },
        deadline,
        say,
        notes,
      );
    }

    const saved: SavedRun = {
      machine,
      throttle,
      options,
      copiers: describe,
      results,
      flatness,
      notes,
      flatnessNotes,
      wallSeconds: (Date.now() - started) / 1000,
      command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    };
    writeFileSync(join(logDir, 'results.json'), JSON.stringify(saved, null, 2));
    publish(saved);
    return 0;
  } finally {
    await proxy?.stop();
    await stack.stop();
  }
}

/**
 * The agent over many small objects: the seeded objects enqueued again and again under different
 * destination prefixes, so every copy is a real one. Its count is cut to what the budget has left,
 * from the rate the agent showed on small objects.
 */
async function flatnessRun(
  env: Environment,
  options: BenchOptions,
  small: readonly BatchObject[],
  results: readonly RunResult[],
  agent: QueueCopier,
  deadline: number,
  notes: string[],
): Promise<RunResult & { requested: number }> {
  const rate = spread(
    results
      .filter((r) => r.scenario === 'small' && r.copier === 'agent' && r.problems.length === 0)
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
        `run \`npm run bench -- --scenarios flatness --copiers agent --budget-seconds 1500\` for all ${options.flatnessObjects.toLocaleString('en-US')}`,
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
    sourceEndpoint: env.stack.endpoint,
    messages,
    expected,
    timeoutMs: Math.max(60_000, deadline - Date.now()),
    sampleMs: 500,
    feedChunk: Math.ceil(small.length / options.batchSize),
    heapSampleMs: 2_000,
  }).catch((err: unknown) => failedRun('flatness', 'agent', 1, expected.size, err));
  say(`flatness: ${result.objectsPerSecond.toFixed(1)} objects/s over ${result.seconds.toFixed(1)} s`);
  return { ...result, requested: options.flatnessObjects };
}

try {
  process.exitCode = await main();
} catch (err) {
  console.error(`bench failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
}

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
