// `npm run bench -- --flag value`: what to run, how many times, and the time budget.
import { parseArgs } from 'node:util';
import { STORE_NAMES, type StoreName } from './stores.ts';

export type BenchOptions = {
  /** The rounds, one per store holding both buckets (SQS is moto's in every round). */
  stores: StoreName[];
  scenarios: string[];
  copiers: string[];
  smallCount: number;
  smallBytes: number;
  largeCount: number;
  largeMiB: number;
  latencyMs: number;
  /** Runs of the agent and the ceiling on small objects (the reference is slow: see referenceRuns). */
  runs: number;
  referenceRuns: number;
  /** Small objects the reference copies per run: the first N of the scenario's (0: all). */
  referenceCount: number;
  largeRuns: number;
  flatnessObjects: number;
  batchSize: number;
  ceilingPartMiB: number;
  /** Each store's round, seconds: runs that would start after it are skipped, the flatness run is shortened. */
  budgetSeconds: number;
  agentArgs: string[];
  /** The throttled-source scenario (throttle.ts): objects per run, token bucket rate, random share, runs. */
  throttle: { count: number; rate: number; fraction: number; runs: number };
  out: string;
  write: boolean;
  /** Render the notes from this results.json of an earlier run instead of measuring. */
  fromResults?: string;
};

export const USAGE = `Usage: npm run bench -- [options]
  --stores LIST            moto,ceph (default: both): a round with both buckets on each store, SQS on moto;
                           the flatness run is in the last round, the throttle scenario in moto's
  --scenarios LIST         small,small-latency,large,large-latency,flatness,throttle (default: all)
  --copiers LIST           agent,reference,ceiling,rclone-direct (default: all)
  --small-count N          small objects (2000)        --small-bytes N   their size (4096)
  --large-count N          large objects (4)           --large-mib N     their size in MiB (256)
  --latency-ms N           delay the proxy adds to each source request (40)
  --runs N                 small-object runs of the agent and the ceiling (3)
  --reference-runs N       small-object runs of the reference (1: it is ~10x slower)
  --reference-count N      small objects the reference copies per run, the first N (600; 0: all)
  --large-runs N           large-object runs of every copier (2)
  --flatness-objects N     objects in the agent's memory-flatness run (50000; cut to fit the budget)
  --batch-size N           keys per message (20, the lister's default)
  --ceiling-part-mib N     multipart part size of the ceiling (16)
  --budget-seconds N       time budget of each store's round (570; Ceph's start and stop come on top)
  --throttle-count N       objects per throttled-source run (400)
  --throttle-rate N        requests/s the token bucket admits (0: 0.4 × the unthrottled rate measured, at most 40)
  --throttle-fraction F    share of requests answered SlowDown at random (0.3)
  --throttle-runs N        runs of each throttled-source case (2)
  --agent-args JSON        extra flags for the agent, a JSON array (e.g. '["--rclone-children","8"]')
  --out FILE               notes file to write (BENCHMARKS.md)   --no-write   print only
  --from-results FILE      render the notes from an earlier run's results.json (in its log directory), measuring nothing`;

const ALL_SCENARIOS = ['small', 'small-latency', 'large', 'large-latency', 'flatness', 'throttle'];
const ALL_COPIERS = ['agent', 'reference', 'ceiling', 'rclone-direct'];

function positive(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number ≥ ${min}: ${value}`);
  return n;
}

function fraction(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new Error(`--${name} must be a number from 0 to 1: ${value}`);
  return n;
}

function list(name: string, value: string | undefined, all: readonly string[]): string[] {
  if (value === undefined) return [...all];
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = items.filter((i) => !all.includes(i));
  if (unknown.length > 0) throw new Error(`--${name}: unknown ${unknown.join(', ')} (known: ${all.join(', ')})`);
  return items;
}

export function parseOptions(argv: readonly string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      help: { type: 'boolean' },
      stores: { type: 'string' },
      scenarios: { type: 'string' },
      copiers: { type: 'string' },
      'small-count': { type: 'string' },
      'small-bytes': { type: 'string' },
      'large-count': { type: 'string' },
      'large-mib': { type: 'string' },
      'latency-ms': { type: 'string' },
      runs: { type: 'string' },
      'reference-runs': { type: 'string' },
      'reference-count': { type: 'string' },
      'large-runs': { type: 'string' },
      'flatness-objects': { type: 'string' },
      'batch-size': { type: 'string' },
      'ceiling-part-mib': { type: 'string' },
      'budget-seconds': { type: 'string' },
      'agent-args': { type: 'string' },
      'throttle-count': { type: 'string' },
      'throttle-rate': { type: 'string' },
      'throttle-fraction': { type: 'string' },
      'throttle-runs': { type: 'string' },
      out: { type: 'string' },
      'no-write': { type: 'boolean' },
      'from-results': { type: 'string' },
    },
  });
  if (values.help) return 'help';
  let agentArgs: string[] = [];
  if (values['agent-args'] !== undefined) {
    const parsed = JSON.parse(values['agent-args']) as unknown;
    if (!Array.isArray(parsed) || parsed.some((a) => typeof a !== 'string')) {
      throw new Error('--agent-args must be a JSON array of strings');
    }
    agentArgs = parsed as string[];
  }
  return {
    stores: list('stores', values.stores, STORE_NAMES) as StoreName[],
    scenarios: list('scenarios', values.scenarios, ALL_SCENARIOS),
    copiers: list('copiers', values.copiers, ALL_COPIERS),
    smallCount: positive('small-count', values['small-count'], 2000),
    smallBytes: positive('small-bytes', values['small-bytes'], 4096, 0),
    largeCount: positive('large-count', values['large-count'], 4),
    largeMiB: positive('large-mib', values['large-mib'], 256),
    latencyMs: positive('latency-ms', values['latency-ms'], 40, 0),
    runs: positive('runs', values.runs, 3),
    referenceRuns: positive('reference-runs', values['reference-runs'], 1, 0),
    referenceCount: positive('reference-count', values['reference-count'], 600, 0),
    largeRuns: positive('large-runs', values['large-runs'], 2),
    flatnessObjects: positive('flatness-objects', values['flatness-objects'], 50_000),
    batchSize: positive('batch-size', values['batch-size'], 20),
    ceilingPartMiB: positive('ceiling-part-mib', values['ceiling-part-mib'], 16, 5),
    budgetSeconds: positive('budget-seconds', values['budget-seconds'], 570),
    agentArgs,
    throttle: {
      count: positive('throttle-count', values['throttle-count'], 400),
      rate: positive('throttle-rate', values['throttle-rate'], 0, 0),
      fraction: fraction('throttle-fraction', values['throttle-fraction'], 0.3),
      runs: positive('throttle-runs', values['throttle-runs'], 2),
    },
    out: values.out ?? 'BENCHMARKS.md',
    write: !values['no-write'],
    ...(values['from-results'] ? { fromResults: values['from-results'] } : {}),
  };
}
