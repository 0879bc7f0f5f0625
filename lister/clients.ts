// The clients and settings the lister and the operator commands (ops/) share, built from the configuration.
import type { S3Client } from '@aws-sdk/client-s3';
import { destS3Client, sourceS3Client } from '../shared/aws.ts';
import type { Config } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { bucketNameProblem } from '../shared/s3-names.ts';
import { resolveSourceCredentials } from '../shared/source-credentials.ts';
import { DEFAULT_MESSAGE_LIMIT } from './batcher.ts';
import { openManifestStore, type ManifestStore } from './manifest.ts';
import type { ListJobSettings } from './run.ts';

type Required = 'source.bucket' | 'dest.bucket' | 'queue.url';

const ENV: Record<Required, string> = {
  'source.bucket': 'SOURCE_BUCKET',
  'dest.bucket': 'DEST_BUCKET',
  'queue.url': 'QUEUE_URL',
};

/** The settings a command cannot run without, checked before any request. */
export function requireSettings(config: Config, needed: readonly Required[]): void {
  const value = (path: Required): string =>
    path === 'source.bucket' ? config.source.bucket : path === 'dest.bucket' ? config.dest.bucket : config.queue.url;
  const missing = needed.filter((path) => !value(path));
  if (missing.length > 0) {
    throw new ConfigError(`required setting(s) not set: ${missing.map((p) => `${p} (env ${ENV[p]})`).join(', ')}`);
  }
  for (const path of needed.filter((p) => p !== 'queue.url')) {
    const problem = bucketNameProblem(value(path));
    if (problem) throw new ConfigError(`${path}: ${problem}`);
  }
  if (config.lister.batchSize > 1000) {
    throw new ConfigError(`lister.batchSize: value ${config.lister.batchSize} is not allowed: at most 1000`);
  }
  if (config.lister.pageSize > 1000) {
    throw new ConfigError(`lister.pageSize: value ${config.lister.pageSize} is not allowed: at most 1000`);
  }
}

/**
 * A job id when none is configured: the buckets, the prefix (shortened) and the start time, readable
 * and unique enough, and well within the message's 256 characters.
 */
export function defaultJobId(config: Config, now = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const prefix = config.source.prefix ? `/${Array.from(config.source.prefix).slice(0, 64).join('')}` : '';
  return `${config.source.bucket}${prefix}-to-${config.dest.bucket}-${stamp}`;
}

export function jobSettings(config: Config, job: string): ListJobSettings {
  return {
    job,
    sourceBucket: config.source.bucket,
    prefix: config.source.prefix,
    destBucket: config.dest.bucket,
    destPrefix: config.dest.prefix,
    queueUrl: config.queue.url,
    limits: { count: config.lister.batchSize, bytes: config.lister.batchBytes, messageBytes: DEFAULT_MESSAGE_LIMIT },
    concurrency: config.lister.concurrency,
    pageSize: config.lister.pageSize,
    incremental: config.lister.incremental,
  };
}

export async function sourceClient(config: Config): Promise<S3Client> {
  const creds = await resolveSourceCredentials(config);
  return sourceS3Client(creds, {
    region: config.source.region,
    forcePathStyle: config.source.forcePathStyle,
    maxSockets: config.lister.concurrency * 3,
  });
}

export function destClient(config: Config): S3Client {
  const options: { region?: string; endpoint?: string; maxSockets: number } = {
    maxSockets: config.lister.concurrency * 2,
  };
  if (config.dest.region) options.region = config.dest.region;
  if (config.dest.endpoint) options.endpoint = config.dest.endpoint;
  return destS3Client(options);
}

/** Where manifests live; an s3:// location is reached with the destination (AWS) credentials. */
export function manifestStore(config: Config, dest: () => S3Client): ManifestStore {
  return openManifestStore(config.lister.state, dest);
}
