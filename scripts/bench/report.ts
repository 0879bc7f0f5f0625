// The copy benchmark's section of BENCHMARKS.md: figures per scenario and copier, the ratios
// against the issue's targets, and the memory-flatness run. Only the text between this bench's
// markers is replaced; other sections of the file (the lister's) are left alone.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Machine } from './machine.ts';
import type { ChildRssSeries } from './procfs.ts';
import type { RunResult } from './run.ts';
import type { StoreName } from './stores.ts';
import { quartileMedians, ratio, spread, tenths, type Spread } from './stats.ts';

export type Block = { id: string; heading: string; text: string };

const begin = (id: string): string =>
  `<!-- ${id}:begin (written by \`npm run bench\`; edits inside are overwritten) -->`;
const end = (id: string): string => `<!-- ${id}:end -->`;

/** `store` absent in results saved before there were rounds: moto. */
export type ScenarioInfo = { id: string; title: string; kind: 'small' | 'large'; store?: StoreName };

export type FlatnessResult = RunResult & { requested: number; store?: StoreName };

export type ReportInput = {
  machine: Machine;
  scenarios: readonly ScenarioInfo[];
  copiers: ReadonlyArray<{ name: string; describe: string }>;
  results: readonly RunResult[];
  flatness?: FlatnessResult;
  /** Notes of the moto round (before there were rounds, the only ones). */
  notes: readonly string[];
  storeNotes?: Partial<Record<StoreName, readonly string[]>>;
  storeDescribe?: Partial<Record<StoreName, string>>;
  flatnessNotes: readonly string[];
  wallSeconds: number;
  command: string;
};

const MiB = 1024 * 1024;

function num(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return '–';
  if (Math.abs(n) >= 100) return Math.round(n).toLocaleString('en-US');
  return n.toFixed(digits);
}

function range(s: Spread, digits = 1): string {
  if (s.n === 0) return '–';
  if (s.n === 1) return num(s.median, digits);
  return `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`;
}

const good = (r: RunResult): boolean => r.problems.length === 0 && Number.isFinite(r.seconds);

type Row = { copier: string; runs: RunResult[]; ok: RunResult[] };

function rowsOf(input: ReportInput, scenario: string): Row[] {
  const names = [...new Set(input.results.filter((r) => r.scenario === scenario).map((r) => r.copier))];
  return names.map((copier) => {
    const runs = input.results.filter((r) => r.scenario === scenario && r.copier === copier);
    return { copier, runs, ok: runs.filter(good) };
  });
}

const medianOf = (runs: readonly RunResult[], pick: (r: RunResult) => number | undefined): Spread =>
  spread(runs.map((r) => pick(r) ?? Number.NaN));

const storeOf = (s: ScenarioInfo): StoreName => s.store ?? 'moto';

/** "0.4 → 1.2": the 1-minute load average at a run's start and end, medians over the runs. */
function loadText(runs: readonly RunResult[]): string {
  const at = (i: 0 | 1) => spread(runs.map((r) => r.load?.[i] ?? Number.NaN));
  const start = at(0);
  const end = at(1);
  return start.n === 0 ? '–' : `${num(start.median, 2)} → ${num(end.median, 2)}`;
}

