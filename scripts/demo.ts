#!/usr/bin/env node
// `npm run demo`: the main job end to end on a local stack. Makes sure rclone and moto are there
// (with `--source ceph`: the source is a Ceph RGW stand-in, scripts/ceph-rgw.ts, instead of moto's S3),
// starts moto on loopback with the queues, buckets and source secrets, fills the source with a
// realistic mix, runs `rclone-migrate list` and `rclone-migrate worker` as real child processes, waits
// for the queue to drain, verifies every object at the destination byte for byte, prints a summary
// with the worker's metrics and shuts everything down. Exits 1 if a single object is missing or differs.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand } from '@aws-sdk/client-secrets-manager';
import { startCephRgw } from './ceph-rgw.ts';
import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ensureCeph, ensureTools } from './ensure-tools.ts';
import { DEFAULT_PLAN, fillSource, MiB, type PlanOptions } from './fill-source.ts';
import {
  createResources,
  freePort,
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  localClients,
  startLocalStack,
  type LocalStack,
} from './local-stack.ts';
import { byLabel, histogramQuantile, scrapeMetrics, sumOf, type Sample } from './prometheus-text.ts';
import { queueDepth, total, waitForDrain } from './queue-drain.ts';
import { isOk, verifyCopy } from './verify-copy.ts';

const CLI = fileURLToPath(new URL('../bin/rclone-migrate.ts', import.meta.url));
const M = 'rclone_migrate_';

const USAGE = `Usage: npm run demo [-- options]

Runs a whole migration on a local stack (moto) and verifies it byte for byte.

Options:
  --source STORE     where the source bucket lives: moto (default) or ceph (a Ceph RGW stand-in
                     on loopback, scripts/ceph-rgw.ts; installed with apt-get where missing, as root)
  --small N          small objects (1-64 KiB) to create (default ${DEFAULT_PLAN.smallCount})
  --large N          objects over 300 MB to create (default ${DEFAULT_PLAN.largeCount})
  --large-mib N      size of each large object in MiB (default ${DEFAULT_PLAN.largeBytes / MiB})
  --children N       rclone children of the worker (default: the worker's own default)
  --deadline S       seconds the copy may take before the demo gives up (default 240)
  --help`;

// ---- output --------------------------------------------------------------------------------------

const startedAt = Date.now();
const clock = () => `${((Date.now() - startedAt) / 1000).toFixed(1).padStart(6)}s`;
const say = (line: string) => console.log(`${clock()}  ${line}`);
const detail = (line: string) => console.log(`         ${line}`);
const n = (x: number) => Math.round(x).toLocaleString('en-US');
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
const secs = (s: number) => `${s.toFixed(1)} s`;

/** Calls `fn` at most every `ms` (and always when `force`), for progress lines that do not flood. */
function throttled(ms: number): (fn: () => void, force?: boolean) => void {
  let last = 0;
  return (fn, force = false) => {
    if (force || Date.now() - last >= ms) {
      last = Date.now();
      fn();
    }
  };
}

// ---- child processes -----------------------------------------------------------------------------

type Child = { name: string; process: ChildProcess; log: string; exit: Promise<number | null> };

/** The environment of the CLI children: ours, minus anything that would point them elsewhere, plus the stack's. */
function childEnv(stack: LocalStack): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const foreign =
    /^(AWS_(ENDPOINT_URL|PROFILE|SESSION_TOKEN|CONFIG_FILE|SHARED_CREDENTIALS_FILE)|RCLONE_MIGRATE_|QUEUE_URL$|SOURCE_BUCKET$|DEST_BUCKET$|PREFIX$)/;
  for (const [k, v] of Object.entries(process.env)) if (!foreign.test(k)) env[k] = v;
  return { ...env, ...stack.env };
}

function startCli(name: string, args: string[], env: NodeJS.ProcessEnv, logDir: string): Child {
  const log = join(logDir, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exit = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(null));
  });
  return { name, process: child, log, exit };
}

const running = (c: Child) => c.process.exitCode === null && c.process.signalCode === null;

/** Sends `signal`, waits up to `graceMs`, then SIGKILL. */
async function stopChild(
  c: Child,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<{ code: number | null; forced: boolean }> {
  if (!running(c)) return { code: c.process.exitCode, forced: false };
  c.process.kill(signal);
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  const first = await Promise.race([c.exit, timer]);
  if (first !== 'timeout') return { code: first, forced: false };
  c.process.kill('SIGKILL');
  return { code: await c.exit, forced: true };
}

/** The last lines of a JSON log worth showing: warnings and errors first, else the plain tail. */
function logExcerpt(file: string, max = 12): string[] {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
  } catch {
    return [`(no log at ${file})`];
  }
  const bad = lines.filter((l) => /"level":"(warn|error|fatal)"/.test(l) || !l.startsWith('{'));
  return (bad.length > 0 ? bad : lines).slice(-max).map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l));
}

