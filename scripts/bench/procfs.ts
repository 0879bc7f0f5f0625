// What /proc says about a process tree: resident memory and CPU time, for the bench's figures on
// the agent (daemon plus rclone children), the copiers compared with it, and moto itself.
import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second of utime/stime (almost always 100). */
const TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export type ProcStat = {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime of the process itself, seconds. */
  cpuSelf: number;
  /** cutime + cstime: children it has waited for, seconds. */
  cpuReaped: number;
};

/** Parses /proc/PID/stat (the command name is in parentheses and may hold spaces). */
export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  // After ")": state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
  const f = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const field = (n: number): number => Number(f[n - 3]);
  return {
    pid,
    ppid: field(4),
    comm,
    cpuSelf: (field(14) + field(15)) / TICKS,
    cpuReaped: (field(16) + field(17)) / TICKS,
  };
}

export function readStat(pid: number): ProcStat | undefined {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined; // gone
  }
}

/** VmRSS in bytes; undefined once the process is gone. */
export function readRss(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return undefined;
  }
}

export function allProcesses(): ProcStat[] {
  const out: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) out.push(stat);
  }
  return out;
}

/** The roots and every live descendant of them. */
export function treeOf(roots: readonly number[], processes: readonly ProcStat[] = allProcesses()): ProcStat[] {
  const byParent = new Map<number, ProcStat[]>();
  for (const p of processes) byParent.set(p.ppid, [...(byParent.get(p.ppid) ?? []), p]);
  const out: ProcStat[] = [];
  const queue = processes.filter((p) => roots.includes(p.pid));
  while (queue.length > 0) {
    const p = queue.shift() as ProcStat;
    out.push(p);
    queue.push(...(byParent.get(p.pid) ?? []));
  }
  return out;
}

/**
 * CPU seconds used so far by a tree: each live member's own time plus the time of children it has
 * reaped. A process that exited and was reaped is counted in its parent, once.
 */
export function treeCpuSeconds(tree: readonly ProcStat[]): number {
  return tree.reduce((sum, p) => sum + p.cpuSelf + p.cpuReaped, 0);
}

export function pidsOfCommand(pattern: RegExp): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (pattern.test(cmdline)) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

export type TreeSample = { at: number; rootRss: number; treeRss: number; processes: number };

/** One child's resident memory over the samples it was alive for (a recycled child is a new PID, a new series). */
export type ChildRssSeries = { pid: number; comm: string; firstAt: number; lastAt: number; rss: number[] };

/**
 * Samples a tree's memory on an interval: the peak of the whole tree, and the roots' own resident
 * memory over time (the daemon's flatness).
 */
export class TreeSampler {
  readonly samples: TreeSample[] = [];
  peakTreeRss = 0;
  peakRootRss = 0;
  /** Each direct child of a root named `childComm` (the daemon's rclone children), by PID. */
  readonly children = new Map<number, ChildRssSeries>();
  readonly #childComm: string | undefined;
  readonly #roots: readonly number[];
  readonly #timer: NodeJS.Timeout;

  /** roots: the daemon (or the copier's own processes); their descendants are found on each sample. */
  constructor(roots: readonly number[], intervalMs: number, childComm?: string) {
    this.#roots = roots;
    this.#childComm = childComm;
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    const tree = treeOf(this.#roots);
    if (tree.length === 0) return;
    let treeRss = 0;
    let rootRss = 0;
    for (const p of tree) {
      const rss = readRss(p.pid) ?? 0;
      treeRss += rss;
      if (this.#roots.includes(p.pid)) rootRss += rss;
      else if (this.#childComm !== undefined && p.comm === this.#childComm && this.#roots.includes(p.ppid)) {
        const at = Date.now();
        const series = this.children.get(p.pid) ?? { pid: p.pid, comm: p.comm, firstAt: at, lastAt: at, rss: [] };
        series.lastAt = at;
        series.rss.push(rss);
        this.children.set(p.pid, series);
      }
    }
    this.peakTreeRss = Math.max(this.peakTreeRss, treeRss);
    this.peakRootRss = Math.max(this.peakRootRss, rootRss);
    this.samples.push({ at: Date.now(), rootRss, treeRss, processes: tree.length });
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** Machine-wide CPU time so far, seconds: busy (all but idle and iowait) across all cores. */
export function systemCpuBusySeconds(): number {
  try {
    const first = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [, ...fields] = first.trim().split(/\s+/);
    const n = fields.map(Number);
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (n[3] ?? 0) + (n[4] ?? 0);
    return (total - idle) / TICKS;
  } catch {
    return Number.NaN;
  }
}