function scenarioTable(input: ReportInput, scenario: ScenarioInfo): string[] {
  const rows = rowsOf(input, scenario.id);
  if (rows.length === 0) return [`### ${scenario.title}`, '', 'Not run.', ''];
  const ceph = storeOf(scenario) === 'ceph';
  const cpuHeading = scenario.kind === 'small' ? 'CPU s per 1,000 objects' : 'CPU s per 1,000 objects / per GB';
  const lines = [
    `### ${scenario.title}`,
    '',
    `| copier | good runs | objects/s median (min–max) | MB/s median (min–max) | peak RSS, tree / root (MiB) | ${cpuHeading} | ${ceph ? 'Ceph CPU (cores) | ' : ''}moto CPU (cores) | other load (cores) | load average, start → end | source requests per object |`,
    `|---|---|---|---|---|---|---|---|${ceph ? '---|' : ''}---|---|`,
  ];
  const most = Math.max(...rows.flatMap((r) => r.runs.map((x) => x.objects)));
  for (const row of rows) {
    const ok = row.ok;
    const fewer = row.runs.find((x) => x.objects < most);
    const name = fewer ? `${row.copier} (first ${fewer.objects.toLocaleString('en-US')} objects)` : row.copier;
    const peakTree = Math.max(...ok.map((r) => r.peakTreeRss ?? 0));
    const peakRoot = Math.max(...ok.map((r) => r.peakRootRss ?? 0));
    const perThousand = medianOf(ok, (r) => ((r.cpuSeconds ?? Number.NaN) / r.objects) * 1000);
    const perGb = medianOf(ok, (r) => (r.cpuSeconds ?? Number.NaN) / (r.bytes / 1e9));
    const cpu =
      scenario.kind === 'small'
        ? num(perThousand.median, 2)
        : `${num(perThousand.median, 0)} / ${num(perGb.median, 2)}`;
    const other = medianOf(ok, (r) => r.otherCores);
    const moto = medianOf(ok, (r) => (r.motoCpuSeconds ?? Number.NaN) / r.seconds);
    const store = medianOf(ok, (r) => (r.storeCpuSeconds ?? Number.NaN) / r.seconds);
    const requests = medianOf(ok, (r) => (r.proxyRequests === undefined ? Number.NaN : r.proxyRequests / r.objects));
    lines.push(
      `| ${name} | ${ok.length} of ${row.runs.length} | ${range(medianOf(ok, (r) => r.objectsPerSecond))} | ` +
        `${range(medianOf(ok, (r) => r.mbPerSecond))} | ` +
        `${peakTree > 0 ? `${num(peakTree / MiB, 0)} / ${num(peakRoot / MiB, 0)}` : '–'} | ${cpu} | ` +
        `${ceph ? `${num(store.median, 2)} | ` : ''}${num(moto.median, 2)} | ${num(other.median, 2)} | ${loadText(ok)} | ` +
        `${requests.n > 0 ? num(requests.median, 1) : '–'} |`,
    );
  }
  const problems = rows.flatMap((r) => r.runs.filter((x) => !good(x)));
  for (const p of problems) lines.push('', `- ${p.copier} run ${p.run}: ${p.problems.join('; ') || 'no timing'}`);
  lines.push('');
  return lines;
}

/** A target: the agent's median objects/s over another copier's, at least `goal` (NaN: for information only). */
export type Goal = { against: 'reference' | 'ceiling' | 'rclone-direct'; goal: number };

/**
 * The targets of a scenario. moto's are issue 5's (its small-object ceiling is moto itself); on Ceph,
 * issue 13's: with 40 ms at the source the agent ≥ 10× the reference and ≥ 0.8× the ceiling, without
 * latency ≥ 0.8× the ceiling, and large objects ≥ 0.95× a direct `rclone copyto` and ≥ 0.8× the ceiling.
 */
export function goalsOf(scenario: Pick<ScenarioInfo, 'id' | 'kind' | 'store'>): Goal[] {
  const latency = scenario.id.endsWith('-latency');
  if (scenario.kind === 'large') {
    return [
      { against: 'rclone-direct', goal: 0.95 },
      { against: 'ceiling', goal: 0.8 },
      { against: 'reference', goal: Number.NaN },
    ];
  }
  if ((scenario.store ?? 'moto') === 'moto') {
    return [
      { against: 'reference', goal: 10 },
      { against: 'ceiling', goal: 0.7 },
    ];
  }
  return [
    { against: 'reference', goal: latency ? 10 : Number.NaN },
    { against: 'ceiling', goal: 0.8 },
  ];
}

/** "yes", "**no**", or '' where there is no goal or no figure. */
export function verdict(measured: number, goal: number): string {
  if (!Number.isFinite(goal) || !Number.isFinite(measured)) return '';
  return measured >= goal ? 'yes' : '**no**';
}

type Target = { scenario: ScenarioInfo; what: string; measured: number; goal: number };

const AGAINST: Record<Goal['against'], string> = {
  reference: 'agent ÷ reference',
  ceiling: 'agent ÷ ceiling',
  'rclone-direct': 'agent ÷ direct `rclone copyto`',
};

