// The SDK path for an object of more than one part: `concurrency` workers each GET one byte range of
// the source (If-Match on the ETag of the first answer, so every part comes from the same version)
// and stream it straight into UploadPart as that part of one multipart upload, then complete it. The
// first GET (part 1) was made by the dispatcher (sdk-copy.ts): its answer gives the size, ETag and
// attributes, so no HEAD. Parts are streamed, not buffered: download and upload of a part overlap,
// the payload is not hashed for signing (UNSIGNED-PAYLOAD), and memory per copy is `concurrency`
// streams' buffers (well under 1 MiB each), not parts. The SDK does not retry a streamed request, so
// a part that fails as the SDK would retry (throttled, 5xx, no answer) is fetched and sent again
// here, PART_ATTEMPTS in all. Any other failure, or an abort, cuts the requests in flight, waits for
// them, and aborts the upload, so no parts are left behind.
// Verification: each part's range, length and ETag (If-Match, and the answer's ETag); the destination
// checks the SDK's CRC32 of each part where the client sends checksums (the default, as the worker's
// destination client does); where it sends none (WHEN_REQUIRED, e.g. for Ceph RGW), each part's MD5,
// hashed as it passes, against the part ETag the destination answers (not with SSE-KMS: no MD5 there);
// verify.ts checks the size afterwards. Not kept: the whole object's MD5 against a
// plain-MD5 source ETag (parts pass out of order; hashing them in order would mean buffering them).
import {
  AbortMultipartUploadCommand,
  ChecksumAlgorithm,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, httpStatus } from '../shared/errors.ts';
import { bareEtag } from '../shared/key-order.ts';
import type { ByteRate } from './byte-rate.ts';
import { parseContentRange, partRanges, rangeHeader, type PartRange } from './part-plan.ts';
import type { UploadParams } from './sdk-copy.ts';
import { classifySdkError, SdkStepError } from './sdk-errors.ts';

/** Both ends of one object's copy: the clients, and where it is read from and written to. */
export type CopyEnds = {
  source: S3Client;
  dest: S3Client;
  srcBucket: string;
  srcKey: string;
  dstBucket: string;
  dstKey: string;
};

export type RangedCopyRequest = CopyEnds & {
  /** Bytes per part (part-plan.ts choosePartSize); part 1 was asked for with this size. */
  partBytes: number;
  /** Parts copied at once (config worker.sdkPartConcurrency). */
  concurrency: number;
  /** CreateMultipartUpload's parameters: the whole object's attributes and the destination controls. */
  params: UploadParams;
  /**
   * Compare each part's MD5 with the part ETag the destination answers, where no checksum of the SDK
   * covers the part (a client on WHEN_REQUIRED). False: never (worker.verifyEtag off; SSE-KMS, whose
   * part ETags are no MD5s).
   */
  verifyParts: boolean;
  /** The first GET: part 1's body, the object's size and ETag. */
  first: { body: Readable; total: number; etag: string };
  signal?: AbortSignal;
  bandwidth?: ByteRate;
};

/** Attempts per part, the first included (the SDK's own default for requests it can retry). */
export const PART_ATTEMPTS = 3;

