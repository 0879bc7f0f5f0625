// The throttled-source bench (issue 11): the agent against a source behind the fault proxy
// (scripts/latency-proxy.ts), side by side in one run with its baselines: the same objects
// unthrottled, and the agent with its adaptation switched off (the old behaviour). Scenarios: a
// token bucket of R requests/s (one worker, and two workers sharing one bucket), and a random share of
// requests answered 503 SlowDown. Bounded in objects and time; every destination object checked.
import { loadavg } from 'node:os';
import type { BatchObject } from '../../shared/message.ts';
import { startLatencyProxy, type ThrottleOptions } from '../latency-proxy.ts';
import { parsePrometheusText, sumOf } from '../prometheus-text.ts';
import { agentCopier } from './copiers/agent.ts';
import type { QueueCopier, RunningCopier } from './copiers/types.ts';
import { batchMessages } from './queue.ts';
import { measureQueueRun, type Environment, type RunResult } from './run.ts';
import { ratio, spread } from './stats.ts';

/** `rate` 0: chosen from the first unthrottled run (see autoRate). */
export type ThrottleSettings = { count: number; rate: number; fraction: number; runs: number; batchSize: number };

/**
 * R well below the unthrottled rate, as the target means it: 40/s, or less on a machine so loaded that
 * the agent's unthrottled rate is not far above 40 (a bucket the copier cannot reach throttles nothing).
 */
export function autoRate(unthrottled: number): number {
  if (!Number.isFinite(unthrottled)) return 40;
  return Math.max(5, Math.min(40, Math.round(unthrottled * 0.4)));
}

export type ThrottleCase = 'unthrottled' | 'bucket' | 'random';

export type ThrottleRun = RunResult & {
  case: ThrottleCase;
  /** Copy attempts the agents saw throttled (their rclone_migrate_throttled_requests_total). */
  throttledCopies?: number;
  /** Requests the proxy refused. */
  refused: number;
  /** The source limit each agent ended on. */
  finalLimits: number[];
  /** The source start rate each agent ended on (0: not paced); absent in runs saved before it. */
  finalRates?: number[];
  /** The token bucket's R for this run. */
  rate?: number;
  /** 1-minute load average at the start and the end of the run. */
  load: [number, number];
};

type Copier = { name: string; describe: string; agents: number; args: string[] };

export const THROTTLE_COPIERS: readonly Copier[] = [
  {
    name: 'agent',
    describe: '`rclone-migrate worker`, default settings (adaptive copy concurrency and start pacing on)',
    agents: 1,
    args: [],
  },
  {
    name: 'agent, adaptation off',
    describe: 'the same with `--adaptive-concurrency false`: the old behaviour (rclone retries inside with its pacer)',
    agents: 1,
    args: ['--adaptive-concurrency', 'false'],
  },
  {
    name: '2 agents',
    describe: 'two `rclone-migrate worker` processes sharing the queue and the throttled source',
    agents: 2,
    args: [],
  },
];

/** What each case runs: the unthrottled baseline once per round, the throttled cases with each copier. */
function plan(): Array<{ case: ThrottleCase; copier: Copier }> {
  const [agent, off, two] = THROTTLE_COPIERS as [Copier, Copier, Copier];
  return [
    { case: 'unthrottled', copier: agent },
    { case: 'bucket', copier: agent },
    { case: 'bucket', copier: two },
    { case: 'bucket', copier: off },
    { case: 'random', copier: agent },
    { case: 'random', copier: off },
  ];
}

/** Several agents as one copier: their process trees measured together, each metrics endpoint kept. */
function agentsCopier(copier: Copier, scraped: string[]): QueueCopier {
  const one = agentCopier(copier.args);
  // Log files are named by run label: the copiers here all are agents, so the label says which.
  const slug = copier.name.replace(/[^a-z0-9]+/gi, '-');
  return {
    name: 'agent',
    describe: copier.describe,
    async start(context) {
      const running: RunningCopier[] = [];
      try {
        for (let i = 0; i < copier.agents; i++)
          running.push(await one.start({ ...context, label: `${context.label}-${slug}-${i}` }));
      } catch (err) {
        await Promise.all(running.map((r) => r.stop()));
        throw err;
      }
      return {
        roots: running.flatMap((r) => r.roots),
        alive: () => running.map((r) => r.alive()).find((a) => a !== undefined),
        drained: async () => {
          for (const r of running) {
            await r.drained?.();
            if (r.metricsUrl) scraped.push(await (await fetch(r.metricsUrl)).text());
          }
        },
        stop: async () => void (await Promise.all(running.map((r) => r.stop()))),
      };
    },
  };
}

export function throttleOf(kind: ThrottleCase, settings: ThrottleSettings): ThrottleOptions | undefined {
  if (kind === 'bucket') return { ratePerSecond: settings.rate };
  if (kind === 'random') return { slowDownFraction: settings.fraction };
  return undefined;
}

