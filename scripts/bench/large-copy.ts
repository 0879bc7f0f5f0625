// Large objects between two Ceph RGW users (issue #13): the SDK path's one-stream copy (as it was
// before ranged parts), the ranged copy (daemon/ranged-copy.ts), a direct `rclone copyto` between two
// remotes, and the bench's ceiling loop (scripts/bench/ceiling-worker.ts: GET into PutObject, or a
// streamed 16 MiB-part Upload from 200 MiB). Each run copies every object of one size at once; the
// copiers take turns, their order rotated per round; medians with the load average. Loopback only,
// bounded in runs and time. Run with the pinned rclone on PATH:
//   node scripts/with-tools.ts node scripts/bench/large-copy.ts [--sizes 128,256] [--objects 2] [--runs 3]
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { parseArgs, promisify } from 'node:util';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { DEFAULT_CONTROLS } from '../../daemon/dest-controls.ts';
import { sdkCopy } from '../../daemon/sdk-copy.ts';
import { SourceTags } from '../../daemon/source-tags.ts';
import { createLogger } from '../../shared/logger.ts';
import { createRgwUser, startCephRgw } from '../ceph-rgw.ts';
import { rcloneDirect } from './copiers/rclone-direct.ts';
import type { Remote } from './rclone-env.ts';
import { readStat } from './procfs.ts';
import { median, ratio } from './stats.ts';

const MiB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '128,256' },
    objects: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    'part-mib': { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '4' },
    copiers: { type: 'string', default: 'sdk-stream,sdk-ranged,sdk-ranged-nomd5,rclone,ceiling' },
    seconds: { type: 'string', default: '1200' },
  },
});
const sizesMiB = (values.sizes ?? '').split(',').map(Number);
const objects = Number(values.objects);
const runs = Number(values.runs);
const partBytes = Number(values['part-mib']) * MiB;
const concurrency = Number(values.concurrency);
const copierNames = (values.copiers ?? '').split(',') as CopierName[];
const deadline = Date.now() + Number(values.seconds) * 1000;
if (![objects, runs, partBytes, concurrency, ...sizesMiB].every((n) => Number.isInteger(n) && n > 0) || runs > 9) {
  throw new Error('--sizes, --objects, --runs (≤ 9), --part-mib and --concurrency take positive integers');
}

type CopierName = 'sdk-stream' | 'sdk-ranged' | 'sdk-ranged-nomd5' | 'rclone' | 'ceiling';
type Run = {
  copier: CopierName;
  sizeMiB: number;
  seconds: number;
  load: number;
  /** Growth of this process's RSS during the run (the SDK copiers run here; rclone in children). */
  rssGrowthMiB: number;
  /** CPU seconds of the copier (this process, or the rclone children it reaped) and of radosgw. */
  cpu: number;
  rgwCpu: number;
};

const say = (line: string) => console.error(`large-copy: ${line}`);
const rgw = await startCephRgw({ memstoreBytes: 4 * 1024 * MiB, say });
const conf = join(rgw.dir, 'ceph.conf');
try {
  const { accessKeyId, secretAccessKey } = await createRgwUser(rgw, 'bench-dest');
  const sourceRemote: Remote = {
    endpoint: rgw.endpoint,
    region: rgw.region,
    accessKeyId: rgw.accessKeyId,
    secretAccessKey: rgw.secretAccessKey,
  };
  const destRemote: Remote = { endpoint: rgw.endpoint, region: rgw.region, accessKeyId, secretAccessKey };
  const source = client(sourceRemote);
  const dest = client(destRemote);
  const results: Run[] = [];
  for (const sizeMiB of sizesMiB) {
    const srcBucket = `large-src-${sizeMiB}`;
    const dstBucket = `large-dst-${sizeMiB}`;
    await source.send(new CreateBucketCommand({ Bucket: srcBucket }));
    await dest.send(new CreateBucketCommand({ Bucket: dstBucket }));
    const keys = Array.from({ length: objects }, (_, i) => `large/${sizeMiB}MiB-${i}.bin`);
    // one PutObject each: plain-MD5 ETags, as the one-stream copy compares its whole-object MD5 with
    for (const key of keys) {
      await source.send(new PutObjectCommand({ Bucket: srcBucket, Key: key, Body: randomBytes(sizeMiB * MiB) }));
    }
    say(`${objects} × ${sizeMiB} MiB in ${srcBucket}`);
    for (let round = 0; round < runs && Date.now() < deadline; round++) {
      const order = copierNames.map((_, i) => copierNames[(i + round) % copierNames.length] as CopierName);
      for (const copier of order) {
        if (Date.now() >= deadline) break;
        for (const key of keys) await dest.send(new DeleteObjectCommand({ Bucket: dstBucket, Key: key }));
        // RGW keeps a deleted object's data for its garbage collector (hours by default): in memstore
        // every run's copies would pile up until the OSD is full, so it is collected now, untimed
        await radosgwAdmin(conf, ['gc', 'process', '--include-all']);
        const load = loadavg()[0] ?? 0;
        const cpu0 = cpuOf(process.pid);
        const rgw0 = cpuOf(rgw.pids.rgw);
        const rss0 = process.memoryUsage().rss;
        let peak = rss0;
        const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
        const started = performance.now();
        try {
          await copyAll(copier, { source, dest, sourceRemote, destRemote, srcBucket, dstBucket, keys });
        } finally {
          clearInterval(sampler);
        }
        const seconds = (performance.now() - started) / 1000;
        for (const key of keys) {
          const head = await dest.send(new HeadObjectCommand({ Bucket: dstBucket, Key: key }));
          if (head.ContentLength !== sizeMiB * MiB) throw new Error(`${copier} ${key}: ${head.ContentLength} bytes`);
        }
        const run: Run = {
          copier,
          sizeMiB,
          seconds,
          load,
          rssGrowthMiB: Math.round((peak - rss0) / MiB),
          cpu: cpuOf(process.pid) - cpu0,
          rgwCpu: cpuOf(rgw.pids.rgw) - rgw0,
        };
        results.push(run);
        say(
          `${copier} ${objects}×${sizeMiB} MiB: ${seconds.toFixed(2)} s (load ${load.toFixed(2)}, ` +
            `cpu ${run.cpu.toFixed(2)} s, radosgw ${run.rgwCpu.toFixed(2)} s, rss +${run.rssGrowthMiB} MiB)`,
        );
      }
    }
  }
  console.log(report(results));
} finally {
  await rgw.stop();
}