export async function rangedCopy(req: RangedCopyRequest): Promise<{ bytes: number }> {
  const parts = partRanges(req.first.total, req.partBytes);
  const run = new AbortController();
  const stop = () => run.abort();
  req.signal?.addEventListener('abort', stop, { once: true });
  if (req.signal?.aborted) stop();
  const done: CompletedPart[] = [];
  let uploadId: string | undefined;
  let firstBody: Readable | undefined = req.first.body;
  let failure: Error | undefined;
  const fail = (err: unknown) => {
    failure ??= err instanceof Error ? err : new Error(String(err));
    firstBody?.destroy();
    run.abort();
  };
  try {
    const checksums = (await req.dest.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
    // the SDK's CRC32 (native, cheap) already proves each part to the store; MD5 costs a core's 0.5 s per 256 MiB
    const partMd5 = req.verifyParts && !checksums;
    const created = req.dest
      .send(
        new CreateMultipartUploadCommand({
          ...req.params,
          Bucket: req.dstBucket,
          Key: req.dstKey,
          // as lib-storage does: with checksums on, the parts' CRC32s are checked again at completion
          ...(checksums ? { ChecksumAlgorithm: ChecksumAlgorithm.CRC32 } : {}),
        }),
        // not cut short on abort: the store may have created the upload already, and only its ID
        // lets the upload be aborted (the client's timeouts bound this request)
      )
      .then(
        (out) => {
          if (!out.UploadId) throw new Error('CreateMultipartUpload answered no UploadId');
          uploadId = out.UploadId;
          return out.UploadId;
        },
        (err: unknown) => {
          throw new SdkStepError('destination', 'CreateMultipartUpload', err);
        },
      );
    created.catch(fail);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < parts.length && failure === undefined; i = next++) {
        const range = parts[i] as PartRange;
        const first = i === 0 ? takeFirst : undefined;
        const part = await copyPart(req, created, range, parts.length, first, partMd5, run.signal);
        done[i] = { PartNumber: range.part, ...part };
      }
    };
    const takeFirst = (): Readable => {
      const body = firstBody as Readable;
      firstBody = undefined;
      return body;
    };
    const workers = Array.from({ length: Math.min(req.concurrency, parts.length) }, () => worker().catch(fail));
    await Promise.all(workers);
    await created.catch(() => undefined);
    if (failure !== undefined) throw failure;
    await req.dest
      .send(
        new CompleteMultipartUploadCommand({
          Bucket: req.dstBucket,
          Key: req.dstKey,
          UploadId: uploadId,
          MultipartUpload: { Parts: done },
        }),
        { abortSignal: run.signal },
      )
      .catch((err: unknown) => {
        throw new SdkStepError('destination', 'CompleteMultipartUpload', err);
      });
    uploadId = undefined;
    return { bytes: req.first.total };
  } catch (err) {
    fail(err);
    throw await withAbort(req, uploadId, err);
  } finally {
    req.signal?.removeEventListener('abort', stop);
    firstBody?.destroy();
  }
}

/** GETs one part, tied to the first answer's version by If-Match. */
async function getPart(
  req: RangedCopyRequest,
  range: PartRange,
  count: number,
  signal: AbortSignal,
): Promise<Readable> {
  const step = `GetObject part ${range.part} of ${count}`;
  const got = await req.source
    .send(
      new GetObjectCommand({
        Bucket: req.srcBucket,
        Key: req.srcKey,
        Range: rangeHeader(range),
        IfMatch: req.first.etag,
      }),
      { abortSignal: signal },
    )
    .catch((err: unknown) => {
      const changed = httpStatus(err) === 412;
      throw new SdkStepError(
        'source',
        changed ? `${step} (the object changed during the copy: it no longer has ETag ${req.first.etag})` : step,
        err,
      );
    });
  const body = got.Body as Readable | undefined;
  const problem = !body
    ? 'no body'
    : got.ETag && got.ETag !== req.first.etag
      ? `ETag ${got.ETag}, not ${req.first.etag}: the object changed during the copy`
      : partProblem(parseContentRange(got.ContentRange), range, req.first.total);
  if (problem) {
    body?.destroy();
    throw new SdkStepError('source', step, new Error(problem));
  }
  return body as Readable;
}

/** Why a ranged answer is not the part asked for (a store ignoring Range, an object of another size). */
function partProblem(got: ReturnType<typeof parseContentRange>, want: PartRange, total: number): string | undefined {
  if (!got) return `no Content-Range for bytes ${want.start}-${want.end}`;
  if (got.start !== want.start || got.end !== want.end || got.total !== total) {
    return `answered bytes ${got.start}-${got.end}/${got.total} for ${want.start}-${want.end}/${total}`;
  }
  return undefined;
}

/**
 * One part, tried again (a new GET, a new UploadPart) where it failed as the SDK would retry. `first`
 * hands over part 1's body from the dispatcher's GET for the first attempt.
 */
async function copyPart(
  req: RangedCopyRequest,
  uploadId: Promise<string>,
  range: PartRange,
  count: number,
  first: (() => Readable) | undefined,
  md5: boolean,
  signal: AbortSignal,
): Promise<Omit<CompletedPart, 'PartNumber'>> {
  for (let attempt = 1; ; attempt++) {
    try {
      const body = attempt === 1 && first ? first() : await getPart(req, range, count, signal);
      return await streamPart(req, uploadId, range, body, md5, signal);
    } catch (err) {
      if (signal.aborted || attempt >= PART_ATTEMPTS || !retryable(err)) throw err;
      await sleep(100 * 4 ** (attempt - 1) * (0.5 + Math.random()), undefined, { signal });
    }
  }
}

