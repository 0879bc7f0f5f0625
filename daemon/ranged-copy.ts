// The SDK path for an object of more than one part: `concurrency` workers each GET one byte range of
// the source (If-Match on the ETag of the first answer, so every part comes from the same version)
// and upload it as that part of one multipart upload, then complete it. The first GET (part 1) was
// made by the dispatcher (sdk-copy.ts): its answer gives the size, ETag and attributes, so no HEAD.
// Any failure or abort cancels the requests in flight, waits for them, and aborts the upload, so no
// parts are left behind. Memory: each worker holds one part buffer, `concurrency` × part size at most
// per copy (4 × 64 MiB by default). Verification kept: every part's length and range; the source ETag
// on every part (If-Match, and the answer's ETag); the whole object's MD5, hashed in order, when the
// caller compares it with a plain-MD5 source ETag; the destination checks each part's checksum where
// the client sends one (the SDK's CRC32 by default on Amazon S3), and verify.ts the size afterwards.
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
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage, httpStatus } from '../shared/errors.ts';
import type { ByteRate } from './byte-rate.ts';
import { OrderedMd5 } from './ordered-md5.ts';
import { parseContentRange, partRanges, rangeHeader, type PartRange } from './part-plan.ts';
import type { UploadParams } from './sdk-copy.ts';
import { SdkStepError } from './sdk-errors.ts';

export type RangedCopyRequest = {
  source: S3Client;
  dest: S3Client;
  srcBucket: string;
  srcKey: string;
  dstBucket: string;
  dstKey: string;
  /** Bytes per part (part-plan.ts choosePartSize); part 1 was asked for with this size. */
  partBytes: number;
  /** Parts copied at once (config worker.sdkPartConcurrency). */
  concurrency: number;
  /** CreateMultipartUpload's parameters: the whole object's attributes and the destination controls. */
  params: UploadParams;
  /** Hash the whole object (the caller compares it with a plain-MD5 source ETag). */
  wholeMd5: boolean;
  /** The first GET: part 1's body, the object's size and ETag. */
  first: { body: Readable; total: number; etag: string };
  signal?: AbortSignal;
  bandwidth?: ByteRate;
};

export async function rangedCopy(req: RangedCopyRequest): Promise<{ bytes: number; md5?: string }> {
  const parts = partRanges(req.first.total, req.partBytes);
  const run = new AbortController();
  const stop = () => run.abort();
  req.signal?.addEventListener('abort', stop, { once: true });
  if (req.signal?.aborted) stop();
  const hash = req.wholeMd5 ? new OrderedMd5() : undefined;
  const done: CompletedPart[] = [];
  let uploadId: string | undefined;
  let firstBody: Readable | undefined = req.first.body;
  let failure: Error | undefined;
  const fail = (err: unknown) => {
    failure ??= err instanceof Error ? err : new Error(String(err));
    hash?.fail(failure);
    firstBody?.destroy();
    run.abort();
  };
  try {
    const checksums = (await req.dest.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
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
      let buffer: Buffer | undefined;
      for (let i = next++; i < parts.length && failure === undefined; i = next++) {
        const range = parts[i] as PartRange;
        const length = range.end - range.start + 1;
        buffer ??= Buffer.allocUnsafe(req.partBytes);
        const bytes = buffer.subarray(0, length);
        const body = i === 0 ? takeFirst() : await getPart(req, range, parts.length, run.signal);
        await readPart(body, bytes, range, req.bandwidth, run.signal);
        const [etag] = await Promise.all([
          uploadPart(req, await created, range, bytes, run.signal),
          hash?.add(i, bytes),
        ]);
        done[i] = { PartNumber: range.part, ...etag };
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
    return { bytes: req.first.total, ...(hash ? { md5: hash.digest() } : {}) };
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

/** Reads a part's body into its buffer, within the bandwidth cap; it must fill the buffer exactly. */
async function readPart(
  body: Readable,
  into: Buffer,
  range: PartRange,
  bandwidth: ByteRate | undefined,
  signal: AbortSignal,
): Promise<void> {
  const cut = () => body.destroy();
  signal.addEventListener('abort', cut, { once: true });
  let at = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (at + chunk.length > into.length) throw new Error(`more than the ${into.length} bytes asked for`);
      chunk.copy(into, at);
      at += chunk.length;
      const wait = bandwidth?.take(chunk.length) ?? 0;
      if (wait > 0) await sleep(wait, undefined, { signal });
    }
    if (at !== into.length) throw new Error(`${at} bytes of ${into.length}`);
  } catch (err) {
    throw new SdkStepError('source', `GetObject part ${range.part} body`, signal.aborted ? new Error('aborted') : err);
  } finally {
    signal.removeEventListener('abort', cut);
    body.destroy();
  }
}

async function uploadPart(
  req: RangedCopyRequest,
  uploadId: string,
  range: PartRange,
  bytes: Buffer,
  signal: AbortSignal,
): Promise<Omit<CompletedPart, 'PartNumber'>> {
  const out = await req.dest
    .send(
      new UploadPartCommand({
        Bucket: req.dstBucket,
        Key: req.dstKey,
        UploadId: uploadId,
        PartNumber: range.part,
        Body: bytes,
        ContentLength: bytes.length,
      }),
      { abortSignal: signal },
    )
    .catch((err: unknown) => {
      throw new SdkStepError('destination', `UploadPart ${range.part}`, err);
    });
  if (!out.ETag) throw new SdkStepError('destination', `UploadPart ${range.part}`, new Error('answered no ETag'));
  return {
    ETag: out.ETag,
    ...(out.ChecksumCRC32 ? { ChecksumCRC32: out.ChecksumCRC32 } : {}),
    ...(out.ChecksumCRC32C ? { ChecksumCRC32C: out.ChecksumCRC32C } : {}),
    ...(out.ChecksumCRC64NVME ? { ChecksumCRC64NVME: out.ChecksumCRC64NVME } : {}),
    ...(out.ChecksumSHA1 ? { ChecksumSHA1: out.ChecksumSHA1 } : {}),
    ...(out.ChecksumSHA256 ? { ChecksumSHA256: out.ChecksumSHA256 } : {}),
  };
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