function cpuOf(pid: number): number {
  const stat = readStat(pid);
  return stat ? stat.cpuSelf + stat.cpuReaped : 0;
}

function client(remote: Remote): S3Client {
  return new S3Client({
    endpoint: remote.endpoint,
    region: remote.region,
    forcePathStyle: true,
    credentials: { accessKeyId: remote.accessKeyId, secretAccessKey: remote.secretAccessKey },
    // RGW 16 answers 411 to the SDK's default streaming checksums
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) }),
  });
}

async function radosgwAdmin(conf: string, args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('radosgw-admin', ['-c', conf, '-n', 'client.admin', ...args], {
    timeout: 60_000,
  });
  return stdout;
}

type Setup = {
  source: S3Client;
  dest: S3Client;
  sourceRemote: Remote;
  destRemote: Remote;
  srcBucket: string;
  dstBucket: string;
  keys: string[];
};

async function copyAll(copier: CopierName, s: Setup): Promise<void> {
  const timeoutMs = Math.max(1000, Math.min(600_000, deadline - Date.now()));
  const signal = AbortSignal.timeout(timeoutMs);
  const tags = new SourceTags(createLogger('warn'), 'count');
  if (copier === 'rclone') {
    const { sourceRemote: source, destRemote: dest, srcBucket: sourceBucket, dstBucket: destBucket, keys } = s;
    return rcloneDirect({ source, dest, sourceBucket, destBucket, keys, timeoutMs });
  }
  await Promise.all(
    s.keys.map(async (key) => {
      if (copier === 'ceiling') return ceilingCopy(s, key, signal);
      const size = (await headSize(s.source, s.srcBucket, key)) as number;
      const { bytes } = await sdkCopy({
        source: s.source,
        dest: s.dest,
        srcBucket: s.srcBucket,
        srcKey: key,
        dstBucket: s.dstBucket,
        dstKey: key,
        partSizeBytes: partBytes,
        partConcurrency: concurrency,
        // without a listed size the SDK path takes the one-stream way it had before ranged parts
        listedSize: copier === 'sdk-stream' ? undefined : size,
        verifyEtag: copier !== 'sdk-ranged-nomd5',
        controls: DEFAULT_CONTROLS,
        tags,
        signal,
      });
      if (bytes !== size) throw new Error(`${copier} ${key}: ${bytes} bytes of ${size}`);
    }),
  );
}

/** Not timed apart: one HEAD per object stands in for the listing the worker has (both SDK copiers pay it). */
async function headSize(client: S3Client, bucket: string, key: string): Promise<number | undefined> {
  return (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength;
}

async function ceilingCopy(s: Setup, key: string, signal: AbortSignal): Promise<void> {
  const got = await s.source.send(new GetObjectCommand({ Bucket: s.srcBucket, Key: key }), { abortSignal: signal });
  if ((got.ContentLength ?? 0) < 200 * MiB) {
    const body = await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
    await s.dest.send(new PutObjectCommand({ Bucket: s.dstBucket, Key: key, Body: body, ContentLength: body.length }), {
      abortSignal: signal,
    });
    return;
  }
  await new Upload({
    client: s.dest,
    params: { Bucket: s.dstBucket, Key: key, Body: got.Body as Readable },
    partSize: 16 * MiB,
    queueSize: 4,
  }).done();
}

function report(results: readonly Run[]): string {
  const lines = [
    `${objects} objects at once per run, ${runs} runs, part size ${partBytes / MiB} MiB, part concurrency ${concurrency}`,
    '| size | copier | median s | MiB/s | ÷ rclone | ÷ ceiling | load 1m (min–max) | CPU s copier / radosgw | RSS growth MiB (max) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const sizeMiB of sizesMiB) {
    const of = (c: CopierName) => results.filter((r) => r.sizeMiB === sizeMiB && r.copier === c);
    const med = (c: CopierName) => median(of(c).map((r) => r.seconds));
    for (const c of copierNames) {
      const rs = of(c);
      if (!rs.length) continue;
      const loads = rs.map((r) => r.load);
      const cpu = median(rs.map((r) => r.cpu)).toFixed(2);
      const rgwCpu = median(rs.map((r) => r.rgwCpu)).toFixed(2);
      lines.push(
        `| ${objects}×${sizeMiB} MiB | ${c} | ${med(c).toFixed(2)} | ${((objects * sizeMiB) / med(c)).toFixed(0)} | ` +
          `${ratio(med('rclone'), med(c)).toFixed(2)} | ${ratio(med('ceiling'), med(c)).toFixed(2)} | ` +
          `${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} | ${cpu} / ${rgwCpu} | ` +
          `${Math.max(...rs.map((r) => r.rssGrowthMiB))} |`,
      );
    }
  }
  return lines.join('\n');
}
