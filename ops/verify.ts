// `rclone-migrate verify`: lists source and destination side by side (the merge incremental mode
// uses) and reports the keys missing at the destination or different there; --enqueue sends them.
import type { S3Client } from '@aws-sdk/client-s3';
import { sqsClient } from '../shared/aws.ts';
import type { Command } from '../shared/command.ts';
import { destClient, jobSettings, requireSettings, sourceClient } from '../lister/clients.ts';
import type { Difference } from '../lister/diff.ts';
import { MemoryManifestStore } from '../lister/manifest.ts';
import { runListing } from '../lister/run.ts';
import { QueueSender } from '../lister/sqs-send.ts';

/** Keys of each kind kept for the report; the counts are always complete. */
export const REPORT_KEYS = 1000;

export type VerifyReport = {
  job: string;
  checked: number;
  identical: number;
  missing: number;
  mismatched: number;
  enqueued: number;
  seconds: number;
  /** Up to REPORT_KEYS keys of each kind. */
  keys: { missing: string[]; mismatched: Array<{ key: string; source: string; dest: string }> };
};

export class DifferenceCollector {
  missing = 0;
  mismatched = 0;
  readonly keys: VerifyReport['keys'] = { missing: [], mismatched: [] };

  add = (d: Difference): void => {
    if (d.kind === 'missing') {
      this.missing++;
      if (this.keys.missing.length < REPORT_KEYS) this.keys.missing.push(d.key);
    } else {
      this.mismatched++;
      if (this.keys.mismatched.length < REPORT_KEYS) {
        const describe = (o: { size?: number; etag?: string } | undefined): string =>
          o ? `${o.size ?? '?'} bytes${o.etag ? `, etag ${o.etag}` : ''}` : 'absent';
        this.keys.mismatched.push({ key: d.key, source: describe(d.source), dest: describe(d.dest) });
      }
    }
  };
}

export function renderVerify(report: VerifyReport): string {
  const lines = [
    `checked ${report.checked} keys: ${report.identical} identical, ${report.missing} missing, ${report.mismatched} different` +
      (report.enqueued > 0 ? `; ${report.enqueued} sent for copying` : ''),
  ];
  for (const key of report.keys.missing) lines.push(`missing     ${JSON.stringify(key)}`);
  for (const m of report.keys.mismatched)
    lines.push(`different   ${JSON.stringify(m.key)}  source ${m.source}, destination ${m.dest}`);
  const unlisted = report.missing + report.mismatched - report.keys.missing.length - report.keys.mismatched.length;
  if (unlisted > 0) lines.push(`... and ${unlisted} more (counts above are complete)`);
  return lines.join('\n');
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'Compare source and destination; report missing and different keys (--enqueue sends them)',
  sections: ['log', 'queue', 'source', 'dest', 'lister'],
  usage:
    'Lists both sides in parallel key ranges and merges them (size, and ETag where comparable).\n' +
    'Exit code 0: no differences (or all sent with --enqueue); 1: differences found. --json for JSON.',
  async run({ config, log }) {
    requireSettings(
      config,
      config.lister.enqueue ? ['source.bucket', 'dest.bucket', 'queue.url'] : ['source.bucket', 'dest.bucket'],
    );
    const job = config.lister.jobId || `verify-${config.source.bucket}-to-${config.dest.bucket}-${Date.now()}`;
    const source = await sourceClient(config);
    const dest: S3Client = destClient(config);
    const sqs = config.lister.enqueue ? sqsClient() : undefined;
    const collector = new DifferenceCollector();
    try {
      const summary = await runListing(
        {
          source,
          dest,
          store: new MemoryManifestStore(),
          log,
          onDifference: collector.add,
          ...(sqs
            ? { sender: new QueueSender(sqs, config.queue.url, { concurrency: config.lister.sendConcurrency }) }
            : {}),
        },
        { ...jobSettings(config, job), incremental: true },
      );
      const report: VerifyReport = {
        job,
        checked: summary.listedThisRun,
        identical: summary.listedThisRun - collector.missing - collector.mismatched,
        missing: collector.missing,
        mismatched: collector.mismatched,
        enqueued: sqs ? summary.keys : 0,
        seconds: summary.seconds,
        keys: collector.keys,
      };
      log.info({ ...report, keys: undefined }, 'verify finished');
      console.log(config.lister.json ? JSON.stringify(report) : renderVerify(report));
      const differences = report.missing + report.mismatched;
      return differences === 0 || report.enqueued === differences ? 0 : 1;
    } finally {
      source.destroy();
      dest.destroy();
      sqs?.destroy();
    }
  },
};