function targets(input: ReportInput, scenarios: readonly ScenarioInfo[]): Target[] {
  const out: Target[] = [];
  for (const scenario of scenarios) {
    const med = (copier: string): number =>
      spread(
        input.results
          .filter((r) => r.scenario === scenario.id && r.copier === copier && good(r))
          .map((r) => r.objectsPerSecond),
      ).median;
    const agent = med('agent');
    for (const g of goalsOf(scenario)) {
      out.push({
        scenario,
        what: Number.isFinite(g.goal) ? AGAINST[g.against] : `(${AGAINST[g.against]}, for information)`,
        measured: ratio(agent, med(g.against)),
        goal: g.goal,
      });
    }
  }
  return out;
}

function targetTable(input: ReportInput, scenarios: readonly ScenarioInfo[]): string[] {
  return [
    '| scenario | ratio (median objects/s) | measured | target | met |',
    '|---|---|---|---|---|',
    ...targets(input, scenarios).map(
      (t) =>
        `| ${t.scenario.title} | ${t.what} | ${Number.isFinite(t.measured) ? `${num(t.measured, 2)}×` : '–'} | ` +
        `${Number.isFinite(t.goal) ? `≥ ${t.goal}×` : ''} | ${verdict(t.measured, t.goal)} |`,
    ),
  ];
}

/** Per rclone child of the daemon: its RSS at the start and end of its life and its peak, MiB. Pure, for tests. */
export function childRssRows(children: readonly ChildRssSeries[]): Array<{
  pid: number;
  fromS: number;
  toS: number;
  samples: number;
  first: number;
  last: number;
  peak: number;
  tenths: number[];
}> {
  const start = Math.min(...children.map((c) => c.firstAt));
  return children.map((c) => {
    const q = quartileMedians(c.rss);
    return {
      pid: c.pid,
      fromS: (c.firstAt - start) / 1000,
      toS: (c.lastAt - start) / 1000,
      samples: c.rss.length,
      first: q.first / MiB,
      last: q.last / MiB,
      peak: Math.max(...c.rss) / MiB,
      tenths: tenths(c.rss).map((t) => t.median / MiB),
    };
  });
}

function flatnessLines(input: ReportInput): string[] {
  const f = input.flatness;
  if (!f) return [];
  const series = f.rootRssSeries ?? [];
  const q = quartileMedians(series);
  const growth = ratio(q.last - q.first, q.first) * 100;
  const hq = quartileMedians(f.heapSeries ?? []);
  const heapGrowth = ratio(hq.last - hq.first, hq.first) * 100;
  const pct = (n: number): string => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(1)} %` : '–');
  const lines = [
    `${f.objects.toLocaleString('en-US')} small objects through the agent${(f.store ?? 'moto') === 'ceph' ? ', both buckets on Ceph RGW' : ' on moto'}` +
      (f.requested !== f.objects
        ? ` (${f.requested.toLocaleString('en-US')} requested; cut to fit the time budget)`
        : '') +
      ", fed to the queue one pass of the small objects at a time (moto's SQS slows down with thousands of messages " +
      `queued); the daemon's RSS sampled ${series.length} times from /proc and its V8 heap from its /metrics` +
      (f.load
        ? `; the 1-minute load average ${num(f.load[0], 2)} at the start, ${num(f.load[1], 2)} at the end. `
        : '. ') +
      "The rclone children are not the daemon; the tree peak includes them, and each child's own RSS is below.",
    '',
    '| objects | seconds | objects/s | daemon RSS, first-quarter median (MiB) | last-quarter median (MiB) | change | daemon peak (MiB) | tree peak (MiB) | V8 heap used, first / last quarter (MiB) | heap change | flat (RSS change ≤ 10 %) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    `| ${f.objects.toLocaleString('en-US')} | ${num(f.seconds)} | ${num(f.objectsPerSecond)} | ${num(q.first / MiB)} | ${num(q.last / MiB)} | ` +
      `${pct(growth)} | ${num((f.peakRootRss ?? 0) / MiB)} | ${num((f.peakTreeRss ?? 0) / MiB)} | ` +
      `${num(hq.first / MiB)} / ${num(hq.last / MiB)} | ${pct(heapGrowth)} | ` +
      `${flatVerdict(f, growth)} |`,
  ];
  const rss = tenths(series);
  const heap = tenths(f.heapSeries ?? []);
  const mib = (xs: number[]): string => xs.map((x) => num(x / MiB, 0)).join(', ');
  if (rss.length > 0) {
    const second = ratio((rss[9]?.median ?? 0) - (rss[5]?.median ?? 0), rss[5]?.median ?? 0) * 100;
    lines.push(
      '',
      `- daemon RSS by tenth of the run, medians (MiB): ${mib(rss.map((t) => t.median))}; ` +
        `over the second half (6th to 10th tenth) ${pct(second)}.`,
    );
  }
  if (heap.length > 0) {
    lines.push(
      `- V8 heap used by tenth, lowest sample (the live set after a collection, MiB): ${mib(heap.map((t) => t.min))}; ` +
        `medians: ${mib(heap.map((t) => t.median))}.`,
    );
  }
  lines.push('', ...childLines(f));
  if (!good(f)) lines.push('', `- problems: ${f.problems.join('; ')}`);
  lines.push('', ...input.flatnessNotes.map((n) => `- ${n}`));
  return lines;
}

