// The job manifest: the job's identity, each range's bounds, position and totals, start and end.
// It is the lister's checkpoint (a restarted lister resumes from it) and what `status` reads.
import { mkdir, open, readdir, readFile, rename } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { RangeRecord } from './ranges.ts';

export const MANIFEST_FORMAT = 1;

export type Totals = { keys: number; bytes: number; messages: number; skipped: number };

export type JobManifest = {
  format: typeof MANIFEST_FORMAT;
  job: string;
  source: { bucket: string; prefix: string };
  dest: { bucket: string; prefix: string };
  queueUrl: string;
  incremental: boolean;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  totals: Totals;
  ranges: RangeRecord[];
};

export function sumTotals(ranges: readonly RangeRecord[]): Totals {
  const totals: Totals = { keys: 0, bytes: 0, messages: 0, skipped: 0 };
  for (const r of ranges) {
    totals.keys += r.keys;
    totals.bytes += r.bytes;
    totals.messages += r.messages;
    totals.skipped += r.skipped;
  }
  return totals;
}

export interface ManifestStore {
  /** Where manifests are kept, for messages. */
  readonly location: string;
  read(job: string): Promise<JobManifest | undefined>;
  write(manifest: JobManifest): Promise<void>;
  /** Job ids with a manifest, most recently updated first. */
  jobs(): Promise<string[]>;
}

/** The default place for manifests: $XDG_STATE_HOME (or ~/.local/state)/rclone-migrate/jobs. */
export function defaultStateLocation(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'rclone-migrate', 'jobs');
}

const fileName = (job: string): string => `${encodeURIComponent(job)}.json`;

function parseManifest(text: string, where: string): JobManifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`job manifest ${where} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const m = value as Partial<JobManifest>;
  if (m.format !== MANIFEST_FORMAT || typeof m.job !== 'string' || !Array.isArray(m.ranges)) {
    throw new Error(`job manifest ${where} is not a format-${MANIFEST_FORMAT} rclone-migrate manifest`);
  }
  return value as JobManifest;
}

/** Manifests as files in a directory, replaced atomically (write, fsync, rename). */
export class FileManifestStore implements ManifestStore {
  readonly location: string;
  constructor(dir: string) {
    this.location = dir;
  }

  async read(job: string): Promise<JobManifest | undefined> {
    const path = join(this.location, fileName(job));
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return parseManifest(text, path);
  }

  async write(manifest: JobManifest): Promise<void> {
    await mkdir(this.location, { recursive: true });
    const path = join(this.location, fileName(manifest.job));
    const temp = `${path}.${process.pid}.tmp`;
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(JSON.stringify(manifest));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  }

  async jobs(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.location);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const found: Array<{ job: string; updatedAt: string }> = [];
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const job = decodeURIComponent(name.slice(0, -'.json'.length));
      try {
        const m = await this.read(job);
        if (m) found.push({ job, updatedAt: m.updatedAt });
      } catch {
        // not a manifest of ours
      }
    }
    return found.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt)).map((f) => f.job);
  }
}

/** Manifests as objects under an S3 prefix (s3://bucket/prefix/), for a lister without a lasting disk. */
export class S3ManifestStore implements ManifestStore {
  readonly location: string;
  readonly #s3: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(s3: S3Client, url: string) {
    const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
    if (!match) throw new Error(`not an s3:// location: ${url}`);
    this.#s3 = s3;
    this.#bucket = match[1] as string;
    const prefix = match[2] ?? '';
    this.#prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.location = `s3://${this.#bucket}/${this.#prefix}`;
  }

  async read(job: string): Promise<JobManifest | undefined> {
    const key = this.#prefix + fileName(job);
    try {
      const out = await this.#s3.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key }));
      return parseManifest((await out.Body?.transformToString('utf8')) ?? '', `s3://${this.#bucket}/${key}`);
    } catch (err) {
      const name = (err as Error).name;
      if (name === 'NoSuchKey' || name === 'NotFound') return undefined;
      throw err;
    }
  }

  async write(manifest: JobManifest): Promise<void> {
    await this.#s3.send(
      new PutObjectCommand({
        Bucket: this.#bucket,
        Key: this.#prefix + fileName(manifest.job),
        Body: JSON.stringify(manifest),
        ContentType: 'application/json',
      }),
    );
  }

  async jobs(): Promise<string[]> {
    const found: Array<{ job: string; modified: number }> = [];
    let token: string | undefined;
    do {
      const out = await this.#s3.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix, ContinuationToken: token }),
      );
      for (const item of out.Contents ?? []) {
        const name = (item.Key ?? '').slice(this.#prefix.length);
        if (!name.endsWith('.json') || name.includes('/')) continue;
        found.push({
          job: decodeURIComponent(name.slice(0, -'.json'.length)),
          modified: item.LastModified?.getTime() ?? 0,
        });
      }
      token = out.NextContinuationToken;
    } while (token);
    return found.sort((a, b) => b.modified - a.modified).map((f) => f.job);
  }
}

/** Manifests kept in memory only (verify runs without a checkpoint). */
export class MemoryManifestStore implements ManifestStore {
  readonly location = 'memory';
  readonly #manifests = new Map<string, string>();
  async read(job: string): Promise<JobManifest | undefined> {
    const text = this.#manifests.get(job);
    return text === undefined ? undefined : parseManifest(text, 'memory');
  }
  async write(manifest: JobManifest): Promise<void> {
    this.#manifests.set(manifest.job, JSON.stringify(manifest));
  }
  async jobs(): Promise<string[]> {
    return [...this.#manifests.keys()];
  }
}

/** The store for a `lister.state` setting: a directory, or s3://bucket/prefix. */
export function openManifestStore(location: string, s3: () => S3Client): ManifestStore {
  if (location.startsWith('s3://')) return new S3ManifestStore(s3(), location);
  return new FileManifestStore(location || defaultStateLocation());
}
