// The resident set of a process, from Linux's /proc/<pid>/status (VmRSS). Elsewhere there is none.
import { readFile } from 'node:fs/promises';

/** VmRSS of a /proc/<pid>/status text, in bytes; undefined when the line is missing (a zombie, a kernel thread). */
export function parseVmRss(status: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/** The process's resident set in bytes, or undefined when it cannot be read (gone, or no /proc). */
export async function readRssBytes(pid: number): Promise<number | undefined> {
  try {
    return parseVmRss(await readFile(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}
