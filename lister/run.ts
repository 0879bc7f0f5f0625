// The listing job. Key ranges are listed page by page by a bounded pool of workers; a worker with
// nothing to list splits the broadest range still being listed (see peel.ts), so the work spreads
// over the pool whatever the shape of the bucket. Each page is batched into messages and sent; a
// range's next page is sent only once the manifest holding its previous page is durable, so a
// restarted job re-lists at most one page per range and re-sends nothing beyond it.
import { ListObjectsV2Command, type ListObjectsV2CommandOutput, type S3Client } from '@aws-sdk/client-s3';
import type { Logger } from '../shared/logger.ts';
import { encodeMessage, MESSAGE_VERSION, type BatchObject } from '../shared/message.ts';
import { errorMessage } from '../shared/errors.ts';
import { headerBytes, makeMessage, planBatches, type BatchLimits, type MessageTemplate } from './batcher.ts';
import { Checkpointer } from './checkpointer.ts';
import { DestCursor } from './dest-cursor.ts';
import { compareSorted, type Alike, type Difference } from './diff.ts';
import { bareEtag, compareKeys } from '../shared/key-order.ts';
import { backoffMs, sleep } from './limiter.ts';
import { MANIFEST_FORMAT, sumTotals, type JobManifest, type ManifestStore, type Totals } from './manifest.ts';
import { proposePeel, s3Probes, type DirectoryProbe, type Probe } from './peel.ts';
import { clip, listPrefix, listStart, newRange, type RangeRecord } from './ranges.ts';
import type { QueueSender } from './sqs-send.ts';

export type ListJobSettings = {
  job: string;
  sourceBucket: string;
  prefix: string;
  destBucket: string;
  destPrefix: string;
  queueUrl: string;
  limits: BatchLimits;
  /** Ranges listed at once. */
  concurrency: number;
  /** Keys per ListObjectsV2 page. */
  pageSize: number;
  /** Send only keys missing or different at the destination. */
  incremental: boolean;
};

export type ListDeps = {
  source: S3Client;
  /** Absent: nothing is sent (verify without --enqueue). */
  sender?: QueueSender;
  /** The destination, for incremental mode and verify. */
  dest?: S3Client;
  store: ManifestStore;
  log: Logger;
  /** Incremental mode and verify: each key found missing or different. */
  onDifference?: (difference: Difference) => void;
  /**
   * verify --deep: looks further at the keys of a page the listings found alike; returns those that
   * differ after all, which are then sent like the other differences.
   */
  compareAlike?: (alike: readonly Alike[]) => Promise<BatchObject[]>;
  /** Splitting samplers; default to ListObjectsV2 on the source. */
  samplers?: { probe: Probe; directories?: DirectoryProbe };
};

export type ListSummary = Totals & {
  job: string;
  /** Seconds this run took. */
  seconds: number;
  ranges: number;
  resumed: boolean;
  /** Keys listed by this run (a resumed run re-lists at most one page per unfinished range). */
  listedThisRun: number;
  requests: { list: number; probe: number; dest: number; sendBatch: number; checkpoint: number };
  /** Already finished before this run: nothing was listed. */
  alreadyFinished?: boolean;
};

export function messageTemplate(settings: ListJobSettings): MessageTemplate {
  return {
    v: MESSAGE_VERSION,
    job: settings.job,
    source: { bucket: settings.sourceBucket },
    dest: settings.destPrefix
      ? { bucket: settings.destBucket, prefix: settings.destPrefix }
      : { bucket: settings.destBucket },
  };
}

export function newManifest(settings: ListJobSettings, now = new Date()): JobManifest {
  const at = now.toISOString();
  return {
    format: MANIFEST_FORMAT,
    job: settings.job,
    source: { bucket: settings.sourceBucket, prefix: settings.prefix },
    dest: { bucket: settings.destBucket, prefix: settings.destPrefix },
    queueUrl: settings.queueUrl,
    incremental: settings.incremental,
    startedAt: at,
    updatedAt: at,
    totals: { keys: 0, bytes: 0, messages: 0, skipped: 0 },
    ranges: [newRange(0, { prefix: settings.prefix })],
  };
}

