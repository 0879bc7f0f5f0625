// `rclone-migrate verify`: lists source and destination side by side (the merge incremental mode
// uses) and reports the keys missing at the destination or different there; --deep also compares the
// metadata and tags of the keys whose listings agree (see deep-compare.ts); --enqueue sends them all.
import type { S3Client } from '@aws-sdk/client-s3';
import { sqsClient } from '../shared/aws.ts';
import type { Command } from '../shared/command.ts';
import { RCLONE_OWN_METADATA, type AttributeDifference } from '../shared/object-attributes.ts';
import { destClient, jobSettings, requireSettings, sourceClient } from '../lister/clients.ts';
import type { Difference } from '../lister/diff.ts';
import { MemoryManifestStore } from '../lister/manifest.ts';
import { runListing } from '../lister/run.ts';
import { QueueSender } from '../lister/sqs-send.ts';
import { DeepComparer, type AttributeFinding, type DeepFailure, type DeepRequests, type Side } from './deep-compare.ts';

/** Keys of each kind kept for the report; the counts are always complete. */
export const REPORT_KEYS = 1000;

/** One field that differs, as JSON has it: null where a side does not have the field. */
export type ReportedDifference = { field: string; source: string | null; dest: string | null };

export type VerifyReport = {
  job: string;
  /** Whether metadata and tags were compared too (--deep). */
  deep: boolean;
  checked: number;
  identical: number;
  missing: number;
  mismatched: number;
  /** --deep: keys with the same bytes whose system metadata, user metadata or tags differ. */
  attributes: number;
  /** --deep: keys that could not be compared (a HEAD or GetObjectTagging refused). */
  unreadable: number;
  enqueued: number;
  seconds: number;
  /** --deep: HEAD and GetObjectTagging requests made on each side. */
  requests?: Record<Side, DeepRequests>;
  /** Sides whose tags could not be compared (the store does not implement tagging). */
  warnings: string[];
  /** Up to REPORT_KEYS keys of each kind. */
  keys: {
    missing: string[];
    mismatched: Array<{ key: string; source: string; dest: string }>;
    attributes: Array<{ key: string; differences: ReportedDifference[] }>;
    unreadable: DeepFailure[];
  };
};

export class DifferenceCollector {
  missing = 0;
  mismatched = 0;
  attributes = 0;
  readonly unreadableKeys = new Set<string>();
  readonly keys: VerifyReport['keys'] = { missing: [], mismatched: [], attributes: [], unreadable: [] };

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

  addAttributes = (finding: AttributeFinding): void => {
    this.attributes++;
    if (this.keys.attributes.length < REPORT_KEYS) {
      this.keys.attributes.push({ key: finding.key, differences: finding.differences.map(reported) });
    }
  };

  addFailure = (failure: DeepFailure): void => {
    this.unreadableKeys.add(failure.key);
    if (this.keys.unreadable.length < REPORT_KEYS) this.keys.unreadable.push(failure);
  };
}

function reported(d: AttributeDifference): ReportedDifference {
  return { field: d.field, source: d.source ?? null, dest: d.dest ?? null };
}

const show = (value: string | null): string => (value === null ? '(absent)' : JSON.stringify(value));

/** One field that differs, in words: tags as missing, extra or changed, the rest as both sides' values. */
export function describeField(d: ReportedDifference): string {
  if (d.field.startsWith('tag:')) {
    const tag = JSON.stringify(d.field.slice(4));
    if (d.dest === null) return `tag ${tag} missing at the destination (source ${show(d.source)})`;
    if (d.source === null) return `tag ${tag} only at the destination (${show(d.dest)})`;
    return `tag ${tag} changed: source ${show(d.source)}, destination ${show(d.dest)}`;
  }
  return `${d.field}: source ${show(d.source)}, destination ${show(d.dest)}`;
}