export async function runThrottleBench(
  env: Environment,
  objects: readonly BatchObject[],
  settings: ThrottleSettings,
  deadline: number,
  say: (line: string) => void,
  notes: string[],
): Promise<ThrottleRun[]> {
  const results: ThrottleRun[] = [];
  let rate = settings.rate;
  for (let run = 1; run <= settings.runs; run++) {
    for (const task of plan()) {
      const title = `${task.case} ${task.copier.name} run ${run}`;
      // A token-bucket run copies about 30 s worth of R: the same bound in time whatever R is, long
      // enough that the run's first and last batch (receive, verify, settle) weigh little.
      const some = task.case === 'bucket' && rate > 0 ? objects.slice(0, Math.max(40, rate * 30)) : objects;
      const expected = new Map(some.map((o) => [o.key, o.size ?? 0]));
      // A throttled run of the old behaviour can take far longer than R allows: bound it.
      const budgetMs = Math.min(120_000, deadline - Date.now() - 20_000);
      if (budgetMs < 20_000) {
        notes.push(`skipped ${title}: over the time budget`);
        continue;
      }
      const proxy = await startLatencyProxy({
        target: env.stack.endpoint,
        delayMs: 0,
        throttle: throttleOf(task.case, { ...settings, rate }),
        lifetimeMs: budgetMs + 60_000,
      });
      const scraped: string[] = [];
      const load0 = loadavg()[0] ?? Number.NaN;
      let result: RunResult;
      try {
        result = await measureQueueRun({ ...env, proxyRequests: proxy.requests }, agentsCopier(task.copier, scraped), {
          scenario: `throttle-${task.case}`,
          run,
          sourceEndpoint: proxy.endpoint,
          messages: batchMessages(some, {
            job: `bench-throttle-${task.case}-${run}`,
            sourceBucket: env.resources.sourceBucket,
            destBucket: env.resources.destBucket,
            batchSize: settings.batchSize,
          }),
          expected,
          timeoutMs: budgetMs,
          sampleMs: 500,
        });
      } catch (err) {
        result = {
          scenario: `throttle-${task.case}`,
          copier: task.copier.name,
          run,
          objects: expected.size,
          bytes: 0,
          seconds: Number.NaN,
          objectsPerSecond: Number.NaN,
          mbPerSecond: Number.NaN,
          problems: [`could not run: ${(err as Error).message}`],
        };
      } finally {
        await proxy.stop();
      }
      const samples = scraped.map(parsePrometheusText);
      const entry: ThrottleRun = {
        ...result,
        copier: task.copier.name,
        case: task.case,
        refused: proxy.throttled(),
        throttledCopies: samples.reduce((n, s) => n + sumOf(s, 'rclone_migrate_throttled_requests_total'), 0),
        finalLimits: samples.map((s) => sumOf(s, 'rclone_migrate_copy_concurrency_limit', { store: 'source' })),
        finalRates: samples.map((s) => sumOf(s, 'rclone_migrate_copy_start_rate_limit', { store: 'source' })),
        load: [load0, loadavg()[0] ?? Number.NaN],
      };
      results.push(entry);
      if (rate === 0 && task.case === 'unthrottled') {
        rate = autoRate(entry.problems.length === 0 ? entry.objectsPerSecond : Number.NaN);
        say(`throttle: token bucket of ${rate} requests/s`);
      }
      entry.rate = rate;
      say(
        `throttle ${title}: ${entry.objectsPerSecond.toFixed(1)} objects/s in ${entry.seconds.toFixed(1)} s, ` +
          `${entry.proxyRequests ?? 0} source requests (${entry.refused} refused)` +
          (entry.problems.length ? ` — ${entry.problems.join('; ')}` : ''),
      );
    }
  }
  return results;
}

const num = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');

