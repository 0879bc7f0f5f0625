// The copy benchmark's section of BENCHMARKS.md: figures per scenario and copier, the ratios
// against the issue's targets, and the memory-flatness run. Only the text between this bench's
// markers is replaced; other sections of the file (the lister's) are left alone.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Machine } from './machine.ts';
import type { RunResult } from './run.ts';
import { quartileMedians, ratio, spread, tenths, type Spread } from './stats.ts';

export type Block = { id: string; heading: string; text: string };

const begin = (id: string): string =>
  `<!-- ${id}:begin (written by \`npm run bench\`; edits inside are overwritten) -->`;
const end = (id: string): string => `<!-- ${id}:end -->`;

export type ScenarioInfo = { id: string; title: string; kind: 'small' | 'large' };

export type ReportInput = {
  machine: Machine;
  scenarios: readonly ScenarioInfo[];
  copiers: ReadonlyArray<{ name: string; describe: string }>;
  results: readonly RunResult[];
  flatness?: RunResult & { requested: number };
  notes: readonly string[];
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

function scenarioTable(input: ReportInput, scenario: ScenarioInfo): string[] {
  const rows = rowsOf(input, scenario.id);
  if (rows.length === 0) return [`### ${scenario.title}`, '', 'Not run.', ''];
  const lines = [
    `### ${scenario.title}`,
    '',
    `| copier | good runs | objects/s median (min–max) | MB/s median (min–max) | peak RSS, tree / root (MiB) | ${scenario.kind === 'small' ? 'CPU s per 1,000 objects' : 'CPU s per GB'} | moto CPU (cores) | other load (cores) | source requests per object |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const most = Math.max(...rows.flatMap((r) => r.runs.map((x) => x.objects)));
  for (const row of rows) {
    const ok = row.ok;
    const fewer = row.runs.find((x) => x.objects < most);
    const name = fewer ? `${row.copier} (first ${fewer.objects.toLocaleString('en-US')} objects)` : row.copier;
    const peakTree = Math.max(...ok.map((r) => r.peakTreeRss ?? 0));
    const peakRoot = Math.max(...ok.map((r) => r.peakRootRss ?? 0));
    const cpu = medianOf(ok, (r) =>
      scenario.kind === 'small'
        ? ((r.cpuSeconds ?? Number.NaN) / r.objects) * 1000
        : (r.cpuSeconds ?? Number.NaN) / (r.bytes / 1e9),
    );
    const other = medianOf(ok, (r) => r.otherCores);
    const moto = medianOf(ok, (r) => (r.motoCpuSeconds ?? Number.NaN) / r.seconds);
    const requests = medianOf(ok, (r) => (r.proxyRequests === undefined ? Number.NaN : r.proxyRequests / r.objects));
    lines.push(
      `| ${name} | ${ok.length} of ${row.runs.length} | ${range(medianOf(ok, (r) => r.objectsPerSecond))} | ` +
        `${range(medianOf(ok, (r) => r.mbPerSecond))} | ` +
        `${peakTree > 0 ? `${num(peakTree / MiB, 0)} / ${num(peakRoot / MiB, 0)}` : '–'} | ${num(cpu.median, 2)} | ` +
        `${num(moto.median, 2)} | ${num(other.median, 2)} | ${requests.n > 0 ? num(requests.median, 1) : '–'} |`,
    );
  }
  const problems = rows.flatMap((r) => r.runs.filter((x) => !good(x)));
  for (const p of problems) lines.push('', `- ${p.copier} run ${p.run}: ${p.problems.join('; ') || 'no timing'}`);
  lines.push('');
  return lines;
}

type Target = { scenario: ScenarioInfo; what: string; measured: number; goal: number };

function targets(input: ReportInput): Target[] {
  const out: Target[] = [];
  for (const scenario of input.scenarios) {
    const med = (copier: string): number =>
      spread(
        input.results
          .filter((r) => r.scenario === scenario.id && r.copier === copier && good(r))
          .map((r) => r.objectsPerSecond),
      ).median;
    const agent = med('agent');
    if (scenario.kind === 'small') {
      out.push({ scenario, what: 'agent ÷ reference', measured: ratio(agent, med('reference')), goal: 10 });
      out.push({ scenario, what: 'agent ÷ ceiling', measured: ratio(agent, med('ceiling')), goal: 0.7 });
    } else {
      out.push({
        scenario,
        what: 'agent ÷ direct `rclone copyto`',
        measured: ratio(agent, med('rclone-direct')),
        goal: 0.95,
      });
      out.push({ scenario, what: 'agent ÷ ceiling', measured: ratio(agent, med('ceiling')), goal: 0.8 });
      out.push({
        scenario,
        what: '(agent ÷ reference, for information)',
        measured: ratio(agent, med('reference')),
        goal: Number.NaN,
      });
    }
  }
  return out;
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
    `${f.objects.toLocaleString('en-US')} small objects through the agent` +
      (f.requested !== f.objects
        ? ` (${f.requested.toLocaleString('en-US')} requested; cut to fit the time budget)`
        : '') +
      ", fed to the queue one pass of the small objects at a time (moto's SQS slows down with thousands of messages " +
      `queued); the daemon's RSS sampled ${series.length} times from /proc and its V8 heap from its /metrics. ` +
      'The rclone children are not the daemon; the tree peak includes them.',
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
  if (!good(f)) lines.push('', `- problems: ${f.problems.join('; ')}`);
  lines.push('', ...input.flatnessNotes.map((n) => `- ${n}`));
  return lines;
}

const complete = (f: RunResult & { requested: number }): boolean => f.objects >= f.requested;

/** Flat or not, judged only on a run of every object requested: a short run is mostly V8 sizing its heap. */
function flatVerdict(f: RunResult & { requested: number }, growth: number): string {
  if (!good(f) || !Number.isFinite(growth)) return '–';
  if (!complete(f)) return 'not judged (short run)';
  return growth <= 10 ? 'yes' : '**no**';
}

function measuredLine(input: ReportInput): string {
  const m = input.machine;
  return (
    `Measured ${m.date} by \`${input.command}\` in ${num(input.wallSeconds / 60)} minutes: ` +
    `${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB memory; node ${m.node}, ${m.rclone}, moto ${m.moto}, ` +
    `rclone-migrate ${m.agent}. Everything on loopback, on one machine, against one moto server; other work shared the machine.`
  );
}

/** The blocks this run has figures for: the copy scenarios, the long memory run, or both. */
export function renderBlocks(input: ReportInput): Block[] {
  const blocks: Block[] = [];
  if (input.results.length > 0) {
    const lines = [
      measuredLine(input),
      '',
      'Copiers, each consuming the same queue of batch messages (20 keys each) from the same buckets, the destination emptied between runs:',
      '',
      ...input.copiers.map((c) => `- **${c.name}**: ${c.describe}`),
      '',
      'Timing runs from just before the batches are enqueued (the copier already started and idle) until the queue has no message ' +
        'visible or in flight; then every destination object is checked by size. MB = 10⁶ bytes. CPU is utime + stime of the ' +
        "copier's process tree from /proc (children it reaped included); moto CPU is the moto server's, in cores busy over the run " +
        "(≈ 1.0 means the single Python process was saturated); other load is the rest of the machine's busy CPU over the " +
        'run (work sharing the machine; the bench process itself is not in it). Source requests per object are counted ' +
        'by the latency proxy.',
      '',
      ...input.scenarios.flatMap((s) => scenarioTable(input, s)),
      '### Against the targets',
      '',
      '| scenario | ratio (median objects/s) | measured | target | met |',
      '|---|---|---|---|---|',
      ...targets(input).map(
        (t) =>
          `| ${t.scenario.title} | ${t.what} | ${Number.isFinite(t.measured) ? `${num(t.measured, 2)}×` : '–'} | ` +
          `${Number.isFinite(t.goal) ? `≥ ${t.goal}×` : ''} | ${Number.isFinite(t.goal) && Number.isFinite(t.measured) ? (t.measured >= t.goal ? 'yes' : '**no**') : ''} |`,
      ),
      ...(input.notes.length > 0 ? ['', 'Notes from this run:', '', ...input.notes.map((n) => `- ${n}`)] : []),
      // A memory run cut to fit the budget is reported here; only a full one replaces the long run's block.
      ...(input.flatness && !complete(input.flatness)
        ? ['', '### Daemon memory, short run', '', ...flatnessLines(input)]
        : []),
    ];
    blocks.push({
      id: 'copy-bench',
      heading: '## Copy throughput: agent, reference and ceiling',
      text: lines.join('\n'),
    });
  }
  if (input.flatness && (complete(input.flatness) || input.results.length === 0)) {
    const lines = [measuredLine(input), '', ...flatnessLines(input)];
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
