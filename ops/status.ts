// `rclone-migrate status`: a job's listed totals from its manifest, the queues' counts, and from them
// what is done, the rate and the time left. Messages carry ~20 keys each, so what is done is
// estimated from the messages no longer on either queue, at the job's average keys and bytes per
// message. A progress bar on a terminal, JSON with --json; --watch N refreshes until done.
import type { SQSClient } from '@aws-sdk/client-sqs';
import { sqsClient } from '../shared/aws.ts';
import type { Command } from '../shared/command.ts';
import type { Config } from '../shared/config.ts';
import { ConfigError } from '../shared/errors.ts';
import { resolveDeadLetterUrl } from '../shared/dead-letter-url.ts';
import { destClient, manifestStore } from '../lister/clients.ts';
import type { JobManifest, ManifestStore } from '../lister/manifest.ts';
import { queueCounts, type QueueCounts } from '../shared/queue-counts.ts';
import { sleep } from '../lister/limiter.ts';

export type StatusReport = {
  job: string;
  listing: {
    state: 'listing' | 'finished';
    startedAt: string;
    finishedAt?: string;
    ranges: number;
    rangesDone: number;
    keys: number;
    bytes: number;
    messages: number;
    skipped: number;
  };
  queue: QueueCounts;
  deadLetter: QueueCounts;
  /** Estimates: messages neither waiting, in flight nor dead-lettered are done. */
  done: { messages: number; keys: number; bytes: number; fraction: number };
  rate: { keysPerSecond: number; bytesPerSecond: number; since: string };
  /** Seconds left for the keys listed so far at the current rate; null before any progress. */
  etaSeconds: number | null;
};

/** A sample of what was done at a time, for rates between two refreshes. */
export type Sample = { at: number; keys: number; bytes: number };

