// Shared set-up of the rclone pool tests: a real moto, real rclone children, logs captured in memory.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { createLogger, type Logger } from '../../shared/logger.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, type LocalStack } from '../../scripts/local-stack.ts';
import type { PoolOptions, PoolTuning } from '../../daemon/rclone-pool.ts';

/** A logger whose JSON lines are kept, to assert what was (not) logged. */
export function memoryLogger(level = 'debug'): { log: Logger; text: () => string } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger(level, sink), text: () => lines.join('') };
}

/** Short supervision timings so failures are noticed within a test's time. */
export const FAST: Partial<PoolTuning> = {
  healthIntervalMs: 250,
  healthTimeoutMs: 1_000,
  healthFailures: 2,
  backoffBaseMs: 100,
  backoffMaxMs: 1_000,
  stopGraceMs: 2_000,
};

/** A source secret no one else uses, so finding it anywhere is a leak. */
export const sourceSecret = (): string => `src-secret-${randomBytes(8).toString('hex')}`;

export function poolOptions(stack: LocalStack, log: Logger, overrides: Partial<PoolOptions> = {}): PoolOptions {
  return {
    binary: 'rclone',
    children: 2,
    transfersPerChild: 2,
    flags: [],
    startTimeoutMs: 20_000,
    // moto does not check signatures unless asked to (see auth.test.ts): any secret works
    source: {
      endpoint: stack.endpoint,
      accessKeyId: LOCAL_CREDENTIALS.accessKeyId,
      secretAccessKey: sourceSecret(),
      region: LOCAL_REGION,
      provider: 'Other',
      forcePathStyle: true,
      options: {},
    },
    dest: { endpoint: stack.endpoint, region: LOCAL_REGION, options: {} },
    baseEnv: { ...process.env, ...stack.env },
    log,
    tuning: FAST,
    ...overrides,
  };
}

export async function put(s3: S3Client, bucket: string, key: string, body: Buffer): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

export async function get(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const res = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from((await res.Body?.transformToByteArray()) ?? []);
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Deterministic bytes that differ per label. */
export function content(size: number, label: string): Buffer {
  const out = Buffer.alloc(size);
  let seed = createHash('sha256').update(label).digest();
  for (let off = 0; off < size; off += seed.length) {
    seed.copy(out, off);
    seed = createHash('sha256').update(seed).digest();
  }
  return out;
}

/** Polls until `check` holds, failing after the deadline with what was awaited. */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function cmdline(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
}

export function environ(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
}

/** Bytes the process has read (sockets included): grows while a copy moves data. */
export function bytesRead(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return Number(/^rchar: (\d+)$/m.exec(io)?.[1] ?? 0);
}

export function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