/** The throttled-source section of BENCHMARKS.md. */
export function renderThrottle(results: readonly ThrottleRun[], given: ThrottleSettings, header: string): string {
  const settings = { ...given, rate: given.rate || (results.find((r) => r.case === 'bucket')?.rate ?? Number.NaN) };
  const good = (r: ThrottleRun): boolean => r.problems.length === 0 && Number.isFinite(r.seconds);
  const of = (kind: ThrottleCase, copier: string) => results.filter((r) => r.case === kind && r.copier === copier);
  const med = (rs: readonly ThrottleRun[], pick: (r: ThrottleRun) => number) => spread(rs.filter(good).map(pick));
  const range = (rs: readonly ThrottleRun[], pick: (r: ThrottleRun) => number, digits = 1): string => {
    const s = med(rs, pick);
    return s.n === 0
      ? '–'
      : s.n === 1
        ? num(s.median, digits)
        : `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`;
  };
  const lines = [
    header,
    '',
    `Source behind the fault proxy (\`scripts/latency-proxy.ts\`) in front of moto; ${settings.count} objects of 4 KiB ` +
      `per run (token bucket runs: the first 30 × R) in messages of ${settings.batchSize} keys, a fresh queue and proxy per run, the destination emptied ` +
      'between runs and every object checked after each. **token bucket**: the proxy admits ' +
      `R = ${settings.rate} requests/s${given.rate ? '' : " (chosen as 0.4 × the first unthrottled run's rate, at most 40)"} ` +
      "(a bucket of one second's worth, so R per second over any second) and answers the rest 503 SlowDown, refused requests taking no token; " +
      `**random**: ${Math.round(settings.fraction * 100)} % of source requests answered 503 SlowDown whatever the rate; ` +
      '**unthrottled**: the same proxy passing everything. Copiers:',
    '',
    ...THROTTLE_COPIERS.map((c) => `- **${c.name}**: ${c.describe}`),
    '',
    '| case | copier | good runs | objects/s median (min–max) | net of the full bucket at the start | source requests per object | refused per object | throttled copy attempts (agent metric) | final source limit / start rate (0: not paced) | CPU s per 1,000 objects | other load (cores) | load average, start → end |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  const net = (r: ThrottleRun): number =>
    r.case === 'bucket' ? (r.objects - (r.rate ?? 0)) / r.seconds : r.objectsPerSecond;
  const rows: Array<[ThrottleCase, string]> = [
    ['unthrottled', 'agent'],
    ['bucket', 'agent'],
    ['bucket', '2 agents'],
    ['bucket', 'agent, adaptation off'],
    ['random', 'agent'],
    ['random', 'agent, adaptation off'],
  ];
  for (const [kind, copier] of rows) {
    const rs = of(kind, copier);
    if (rs.length === 0) continue;
    const ok = rs.filter(good);
    lines.push(
      `| ${kind === 'bucket' ? `token bucket ${settings.rate}/s` : kind === 'random' ? `random ${Math.round(settings.fraction * 100)} %` : kind} | ${copier} | ` +
        `${ok.length} of ${rs.length} | ${range(rs, (r) => r.objectsPerSecond)} | ${kind === 'bucket' ? range(rs, net) : ''} | ` +
        `${range(rs, (r) => (r.proxyRequests ?? Number.NaN) / r.objects, 2)} | ${range(rs, (r) => r.refused / r.objects, 2)} | ` +
        `${range(rs, (r) => r.throttledCopies ?? Number.NaN, 0)} | ${ok.map((r) => r.finalLimits.map((l, i) => `${num(l, 1)}${r.finalRates ? ` / ${num(r.finalRates[i] ?? Number.NaN, 1)}` : ''}`).join(' + ')).join(', ') || '–'} | ` +
        `${range(rs, (r) => ((r.cpuSeconds ?? Number.NaN) / r.objects) * 1000, 2)} | ${range(rs, (r) => r.otherCores ?? Number.NaN, 2)} | ` +
        `${ok.map((r) => `${num(r.load[0], 2)} → ${num(r.load[1], 2)}`).join(', ') || '–'} |`,
    );
  }
  for (const r of results.filter((x) => !good(x)))
    lines.push('', `- ${r.case} ${r.copier} run ${r.run}: ${r.problems.join('; ')}`);
  // The bucket is full when a run starts: one second's worth of R beyond what R allows. The ratios to R
  // leave it out (objects less R, over the run's seconds), so they are what the rate alone admits.
  const rate = (kind: ThrottleCase, copier: string): number => med(of(kind, copier), net).median;
  const unthrottled = rate('unthrottled', 'agent');
  const targets: Array<[string, number, number]> = [
    [
      `token bucket: agent, net of the initial full bucket, ÷ R (${settings.rate}/s)`,
      ratio(rate('bucket', 'agent'), settings.rate),
      0.85,
    ],
    [`token bucket: 2 agents together, net, ÷ R`, ratio(rate('bucket', '2 agents'), settings.rate), 0.8],
    [
      `random ${Math.round(settings.fraction * 100)} %: agent ÷ unthrottled agent`,
      ratio(rate('random', 'agent'), unthrottled),
      0.5,
    ],
    [
      '(token bucket: adaptation off ÷ R, the old behaviour)',
      ratio(rate('bucket', 'agent, adaptation off'), settings.rate),
      Number.NaN,
    ],
    [
      `(random: adaptation off ÷ unthrottled, the old behaviour)`,
      ratio(rate('random', 'agent, adaptation off'), unthrottled),
      Number.NaN,
    ],
  ];
  lines.push('', '| ratio of medians | measured | target | met |', '|---|---|---|---|');
  for (const [what, measured, goal] of targets) {
    const dead = what.includes('adaptation off')
      ? ''
      : Number.isFinite(goal) && Number.isFinite(measured)
        ? measured >= goal
          ? 'yes'
          : '**no**'
        : '';
    lines.push(
      `| ${what} | ${Number.isFinite(measured) ? `${num(measured, 2)}×` : '–'} | ${Number.isFinite(goal) ? `≥ ${goal}×` : ''} | ${dead} |`,
    );
  }
  return lines.join('\n');
}