/** Why a manifest found under the job id cannot be resumed with these settings, or undefined. */
export function resumeProblem(manifest: JobManifest, settings: ListJobSettings): string | undefined {
  const want = newManifest(settings);
  const fields: Array<[string, unknown, unknown]> = [
    ['source bucket', manifest.source.bucket, want.source.bucket],
    ['source prefix', manifest.source.prefix, want.source.prefix],
    ['destination bucket', manifest.dest.bucket, want.dest.bucket],
    ['destination prefix', manifest.dest.prefix, want.dest.prefix],
  ];
  for (const [what, had, has] of fields) {
    if (had !== has) {
      return `job "${manifest.job}" was started with ${what} ${JSON.stringify(had)}, not ${JSON.stringify(has)}; use another job id`;
    }
  }
  return undefined;
}

/** Errors that retrying a listing cannot cure. */
const FATAL = new Set(['NoSuchBucket', 'AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AbortError']);
const LIST_ATTEMPTS = 6;
/** Recent pages this many times slower than the fastest mean the source is saturated. */
const SATURATION_FACTOR = 3;
/** Pages a range (other than the first) lists before it may be split. */
const MIN_PAGES_TO_SPLIT = 4;
/** Most pieces one split makes (the idle workers decide, up to this). */
const MAX_PARTS = 32;

class RangeRun {
  readonly rec: RangeRecord;
  /** The last key handed to batching (ahead of rec.position, which SQS has accepted). */
  cursor: string | undefined;
  /** A prefix the probes saw every remaining key under (a hint for splitting, never a bound). */
  hint: string | undefined;
  boundsVersion = 0;
  /** The manifest version that must be durable before this range sends its next page. */
  readyVersion = 0;
  active = false;
  peeling = false;
  exhausted = false;
  /** The last page said more keys follow within the range. */
  more = false;
  peelAfterPages = 0;

  constructor(rec: RangeRecord) {
    this.rec = rec;
    this.cursor = rec.position;
  }
}

export class ListJob {
  readonly #deps: ListDeps;
  readonly #settings: ListJobSettings;
  readonly #manifest: JobManifest;
  readonly #checkpoint: Checkpointer;
  readonly #template: MessageTemplate;
  readonly #header: number;
  readonly #samplers: { probe: Probe; directories?: DirectoryProbe };
  readonly #ranges: RangeRun[];
  readonly #pending: RangeRun[];
  #nextId: number;
  #failure: Error | undefined;
  #wake: Array<() => void> = [];
  readonly #counts = { list: 0, dest: 0, listed: 0 };
  readonly #probeCounter = { probes: 0 };
  /** ListObjectsV2 page times: the fastest seen and a moving average of recent ones. */
  readonly #pageMs = { fastest: Infinity, recent: 0 };

  constructor(deps: ListDeps, settings: ListJobSettings, manifest: JobManifest) {
    this.#deps = deps;
    this.#settings = settings;
    this.#manifest = manifest;
    this.#template = messageTemplate(settings);
    this.#header = headerBytes(this.#template);
    this.#samplers = deps.samplers ?? s3Probes(deps.source, settings.sourceBucket, this.#probeCounter);
    this.#ranges = manifest.ranges.map((r) => new RangeRun(r));
    this.#pending = this.#ranges.filter((r) => !r.rec.done);
    this.#nextId = Math.max(-1, ...manifest.ranges.map((r) => r.id)) + 1;
    this.#checkpoint = new Checkpointer(deps.store, () => this.snapshot());
  }

  /** A copy of the manifest as it stands now (the store may write it after later changes). */
  snapshot(): JobManifest {
    const m = this.#manifest;
    m.ranges = this.#ranges.map((r) => r.rec);
    m.totals = sumTotals(m.ranges);
    m.updatedAt = new Date().toISOString();
    return structuredClone(m);
  }

