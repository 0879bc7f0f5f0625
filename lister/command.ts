// `rclone-migrate list`: enumerate the source in parallel key ranges and send its keys to the queue
// in batches, checkpointing into the job manifest so that a restarted job resumes.
import type { S3Client } from '@aws-sdk/client-s3';
import { sqsClient } from '../shared/aws.ts';
import type { Command } from '../shared/command.ts';
import { ConfigError } from '../shared/errors.ts';
import { defaultJobId, destClient, jobSettings, manifestStore, requireSettings, sourceClient } from './clients.ts';
import { resumeProblem, runListing } from './run.ts';
import { QueueSender } from './sqs-send.ts';

export const listCommand: Command = {
  name: 'list',
  summary: 'List a source bucket and send its keys to the queue in batches',
  sections: ['log', 'queue', 'source', 'dest', 'lister'],
  usage: [
    'Lists in parallel key ranges and checkpoints into the job manifest (lister.state); run it again',
    'with the same --job-id to resume. --incremental sends only keys missing or different at the',
    'destination. Prints one JSON summary line on stdout.',
  ].join('\n'),
  async run({ config, log }) {
    requireSettings(config, ['source.bucket', 'dest.bucket', 'queue.url']);
    const job = config.lister.jobId || defaultJobId(config);
    const source = await sourceClient(config);
    let dest: S3Client | undefined;
    const getDest = (): S3Client => (dest ??= destClient(config));
    const sqs = sqsClient();
    const sender = new QueueSender(sqs, config.queue.url, { concurrency: config.lister.sendConcurrency });
    const store = manifestStore(config, getDest);
    const settings = jobSettings(config, job);
    log.info(
      {
        job,
        source: config.source.bucket,
        prefix: config.source.prefix,
        dest: config.dest.bucket,
        incremental: settings.incremental,
        manifest: store.location,
      },
      'listing started',
    );
    try {
      const existing = await store.read(job);
      const problem = existing && resumeProblem(existing, settings);
      if (problem) throw new ConfigError(problem);
      const summary = await runListing(
        { source, sender, store, log, ...(settings.incremental ? { dest: getDest() } : {}) },
        settings,
      );
      if (summary.alreadyFinished) log.warn({ job }, 'job already finished: nothing listed (use a new --job-id)');
      log.info(summary, 'listing finished');
      console.log(JSON.stringify(summary));
      return 0;
    } finally {
      source.destroy();
      sqs.destroy();
      dest?.destroy();
    }
  },
};