/** The daemon's rclone children over the long run, each PID its own row (a recycled child is a new PID). */
function childLines(f: FlatnessResult): string[] {
  const recycles =
    f.childRecycles === undefined
      ? '`rclone_migrate_rclone_child_recycles_total` is not exposed by this build of the daemon: recycles not reported.'
      : `rclone children recycled during the run (\`rclone_migrate_rclone_child_recycles_total\`): ${num(f.childRecycles, 0)}.`;
  const rows = childRssRows(f.childRss ?? []);
  if (rows.length === 0) return ['No rclone child of the daemon was seen in /proc.', '', recycles];
  return [
    "The daemon's rclone children (its child processes named `rclone` in /proc), RSS in MiB; seconds from the first sample:",
    '',
    '| child PID | seen, s | samples | first-quarter median | last-quarter median | peak | medians by tenth of its life |',
    '|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${r.pid} | ${num(r.fromS, 0)}–${num(r.toS, 0)} | ${r.samples} | ${num(r.first)} | ${num(r.last)} | ${num(r.peak)} | ` +
        `${r.tenths.length ? r.tenths.map((t) => num(t, 0)).join(', ') : '–'} |`,
    ),
    '',
    recycles,
  ];
}

const complete = (f: RunResult & { requested: number }): boolean => f.objects >= f.requested;

/** Flat or not, judged only on a run of every object requested: a short run is mostly V8 sizing its heap. */
function flatVerdict(f: RunResult & { requested: number }, growth: number): string {
  if (!good(f) || !Number.isFinite(growth)) return '–';
  if (!complete(f)) return 'not judged (short run)';
  return growth <= 10 ? 'yes' : '**no**';
}

function measuredLine(input: ReportInput, store: StoreName = 'moto'): string {
  const m = input.machine;
  const where = store === 'moto' ? 'against one moto server' : `${input.storeDescribe?.[store] ?? `against ${store}`}`;
  return (
    `Measured ${m.date} by \`${input.command}\` in ${num(input.wallSeconds / 60)} minutes: ` +
    `${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB memory; node ${m.node}, ${m.rclone}, moto ${m.moto}, ` +
    `rclone-migrate ${m.agent}. Everything on loopback, on one machine, ${where}; other work shared the machine.`
  );
}

const COMMON_NOTES =
  'Timing runs from just before the batches are enqueued (the copier already started and idle) until the queue has no message ' +
  'visible or in flight; then every destination object is checked by size. MB = 10⁶ bytes. CPU is utime + stime of the ' +
  "copier's process tree from /proc (children it reaped included); moto CPU is the moto server's, in cores busy over the run " +
  "(≈ 1.0 means the single Python process was saturated); other load is the rest of the machine's busy CPU over the " +
  'run (work sharing the machine; the bench process itself is not in it); the load average is the 1-minute one. Source ' +
  'requests per object are counted by the latency proxy (so only where it is in front of the source).';

function copierLines(input: ReportInput): string[] {
  return input.copiers.map((c) => `- **${c.name}**: ${c.describe}`);
}

function notesOf(input: ReportInput, store: StoreName): readonly string[] {
  return store === 'moto' ? (input.storeNotes?.moto ?? input.notes) : (input.storeNotes?.[store] ?? []);
}