export function buildStatus(
  manifest: JobManifest,
  queue: QueueCounts,
  deadLetter: QueueCounts,
  now: number,
  previous?: Sample,
): StatusReport {
  const t = manifest.totals;
  const outstanding = queue.visible + queue.inFlight + queue.delayed + deadLetter.visible + deadLetter.inFlight;
  const doneMessages = Math.max(0, Math.min(t.messages, t.messages - outstanding));
  const perMessage = (total: number): number => (t.messages > 0 ? total / t.messages : 0);
  const done = {
    messages: doneMessages,
    keys: Math.round(doneMessages * perMessage(t.keys)),
    bytes: Math.round(doneMessages * perMessage(t.bytes)),
    fraction: t.messages > 0 ? doneMessages / t.messages : manifest.finishedAt ? 1 : 0,
  };
  const since = previous ?? { at: Date.parse(manifest.startedAt), keys: 0, bytes: 0 };
  const seconds = Math.max(0.001, (now - since.at) / 1000);
  const rate = {
    keysPerSecond: Math.max(0, (done.keys - since.keys) / seconds),
    bytesPerSecond: Math.max(0, (done.bytes - since.bytes) / seconds),
    since: new Date(since.at).toISOString(),
  };
  const left = t.keys - done.keys;
  // While listing runs, the ETA covers what has been listed so far.
  const etaSeconds = left <= 0 ? 0 : rate.keysPerSecond > 0 ? Math.round(left / rate.keysPerSecond) : null;
  const listing: StatusReport['listing'] = {
    state: manifest.finishedAt ? 'finished' : 'listing',
    startedAt: manifest.startedAt,
    ranges: manifest.ranges.length,
    rangesDone: manifest.ranges.filter((r) => r.done).length,
    keys: t.keys,
    bytes: t.bytes,
    messages: t.messages,
    skipped: t.skipped,
  };
  if (manifest.finishedAt) listing.finishedAt = manifest.finishedAt;
  return { job: manifest.job, listing, queue, deadLetter, done, rate, etaSeconds };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '?';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = Math.floor(seconds % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s).padStart(2, '0')}s` : `${s}s`;
}

/** The report as text, with a progress bar `width` characters wide. */
export function renderStatus(report: StatusReport, width = 30): string {
  const filled = Math.round(report.done.fraction * width);
  const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
  const l = report.listing;
  const n = (x: number): string => x.toLocaleString('en-US');
  return [
    `job ${report.job}  (listing ${l.state}, ${l.rangesDone}/${l.ranges} ranges)`,
    `${bar} ${(report.done.fraction * 100).toFixed(1)}%  ≈${n(report.done.keys)}/${n(l.keys)} keys  ≈${formatBytes(report.done.bytes)}/${formatBytes(l.bytes)}`,
    `rate ${report.rate.keysPerSecond.toFixed(1)} keys/s, ${formatBytes(report.rate.bytesPerSecond)}/s  ETA ${formatDuration(report.etaSeconds)}`,
    `queue: ${n(report.queue.visible)} waiting, ${n(report.queue.inFlight)} in flight  dead-letter: ${n(report.deadLetter.visible + report.deadLetter.inFlight)}` +
      (l.skipped > 0 ? `  skipped (already at destination): ${n(l.skipped)}` : ''),
  ].join('\n');
}

/** The manifest of the configured job, else of the most recently updated one. */
export async function findManifest(store: ManifestStore, jobId: string): Promise<JobManifest | undefined> {
  if (jobId) return store.read(jobId);
  const [latest] = await store.jobs();
  return latest === undefined ? undefined : store.read(latest);
}

async function report(
  config: Config,
  store: ManifestStore,
  sqs: SQSClient,
  previous?: Sample,
): Promise<StatusReport | string> {
  const manifest = await findManifest(store, config.lister.jobId);
  if (!manifest) {
    return config.lister.jobId
      ? `no manifest of job "${config.lister.jobId}" in ${store.location}`
      : `no job manifests in ${store.location}`;
  }
  const queueUrl = config.queue.url || manifest.queueUrl;
  // A queue without a dead-letter queue has nothing dead-lettered.
  const deadLetterUrl = await resolveDeadLetterUrl(sqs, queueUrl, config.queue.deadLetterUrl).catch((err: unknown) => {
    if (err instanceof ConfigError) return undefined;
    throw err;
  });
  const [queue, deadLetter] = await Promise.all([
    queueCounts(sqs, queueUrl),
    deadLetterUrl ? queueCounts(sqs, deadLetterUrl) : { visible: 0, inFlight: 0, delayed: 0 },
  ]);
  return buildStatus(manifest, queue, deadLetter, Date.now(), previous);
}

export const statusCommand: Command = {
  name: 'status',
  summary: "Show a job's progress: listed totals, queue and dead-letter counts, done, rate and ETA",
  sections: ['log', 'queue', 'dest', 'lister'],
  usage:
    'Reads the manifest of --job-id (default: the most recent job in lister.state) and the queues.\n' +
    '--json prints JSON; --watch N refreshes every N seconds until the job is done.',
  async run({ config }) {
    let dest: ReturnType<typeof destClient> | undefined;
    const store = manifestStore(config, () => (dest ??= destClient(config)));
    const sqs = sqsClient();
    try {
      let previous: Sample | undefined;
      for (;;) {
        const result = await report(config, store, sqs, previous);
        if (typeof result === 'string') {
          console.error(`rclone-migrate status: ${result}`);
          return 1;
        }
        if (config.lister.json) console.log(JSON.stringify(result));
        else {
          const text = renderStatus(result, Math.max(10, Math.min(50, (process.stdout.columns || 80) - 50)));
          // On a terminal, redraw in place; elsewhere print one report after another.
          if (process.stdout.isTTY && previous) process.stdout.write('\x1b[4A\x1b[J');
          console.log(text);
        }
        const finished = result.listing.state === 'finished' && result.done.fraction >= 1;
        if (config.lister.watchSeconds === 0 || finished) return 0;
        previous = { at: Date.now(), keys: result.done.keys, bytes: result.done.bytes };
        await sleep(config.lister.watchSeconds * 1000);
      }
    } finally {
      sqs.destroy();
      dest?.destroy();
    }
  },
};