/** A JSON log's lines as objects (non-JSON lines skipped). */
function logRecords(file: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a torn line; skip
    }
  }
  return out;
}

/**
 * The demo's own S3 client for filling and verifying. Checksums only where S3 requires them: the SDK's
 * default CRC32 on every upload slows moto's uploads 2-25x (measured here), and the stores a migration
 * reads from (IBM COS, MinIO, Ceph, ...) do not keep such checksums anyway; verification hashes every
 * byte itself.
 */
function demoS3(store: {
  endpoint: string;
  region?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}): S3Client {
  return new S3Client({
    region: store.region ?? LOCAL_REGION,
    endpoint: store.endpoint,
    forcePathStyle: true,
    credentials: { ...(store.credentials ?? LOCAL_CREDENTIALS) },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

// ---- steps ----------------------------------------------------------------------------------------

async function waitForMetrics(worker: Child, url: string, deadlineMs: number): Promise<Sample[]> {
  const deadline = Date.now() + deadlineMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (!running(worker))
      throw new Error(`the worker exited with code ${worker.process.exitCode} before serving ${url}`);
    try {
      const samples = await scrapeMetrics(url, 2000);
      const configured = sumOf(samples, `${M}rclone_children_configured`);
      if (configured > 0 && sumOf(samples, `${M}rclone_children_up`) >= configured) return samples;
      lastError = `${sumOf(samples, `${M}rclone_children_up`)}/${configured} rclone children up`;
    } catch (err) {
      lastError = String(err);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the worker was not ready within ${deadlineMs / 1000} s (${lastError})`);
}

async function showDeadLetters(sqs: SQSClient, url: string): Promise<number> {
  const depth = await queueDepth(sqs, url);
  const count = total(depth);
  if (count === 0) return 0;
  const res = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
  for (const m of res.Messages ?? []) {
    const body = m.Body ?? '';
    detail(`dead letter: ${body.length > 600 ? `${body.slice(0, 600)}…` : body}`);
  }
  return count;
}

function printMetrics(samples: Sample[]): void {
  const has = (name: string) => samples.some((s) => s.name === name || s.name.startsWith(`${name}_`));
  const labelled = (name: string, label: string) =>
    Object.entries(byLabel(samples, name, label))
      .map(([k, v]) => `${n(v)} ${k || '(none)'}`)
      .join(', ') || '0';
  const rows: Array<[string, string]> = [];
  if (has(`${M}objects_copied_total`)) rows.push(['objects copied', labelled(`${M}objects_copied_total`, 'path')]);
  if (has(`${M}bytes_copied_total`)) rows.push(['bytes copied', mb(sumOf(samples, `${M}bytes_copied_total`))]);
  rows.push(['failed attempts', labelled(`${M}objects_failed_total`, 'reason')]);
  if (has(`${M}objects_dead_lettered_total`))
    rows.push(['dead-lettered', n(sumOf(samples, `${M}objects_dead_lettered_total`))]);
  if (has(`${M}messages_received_total`))
    rows.push(['messages received', n(sumOf(samples, `${M}messages_received_total`))]);
  if (has(`${M}messages_settled_total`))
    rows.push(['messages settled', labelled(`${M}messages_settled_total`, 'outcome')]);
  const duration = `${M}object_copy_duration_seconds`;
  if (has(duration)) {
    const q = (p: number) => {
      const v =
        histogramQuantile(samples, duration, p, { outcome: 'copied' }) ?? histogramQuantile(samples, duration, p);
      return v === undefined ? 'n/a' : `${(v * 1000).toFixed(0)} ms`;
    };
    rows.push(['copy time/object', `p50 ≈ ${q(0.5)}, p95 ≈ ${q(0.95)}, p99 ≈ ${q(0.99)}`]);
  }
  if (has(`${M}rclone_children_up`)) {
    rows.push([
      'rclone children',
      `${n(sumOf(samples, `${M}rclone_children_up`))} up of ${n(sumOf(samples, `${M}rclone_children_configured`))}, ` +
        `${n(sumOf(samples, `${M}rclone_child_restarts_total`))} restarts`,
    ]);
  }
  if (has(`${M}visibility_extensions_total`))
    rows.push(['visibility extended', n(sumOf(samples, `${M}visibility_extensions_total`))]);
  if (has(`${M}verify_requests_total`)) rows.push(['verify requests', labelled(`${M}verify_requests_total`, 'method')]);
  rows.push(['SQS errors', labelled(`${M}sqs_errors_total`, 'operation')]);
  if (has(`${M}process_resident_memory_bytes`)) {
    rows.push([
      'worker process',
      `${mb(sumOf(samples, `${M}process_resident_memory_bytes`))} resident, ` +
        `${sumOf(samples, `${M}process_cpu_seconds_total`).toFixed(1)} s CPU (rclone children not included)`,
    ]);
  }
  if (samples.length === 0) detail('(no metrics: the scrape failed)');
  for (const [label, value] of rows) detail(`${label.padEnd(20)} ${value}`);
}

// ---- main -----------------------------------------------------------------------------------------

type SourceStore = 'moto' | 'ceph';

function parseOptions():
  { plan: PlanOptions; children?: string; deadlineSeconds: number; source: SourceStore } | undefined {
  const { values } = parseArgs({
    options: {
      source: { type: 'string' },
      small: { type: 'string' },
      large: { type: 'string' },
      'large-mib': { type: 'string' },
      children: { type: 'string' },
      deadline: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return undefined;
  const source = values.source ?? 'moto';
  if (source !== 'moto' && source !== 'ceph') throw new Error(`--source must be moto or ceph, got ${source}`);
  const int = (name: string, value: string | undefined, fallback: number, min: number) => {
    if (value === undefined) return fallback;
    const v = Number(value);
    if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be a whole number ≥ ${min}, got ${value}`);
    return v;
  };
  return {
    plan: {
      ...DEFAULT_PLAN,
      smallCount: int('small', values.small, DEFAULT_PLAN.smallCount, 0),
      largeCount: int('large', values.large, DEFAULT_PLAN.largeCount, 0),
      largeBytes: int('large-mib', values['large-mib'], DEFAULT_PLAN.largeBytes / MiB, 1) * MiB,
    },
    children: values.children === undefined ? undefined : String(int('children', values.children, 1, 1)),
    deadlineSeconds: int('deadline', values.deadline, 240, 10),
    source,
  };
}

async function main(): Promise<number> {
  const options = parseOptions();
  if (!options) {
    console.log(USAGE);
    return 0;
  }
  const cleanups: Array<() => Promise<unknown>> = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  };
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    say(`${signal}: shutting down (again to exit at once)`);
    void cleanup().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    say(
      `rclone-migrate demo: a whole migration on a local stack, verified byte for byte (source: ${options.source === 'ceph' ? 'Ceph RGW' : 'moto'})`,
    );
    const tools = ensureTools((line) => detail(line));
    say(`tools: ${tools.rclone}, moto_server found`);

    const stack = await startLocalStack();
    cleanups.push(() => stack.stop());
    const fromCeph = options.source === 'ceph';
    const resources = await createResources(stack, { name: 'demo', secrets: !fromCeph });
    const { sqs, secrets } = localClients(stack);
    const s3 = demoS3(stack);
    let source = s3;
    if (fromCeph) {
      ensureCeph((line) => detail(line));
      const cephStarted = Date.now();
      const ceph = await startCephRgw({ say: (line) => detail(`ceph: ${line}`) });
      cleanups.push(() => ceph.stop());
      say(`Ceph RGW stand-in up in ${secs((Date.now() - cephStarted) / 1000)} on ${ceph.endpoint} (${ceph.dir})`);
      source = demoS3({ endpoint: ceph.endpoint, region: ceph.region, credentials: ceph });
      await source.send(new CreateBucketCommand({ Bucket: resources.sourceBucket }));
      // The source's endpoint and keys reach the worker and the lister as in production: from Secrets Manager.
      const values: Array<[string, string]> = [
        ['/migration/source_endpoint', ceph.endpoint],
        ['/migration/source_access_key', ceph.accessKeyId],
        ['/migration/source_secret_key', ceph.secretAccessKey],
      ];
      for (const [Name, SecretString] of values) await secrets.send(new CreateSecretCommand({ Name, SecretString }));
    }
    say(
      `local stack: moto on ${stack.endpoint}; buckets ${resources.sourceBucket} (on ${fromCeph ? 'Ceph RGW' : 'moto'}) → ${resources.destBucket}, queue and dead-letter queue, source secrets`,
    );

    const logDir = mkdtempSync(join(tmpdir(), 'rclone-migrate-demo-'));
    const configFile = join(logDir, 'config.json');
    writeFileSync(configFile, '{}\n'); // keeps a machine's /etc/rclone-migrate/config.json out of the demo
    detail(`logs: ${logDir}`);

    // Fill.
    const { plan } = options;
    const largeNote = plan.largeCount > 0 ? `, ${plan.largeCount} × ${plan.largeBytes / MiB} MiB` : '';
    say(
      `filling the source: ${n(plan.smallCount)} small objects${largeNote}, empty, unicode, special and rclone-unaddressable keys`,
    );
    const fillProgress = throttled(3000);
    const fill = await fillSource({
      s3: source,
      bucket: resources.sourceBucket,
      plan,
      onProgress: (p) =>
        fillProgress(() =>
          detail(`fill: ${n(p.objects)}/${n(p.totalObjects)} objects, ${mb(p.bytes)} of ${mb(p.totalBytes)}`),
        ),
    });
    const kinds = new Map<string, number>();
    for (const o of fill.objects) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
    say(`source filled: ${n(fill.objects.length)} objects, ${mb(fill.bytes)} in ${secs(fill.seconds)}`);
    detail([...kinds].map(([k, c]) => `${n(c)} ${k}`).join(', '));

    // Worker.
    const env = childEnv(stack);
    const metricsPort = await freePort();
    const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const workerArgs = [
      'worker',
      '--config',
      configFile,
      '--queue-url',
      resources.queueUrl,
      '--dead-letter-url',
      resources.deadLetterUrl,
      // moto's CompleteMultipartUpload quirk (DESIGN.md): rclone's HEAD after a multipart upload fails.
      '--dest-rclone-options',
      JSON.stringify({ no_head: 'true' }),
      '--metrics-port',
      String(metricsPort),
      ...(fromCeph ? ['--source-provider', 'Ceph'] : []),
      ...(options.children ? ['--rclone-children', options.children] : []),
    ];
    const worker = startCli('worker', workerArgs, env, logDir);
    cleanups.push(() => stopChild(worker, 'SIGTERM', 10_000));
    say(`worker started (pid ${worker.process.pid}), metrics on ${metricsUrl}`);
    const ready = await waitForMetrics(worker, metricsUrl, 60_000);
    say(`worker ready: ${n(sumOf(ready, `${M}rclone_children_up`))} rclone children up`);

    // Lister.
    const copyStarted = Date.now();
    const lister = startCli(
      'lister',
      [
        'list',
        '--config',
        configFile,
        '--source-bucket',
        resources.sourceBucket,
        '--dest-bucket',
        resources.destBucket,
        '--queue-url',
        resources.queueUrl,
        '--state',
        join(logDir, 'lister-state'), // job checkpoints stay with the demo's logs, not in ~/.local/state
      ],
      env,
      logDir,
    );
    cleanups.push(() => stopChild(lister, 'SIGTERM', 5000));
    say('lister started');
    const listerDeadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 120_000).unref());
    const listerCode = await Promise.race([lister.exit, listerDeadline]);
    if (listerCode !== 0) {
      say(
        listerCode === 'timeout'
          ? 'FAILED: the lister did not finish within 120 s'
          : `FAILED: the lister exited with ${listerCode}`,
      );
      for (const line of logExcerpt(lister.log)) detail(line);
      return 1;
    }
    const records = logRecords(lister.log);
    const summary =
      records.findLast((r) => typeof r.msg === 'string' && /finish|done|summary/i.test(r.msg)) ?? records.at(-1);
    const num = (k: string) => (typeof summary?.[k] === 'number' ? summary[k] : undefined);
    const listedKeys = num('keys');
    const sent = num('messages');
    say(
      `lister done in ${secs((Date.now() - copyStarted) / 1000)}` +
        (listedKeys !== undefined && sent !== undefined ? `: ${n(listedKeys)} keys in ${n(sent)} messages` : ''),
    );

    // Drain.
    say('waiting for the queue to drain');
    const drainProgress = throttled(5000);
    const drain = await waitForDrain({
      sqs,
      queueUrl: resources.queueUrl,
      deadlineMs: options.deadlineSeconds * 1000,
      onPoll: async (depth) => {
        if (!running(worker)) return `the worker exited with code ${worker.process.exitCode}`;
        let line = `queue: ${n(depth.visible)} waiting, ${n(depth.inFlight)} in flight`;
        try {
          const s = await scrapeMetrics(metricsUrl, 2000);
          line += ` · copied ${n(sumOf(s, `${M}objects_copied_total`))} objects, ${mb(sumOf(s, `${M}bytes_copied_total`))}`;
          const failed = sumOf(s, `${M}objects_failed_total`);
          if (failed > 0) line += ` · ${n(failed)} failed attempts`;
        } catch {
          line += ' · (metrics unavailable)';
        }
        drainProgress(() => detail(line));
        return undefined;
      },
    });
    const copySeconds = (Date.now() - copyStarted) / 1000;
    let samples: Sample[] = [];
    try {
      samples = await scrapeMetrics(metricsUrl);
    } catch (err) {
      detail(`could not scrape the worker's metrics: ${String(err)}`);
    }
    if (!drain.drained) {
      say(`FAILED: ${drain.reason} (${n(drain.depth.visible)} waiting, ${n(drain.depth.inFlight)} in flight)`);
      for (const line of logExcerpt(worker.log)) detail(line);
    } else {
      say(`queue drained after ${secs(copySeconds)} (lister start → empty queue)`);
    }

    // Stop the worker the way systemd would.
    const stopStarted = Date.now();
    const stopped = await stopChild(worker, 'SIGTERM', 150_000);
    const stopNote = stopped.forced ? ', had to be killed' : '';
    say(
      `worker stopped with SIGTERM: exit code ${stopped.code} in ${secs((Date.now() - stopStarted) / 1000)}${stopNote}`,
    );

    // Verify.
    say('verifying every source object at the destination, byte for byte (SHA-256 of both streams)');
    const verifyProgress = throttled(5000);
    const verified = await verifyCopy({
      source: { s3: source, bucket: resources.sourceBucket },
      dest: { s3, bucket: resources.destBucket },
      reportExtra: true,
      concurrency: 8,
      onProgress: (done, all, bytes) =>
        verifyProgress(() => detail(`verify: ${n(done)}/${n(all)} objects, ${mb(bytes)}`)),
    });
    const deadLetters = await showDeadLetters(sqs, resources.deadLetterUrl);

    // Summary.
    const allOk = isOk(verified) && deadLetters === 0 && drain.drained && stopped.code === 0 && !stopped.forced;
    console.log('');
    console.log('Summary');
    detail(`${'source store'.padEnd(20)} ${fromCeph ? 'Ceph RGW (scripts/ceph-rgw.ts)' : 'moto'}`);
    detail(
      `${'objects'.padEnd(20)} ${n(fill.objects.length)} (${[...kinds].map(([k, c]) => `${n(c)} ${k}`).join(', ')})`,
    );
    detail(`${'bytes'.padEnd(20)} ${mb(fill.bytes)}`);
    detail(`${'copy time'.padEnd(20)} ${secs(copySeconds)} (lister start → queue drained)`);
    detail(
      `${'throughput'.padEnd(20)} ${(fill.objects.length / copySeconds).toFixed(1)} objects/s, ${(fill.bytes / 1e6 / copySeconds).toFixed(1)} MB/s`,
    );
    detail(
      `${'verification'.padEnd(20)} ${n(verified.identical)} identical, ${verified.missing.length} missing, ` +
        `${verified.different.length} different, ${verified.extra.length} unexpected (${secs(verified.seconds)})`,
    );
    detail(`${'dead-letter queue'.padEnd(20)} ${deadLetters === 0 ? 'empty' : `${n(deadLetters)} messages`}`);
    detail(`${'worker exit'.padEnd(20)} ${stopped.code}${stopNote}`);
    console.log('Worker metrics (from /metrics just before SIGTERM)');
    printMetrics(samples);
    for (const key of verified.missing.slice(0, 50)) detail(`MISSING   ${JSON.stringify(key)}`);
    for (const d of verified.different.slice(0, 50)) detail(`DIFFERENT ${JSON.stringify(d.key)}: ${d.reason}`);
    for (const key of verified.extra.slice(0, 50)) detail(`UNEXPECTED at the destination ${JSON.stringify(key)}`);
    const listed = verified.missing.length + verified.different.length + verified.extra.length;
    if (listed > 150) detail(`… and more (${listed} in all)`);
    console.log('');
    if (!allOk) {
      if (!isOk(verified) || deadLetters > 0) for (const line of logExcerpt(worker.log)) detail(line);
      say(`FAILED (logs in ${logDir}), total ${secs((Date.now() - startedAt) / 1000)}`);
      return 1;
    }
    say(`OK: every object copied and identical; total ${secs((Date.now() - startedAt) / 1000)}`);
    return 0;
  } catch (err) {
    if (interrupted) return 130; // the stack was stopped under our feet: not a failure to report
    say(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  } finally {
    await cleanup();
  }
}

// Exit explicitly: idle keep-alive sockets of the SDK clients would otherwise hold the process open.
process.exit(await main());