export function renderVerify(report: VerifyReport): string {
  const deep = report.deep ? `, ${report.attributes} with other metadata or tags` : '';
  const unreadable = report.unreadable > 0 ? `, ${report.unreadable} could not be compared` : '';
  const lines = [
    `checked ${report.checked} keys: ${report.identical} identical, ${report.missing} missing, ${report.mismatched} different${deep}${unreadable}` +
      (report.enqueued > 0 ? `; ${report.enqueued} sent for copying` : ''),
  ];
  if (report.deep && report.requests) {
    const r = report.requests;
    lines.push(
      `deep comparison: ${r.source.head} HEAD and ${r.source.tagging} GetObjectTagging at the source, ` +
        `${r.destination.head} HEAD and ${r.destination.tagging} GetObjectTagging at the destination`,
    );
  }
  for (const warning of report.warnings) lines.push(`warning: ${warning}`);
  for (const key of report.keys.missing) lines.push(`missing     ${JSON.stringify(key)}`);
  for (const m of report.keys.mismatched)
    lines.push(`different   ${JSON.stringify(m.key)}  source ${m.source}, destination ${m.dest}`);
  for (const a of report.keys.attributes) {
    lines.push(`attributes  ${JSON.stringify(a.key)}`);
    for (const d of a.differences) lines.push(`              ${describeField(d)}`);
  }
  for (const u of report.keys.unreadable) lines.push(`unreadable  ${JSON.stringify(u.key)}  ${u.side}: ${u.error}`);
  const listed =
    report.keys.missing.length +
    report.keys.mismatched.length +
    report.keys.attributes.length +
    report.keys.unreadable.length;
  const unlisted = report.missing + report.mismatched + report.attributes + report.unreadable - listed;
  if (unlisted > 0) lines.push(`... and ${unlisted} more (counts above are complete)`);
  return lines.join('\n');
}

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'Compare source and destination; report missing and different keys (--enqueue sends them)',
  sections: ['log', 'queue', 'source', 'dest', 'lister'],
  usage:
    'Lists both sides in parallel key ranges and merges them (size, and ETag where comparable).\n' +
    '--deep also compares system metadata, user metadata and tags of the keys that agree (a HEAD on both\n' +
    'sides, GetObjectTagging where a side has tags) and reports each field that differs.\n' +
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
    const deep = config.lister.deep
      ? new DeepComparer({
          source: { client: source, bucket: config.source.bucket, prefix: '' },
          dest: { client: dest, bucket: config.dest.bucket, prefix: config.dest.prefix },
          concurrency: config.lister.deepConcurrency,
          log,
          onFinding: collector.addAttributes,
          onFailure: collector.addFailure,
          // an operator who let rclone write its own metadata does not want it reported
          ignoreMetadata: config.rclone.keepOwnMetadata ? RCLONE_OWN_METADATA : [],
        })
      : undefined;
    try {
      const summary = await runListing(
        {
          source,
          dest,
          store: new MemoryManifestStore(),
          log,
          onDifference: collector.add,
          ...(deep ? { compareAlike: deep.compare } : {}),
          ...(sqs
            ? { sender: new QueueSender(sqs, config.queue.url, { concurrency: config.lister.sendConcurrency }) }
            : {}),
        },
        { ...jobSettings(config, job), incremental: true },
      );
      const unreadable = collector.unreadableKeys.size;
      const report: VerifyReport = {
        job,
        deep: deep !== undefined,
        checked: summary.listedThisRun,
        identical: summary.listedThisRun - collector.missing - collector.mismatched - collector.attributes - unreadable,
        missing: collector.missing,
        mismatched: collector.mismatched,
        attributes: collector.attributes,
        unreadable,
        enqueued: sqs ? summary.keys : 0,
        seconds: summary.seconds,
        ...(deep ? { requests: deep.requests } : {}),
        warnings: [...(deep?.taggingUnsupported ?? [])].map(
          (side) => `the ${side} does not implement object tagging: tags were not compared`,
        ),
        keys: collector.keys,
      };
      log.info({ ...report, keys: undefined }, 'verify finished');
      console.log(config.lister.json ? JSON.stringify(report) : renderVerify(report));
      const differences = report.missing + report.mismatched + report.attributes;
      return unreadable === 0 && (differences === 0 || report.enqueued === differences) ? 0 : 1;
    } finally {
      source.destroy();
      dest.destroy();
      sqs?.destroy();
    }
  },
};