  async run(): Promise<ListSummary> {
    const started = performance.now();
    const resumed = this.#manifest.ranges.some((r) => r.pages > 0 || r.done);
    await this.#checkpoint.durable(this.#checkpoint.bump());
    const workers = Array.from({ length: this.#settings.concurrency }, () => this.#worker());
    await Promise.all(workers);
    if (this.#failure) {
      // Whatever is durable stays: the next run resumes from it.
      await this.#checkpoint.flush().catch(() => undefined);
      throw this.#failure;
    }
    this.#manifest.finishedAt = new Date().toISOString();
    await this.#checkpoint.durable(this.#checkpoint.bump());
    const totals = sumTotals(this.#manifest.ranges);
    return {
      job: this.#settings.job,
      ...totals,
      seconds: Math.round((performance.now() - started) / 10) / 100,
      ranges: this.#ranges.length,
      resumed,
      listedThisRun: this.#counts.listed,
      requests: {
        list: this.#counts.list,
        probe: this.#probeCounter.probes,
        dest: this.#counts.dest,
        sendBatch: this.#deps.sender?.calls ?? 0,
        checkpoint: this.#checkpoint.writes,
      },
    };
  }

  #changed(): void {
    for (const wake of this.#wake.splice(0)) wake();
  }

  #fail(err: unknown): void {
    this.#failure ??= err instanceof Error ? err : new Error(String(err));
    this.#changed();
  }

  async #worker(): Promise<void> {
    while (!this.#failure) {
      const next = this.#pending.shift();
      if (next) {
        try {
          await this.#listRange(next);
        } catch (err) {
          this.#fail(err);
        }
        this.#changed();
        continue;
      }
      if (!this.#ranges.some((r) => r.active || r.peeling)) return;
      // Splitting costs requests; a few workers at a time do it, and none while the source is
      // saturated (more ranges in parallel would only queue behind each other there).
      const splitting = this.#ranges.filter((r) => r.peeling).length;
      const candidate =
        splitting < Math.max(1, this.#settings.concurrency >> 2) && !this.#saturated() ? this.#pickPeel() : undefined;
      if (candidate) {
        await this.#peel(candidate);
        this.#changed();
        continue;
      }
      await new Promise<void>((resolve) => this.#wake.push(resolve));
    }
  }

  /**
   * The source looks saturated when pages take much longer than the fastest page seen: requests in
   * parallel then wait for each other instead of overlapping. The first split is always made.
   */
  #saturated(): boolean {
    if (this.#ranges.length === 1 || this.#pageMs.fastest === Infinity) return false;
    return this.#pageMs.recent > SATURATION_FACTOR * this.#pageMs.fastest;
  }

  /** The range most worth splitting: the broadest (shortest node), then the one listed longest. */
  #pickPeel(): RangeRun | undefined {
    let best: RangeRun | undefined;
    let bestBreadth = Infinity;
    for (const r of this.#ranges) {
      if (!r.active || r.peeling || r.exhausted || !r.more || r.rec.done) continue;
      // A range shows it is worth splitting by the pages it has needed so far: a split costs a few
      // requests and adds a partial page to each piece, which pays off only for ranges that go on.
      // The first range of a job is split after its first page: there is nothing else to do yet.
      if (r.rec.pages < Math.max(this.#ranges.length === 1 ? 1 : MIN_PAGES_TO_SPLIT, r.peelAfterPages)) continue;
      const breadth = (r.hint ?? listPrefix(r.rec, r.cursor)).length;
      if (breadth < bestBreadth || (breadth === bestBreadth && best !== undefined && r.rec.pages > best.rec.pages)) {
        best = r;
        bestBreadth = breadth;
      }
    }
    return best;
  }

  async #peel(range: RangeRun): Promise<void> {
    range.peeling = true;
    const bounds = range.boundsVersion;
    try {
      // As many pieces as there are workers with nothing to list (this one included), plus this range.
      const busy = this.#ranges.filter((r) => r.active).length + this.#ranges.filter((r) => r.peeling).length - 1;
      const parts = Math.min(MAX_PARTS, Math.max(2, this.#settings.concurrency - busy + 1));
      const proposal = await proposePeel(range.rec, () => range.cursor, range.hint, this.#samplers, parts, range.more);
      if (proposal.kind === 'exhausted') {
        this.#deps.log.debug({ range: range.rec.id }, 'range not worth splitting');
        range.exhausted = true;
        return;
      }
      if (range.rec.done || range.boundsVersion !== bounds) return;
      // Cuts the range has listed past meanwhile are dropped; the rest apply in one synchronous step
      // with this check, so no page can slip in between.
      const cuts = proposal.cuts.filter((c) => range.cursor === undefined || compareKeys(range.cursor, c.at) < 0);
      const first = cuts[0];
      if (first === undefined) {
        this.#deps.log.debug(
          { range: range.rec.id, cursor: range.cursor, cuts: proposal.cuts.map((c) => c.at) },
          'range listed past the split points',
        );
        range.peelAfterPages = range.rec.pages + 2;
        return;
      }
      const upTo = range.rec.upTo;
      range.rec.upTo = first.at;
      range.boundsVersion++;
      if (cuts.length === proposal.cuts.length && proposal.hint !== undefined) range.hint = proposal.hint;
      const created: number[] = [];
      cuts.forEach((cut, i) => {
        const end = cuts[i + 1]?.at ?? upTo;
        const piece = new RangeRun(
          newRange(this.#nextId++, {
            prefix: range.rec.prefix,
            after: cut.at,
            ...(end !== undefined ? { upTo: end } : {}),
          }),
        );
        if (cut.hint !== undefined) piece.hint = cut.hint;
        this.#ranges.push(piece);
        this.#pending.push(piece);
        created.push(piece.rec.id);
      });
      // The new ranges send nothing until the manifest that holds them (and the shrunk bound) is durable.
      const version = this.#checkpoint.bump();
      for (const r of this.#ranges.slice(-created.length)) r.readyVersion = version;
      this.#deps.log.debug({ range: range.rec.id, cuts: cuts.length, created }, 'range split');
    } catch (err) {
      this.#deps.log.debug({ range: range.rec.id, err: errorMessage(err) }, 'range split probe failed');
      range.peelAfterPages = range.rec.pages + 2;
    } finally {
      range.peeling = false;
    }
  }

  async #listPage(prefix: string, from: { token?: string; startAfter?: string }): Promise<ListObjectsV2CommandOutput> {
    for (let attempt = 1; ; attempt++) {
      try {
        this.#counts.list++;
        const started = performance.now();
        const out = await this.#deps.source.send(
          new ListObjectsV2Command({
            Bucket: this.#settings.sourceBucket,
            Prefix: prefix || undefined,
            MaxKeys: this.#settings.pageSize,
            ...(from.token
              ? { ContinuationToken: from.token }
              : from.startAfter !== undefined
                ? { StartAfter: from.startAfter }
                : {}),
          }),
        );
        // Only fuller pages are compared: a short page answers faster whatever the load.
        if ((out.KeyCount ?? 0) * 2 >= this.#settings.pageSize) {
          const ms = performance.now() - started;
          this.#pageMs.fastest = Math.min(this.#pageMs.fastest, ms);
          this.#pageMs.recent = this.#pageMs.recent === 0 ? ms : 0.7 * this.#pageMs.recent + 0.3 * ms;
        }
        return out;
      } catch (err) {
        if (FATAL.has((err as Error).name) || attempt >= LIST_ATTEMPTS) {
          throw new Error(
            `listing s3://${this.#settings.sourceBucket}/${prefix} failed (attempt ${attempt}): ${errorMessage(err)}`,
            { cause: err },
          );
        }
        await sleep(backoffMs(attempt, 200, 10_000));
      }
    }
  }

  async #listRange(range: RangeRun): Promise<void> {
    const rec = range.rec;
    range.active = true;
    range.more = true;
    rec.startedAt ??= new Date().toISOString();
    const dest =
      this.#settings.incremental && this.#deps.dest
        ? new DestCursor(this.#deps.dest, {
            bucket: this.#settings.destBucket,
            destPrefix: this.#settings.destPrefix,
            prefix: rec.prefix,
            startAfter: listStart(rec, range.cursor),
            pageSize: this.#settings.pageSize,
          })
        : undefined;
    try {
      let bounds = range.boundsVersion;
      let prefix = listPrefix(rec, range.cursor);
      let fetching: Promise<ListObjectsV2CommandOutput> | undefined = this.#listPage(prefix, {
        startAfter: listStart(rec, range.cursor),
      });
      while (fetching && !this.#failure) {
        const out = await fetching;
        fetching = undefined;
        const listed: BatchObject[] = [];
        for (const item of out.Contents ?? []) {
          if (item.Key === undefined) continue;
          const object: BatchObject = { key: item.Key, size: item.Size ?? 0 };
          const etag = bareEtag(item.ETag);
          if (etag) object.etag = etag;
          listed.push(object);
        }
        // Clip and advance the cursor synchronously with reading the current bounds (see #peel).
        const { kept, ended } = clip(rec, range.cursor, listed);
        const last = kept.at(-1);
        if (last) range.cursor = last.key;
        const more = !ended && out.IsTruncated === true && out.NextContinuationToken !== undefined;
        range.more = more;
        if (more) {
          // Prefetch the next page while this one is sent. When the range's keys are known to share
          // a longer prefix (after a split, or once the cursor is inside the subtree the upper
          // bound ends), the listing restarts under it just after the last key this page returned:
          // stores that filter by prefix before seeking answer that for less.
          const narrower = listPrefix(rec, range.cursor);
          if (range.boundsVersion === bounds && narrower === prefix) {
            fetching = this.#listPage(prefix, { token: out.NextContinuationToken });
          } else {
            bounds = range.boundsVersion;
            prefix = narrower;
            fetching = this.#listPage(prefix, { startAfter: listed.at(-1)?.key ?? listStart(rec, range.cursor) });
          }
          // Keep a failed prefetch from being reported as unhandled before it is awaited.
          fetching.catch(() => undefined);
        }
        await this.#sendPage(range, kept, dest);
      }
      if (this.#failure) return;
      rec.done = true;
      rec.finishedAt = new Date().toISOString();
      this.#checkpoint.bump();
    } finally {
      range.active = false;
    }
  }

  async #sendPage(range: RangeRun, kept: BatchObject[], dest: DestCursor | undefined): Promise<void> {
    const rec = range.rec;
    const last = kept.at(-1);
    this.#counts.listed += kept.length;
    let toSend = kept;
    if (dest && last) {
      const before = dest.requests;
      const { differences, alike } = compareSorted(kept, await dest.through(last.key));
      this.#counts.dest += dest.requests - before;
      for (const d of differences) this.#deps.onDifference?.(d);
      toSend = differences.map((d) => d.source);
      if (this.#deps.compareAlike && alike.length > 0) {
        const further = await this.#deps.compareAlike(alike);
        if (further.length > 0) toSend = [...toSend, ...further].sort((a, b) => compareKeys(a.key, b.key));
      }
    }
    const batches = planBatches(toSend, this.#settings.limits, this.#header);
    const bodies = batches.map((objects) => encodeMessage(makeMessage(this.#template, objects)));
    // Send only once the previous page's position is durable: at most this page is ever sent twice.
    await this.#checkpoint.durable(range.readyVersion);
    if (this.#deps.sender && bodies.length > 0) await this.#deps.sender.send(bodies);
    if (last) rec.position = last.key;
    rec.pages++;
    rec.keys += toSend.length;
    rec.skipped += kept.length - toSend.length;
    for (const o of toSend) rec.bytes += o.size ?? 0;
    rec.messages += this.#deps.sender ? bodies.length : 0;
    range.readyVersion = this.#checkpoint.bump();
    // Idle workers look for a range to split after every page.
    this.#changed();
  }
}

/** Runs a job from scratch or from its manifest. */
export async function runListing(deps: ListDeps, settings: ListJobSettings): Promise<ListSummary> {
  const existing = await deps.store.read(settings.job);
  if (existing) {
    const problem = resumeProblem(existing, settings);
    if (problem) throw new Error(problem);
    if (existing.finishedAt) {
      return {
        job: settings.job,
        ...sumTotals(existing.ranges),
        seconds: 0,
        ranges: existing.ranges.length,
        resumed: true,
        listedThisRun: 0,
        requests: { list: 0, probe: 0, dest: 0, sendBatch: 0, checkpoint: 0 },
        alreadyFinished: true,
      };
    }
    deps.log.info(
      { job: settings.job, ranges: existing.ranges.length, keys: sumTotals(existing.ranges).keys },
      'resuming job from its manifest',
    );
  }
  const job = new ListJob(deps, settings, existing ?? newManifest(settings));
  return job.run();
}