function cephBlock(input: ReportInput, scenarios: readonly ScenarioInfo[]): Block {
  const notes = notesOf(input, 'ceph');
  const lines = [
    measuredLine(input, 'ceph'),
    '',
    'The same copiers and queue as on moto, with both buckets on one Ceph RGW as two users (the source bucket owned by ' +
      "one, the destination by the other, each copier given each side's own keys and its own rclone remote: no copy " +
      "can be server-side). SQS stays on moto. The agent's and the ceiling's destination S3 clients run with " +
      "`AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED` in their environment (RGW 16 answers 411 to the SDK's default " +
      "streaming-checksum uploads; the worker's destination client takes the SDK's own setting). The agent runs with " +
      'default settings (copy path `sdk`). Ceph CPU is radosgw + OSD + mon, in cores busy over the run.',
    '',
    ...copierLines(input),
    '',
    COMMON_NOTES,
    '',
    ...scenarios.flatMap((s) => scenarioTable(input, s)),
    '### Against the targets (Ceph RGW)',
    '',
    ...targetTable(input, scenarios),
    ...(notes.length > 0 ? ['', 'Notes from this round:', '', ...notes.map((n) => `- ${n}`)] : []),
    ...(input.flatness && (input.flatness.store ?? 'moto') === 'ceph' && !complete(input.flatness)
      ? ['', '### Daemon memory, short run (Ceph RGW)', '', ...flatnessLines(input)]
      : []),
  ];
  return {
    id: 'copy-bench-ceph',
    heading: '## Copy throughput on Ceph RGW: agent, reference and ceiling',
    text: lines.join('\n'),
  };
}

/** The blocks this run has figures for: each store's copy scenarios, the long memory run, or both. */
export function renderBlocks(input: ReportInput): Block[] {
  const blocks: Block[] = [];
  const moto = input.scenarios.filter((s) => storeOf(s) === 'moto');
  const ceph = input.scenarios.filter((s) => storeOf(s) === 'ceph');
  const has = (scenarios: readonly ScenarioInfo[]) =>
    input.results.some((r) => scenarios.some((s) => s.id === r.scenario));
  const shortFlatness = input.flatness && !complete(input.flatness) ? input.flatness : undefined;
  if (has(moto)) {
    const notes = notesOf(input, 'moto');
    const lines = [
      measuredLine(input),
      '',
      'Copiers, each consuming the same queue of batch messages (20 keys each) from the same buckets, the destination emptied between runs:',
      '',
      ...copierLines(input),
      '',
      COMMON_NOTES,
      '',
      ...moto.flatMap((s) => scenarioTable(input, s)),
      '### Against the targets',
      '',
      ...targetTable(input, moto),
      ...(notes.length > 0 ? ['', 'Notes from this run:', '', ...notes.map((n) => `- ${n}`)] : []),
      // A memory run cut to fit the budget is reported here; only a full one replaces the long run's block.
      ...(shortFlatness && (shortFlatness.store ?? 'moto') === 'moto'
        ? ['', '### Daemon memory, short run', '', ...flatnessLines(input)]
        : []),
    ];
    blocks.push({
      id: 'copy-bench',
      heading: '## Copy throughput: agent, reference and ceiling',
      text: lines.join('\n'),
    });
  }
  if (has(ceph)) blocks.push(cephBlock(input, ceph));
  if (input.flatness && (complete(input.flatness) || input.results.length === 0)) {
    const lines = [measuredLine(input, input.flatness.store ?? 'moto'), '', ...flatnessLines(input)];
    blocks.push({ id: 'copy-bench-memory', heading: "## The agent's memory over a long run", text: lines.join('\n') });
  }
  return blocks;
}

/** The blocks with their markers, as printed and as written. */
export function blockText(block: Block): string {
  return `${begin(block.id)}\n\n${block.text.trimEnd()}\n\n${end(block.id)}`;
}

/**
 * Replaces each block between its markers (or appends it under its heading), leaving everything else
 * in the file (other sections, the notes written by hand) as it is.
 */
export function writeBlocks(path: string, blocks: readonly Block[]): void {
  let text = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  for (const block of blocks) {
    const from = text.indexOf(begin(block.id));
    const to = text.indexOf(end(block.id));
    text =
      from !== -1 && to > from
        ? text.slice(0, from) + blockText(block) + text.slice(to + end(block.id).length)
        : `${text.trimEnd()}\n\n${block.heading}\n\n${blockText(block)}\n`;
  }
  writeFileSync(path, text);
}
