// Date, machine and versions for the benchmark notes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { rcloneVersion } from '../../cli/main.ts';
import { VERSION } from '../../shared/version.ts';

export type Machine = {
  date: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  rclone: string;
  moto: string;
  agent: string;
};

function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function motoVersion(): string {
  const out = spawnSync('python3', ['-c', 'import moto; print(moto.__version__)'], {
    encoding: 'utf8',
    timeout: 20_000,
  });
  return out.status === 0 ? out.stdout.trim() : 'unknown';
}

export function describeMachine(): Machine {
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpus: availableParallelism(),
    cpuModel: cpuModel(),
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    rclone: rcloneVersion(),
    moto: motoVersion(),
    agent: VERSION,
  };
}