/** What the SDK would have retried itself: throttling, a 5xx, no answer (a cut connection). */
export function retryable(err: unknown): boolean {
  const cause = err instanceof SdkStepError ? err.cause : err;
  const status = httpStatus(cause);
  if (status !== undefined && status >= 500) return true;
  const kind = classifySdkError(cause, 'copy');
  return kind === 'throttled' || kind === 'unreachable';
}

/**
 * Streams one part's body into UploadPart, counting and hashing it as it passes. A body that fails,
 * or brings more or fewer bytes than the range, cuts the upload (which would otherwise wait for the
 * missing bytes) and fails as the source's.
 */
async function streamPart(
  req: RangedCopyRequest,
  uploadId: Promise<string>,
  range: PartRange,
  body: Readable,
  withMd5: boolean,
  signal: AbortSignal,
): Promise<Omit<CompletedPart, 'PartNumber'>> {
  const length = range.end - range.start + 1;
  const md5 = withMd5 ? createHash('md5') : undefined;
  const part = new AbortController();
  const cut = () => part.abort();
  signal.addEventListener('abort', cut, { once: true });
  let readFailure: unknown;
  // never an 'error' on the stream the SDK reads: after a failed request nothing listens to the
  // SDK's wrapper of it, and the error would be uncaught; a bad body cuts the request instead
  const bad = (err: unknown) => {
    readFailure ??= err;
    part.abort();
    counted.destroy();
    body.destroy();
  };
  let seen = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > length) return (bad(new Error(`more than the ${length} bytes asked for`)), done());
      md5?.update(chunk);
      done(null, chunk);
    },
    flush(done) {
      if (seen !== length) bad(new Error(`${seen} bytes of ${length}`));
      done();
    },
  });
  body.on('error', bad);
  if (req.bandwidth) body.pipe(req.bandwidth.stream()).pipe(counted);
  else body.pipe(counted);
  try {
    // the part's GET went out while the upload was being created; its body waits here until then
    const id = await uploadId;
    const out = await req.dest
      .send(
        new UploadPartCommand({
          Bucket: req.dstBucket,
          Key: req.dstKey,
          UploadId: id,
          PartNumber: range.part,
          Body: counted,
          ContentLength: length,
        }),
        { abortSignal: part.signal },
      )
      .catch((err: unknown) => {
        if (readFailure !== undefined && !signal.aborted) {
          throw new SdkStepError('source', `GetObject part ${range.part} body`, readFailure);
        }
        throw new SdkStepError('destination', `UploadPart ${range.part}`, err);
      });
    const step = `UploadPart ${range.part}`;
    if (!out.ETag) throw new SdkStepError('destination', step, new Error('answered no ETag'));
    const sent = md5?.digest('hex');
    const stored = bareEtag(out.ETag)?.toLowerCase();
    if (sent && stored && /^[0-9a-f]{32}$/.test(stored) && stored !== sent) {
      throw new SdkStepError(
        'destination',
        step,
        new Error(`part ETag ${stored} is not the MD5 ${sent} of the bytes sent`),
      );
    }
    return {
      ETag: out.ETag,
      ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
      ...(out.ChecksumCRC32C ? { ChecksumCRC32C: out.ChecksumCRC32C } : {}),
      ...(out.ChecksumCRC64NVME ? { ChecksumCRC64NVME: out.ChecksumCRC64NVME } : {}),
      ...(out.ChecksumSHA1 ? { ChecksumSHA1: out.ChecksumSHA1 } : {}),
      ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
    };
  } finally {
    signal.removeEventListener('abort', cut);
    body.destroy();
  }
}

/**
 * Aborts the multipart upload (every request of the copy has settled by now, so no part lands after
 * it); the copy's error is what the caller sees, its cause kept (it classifies the failure), with the
 * abort's own failure added to the step when that failed too.
 */
async function withAbort(req: RangedCopyRequest, uploadId: string | undefined, err: unknown): Promise<unknown> {
  if (uploadId === undefined) return err;
  try {
    await req.dest.send(
      new AbortMultipartUploadCommand({ Bucket: req.dstBucket, Key: req.dstKey, UploadId: uploadId }),
    );
    return err;
  } catch (abortErr) {
    const also = `AbortMultipartUpload ${uploadId} failed too (${errorMessage(abortErr)}): a lifecycle rule must clean it up`;
    if (err instanceof SdkStepError) return new SdkStepError(err.store, `${err.step}; ${also}`, err.cause);
    return new Error(`${errorMessage(err)}; ${also}`, { cause: err });
  }
}
