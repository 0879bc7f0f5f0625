// What copying one object is: pick the path (rclone, or the SDK for keys rclone cannot address and
// objects whose attributes it cannot set: copy-route.ts) and copy, within the stores' adaptive copy
// limits when they are on (copy-limiter.ts): an attempt a store throttles waits in its slots and is
// tried again, without spending one of the message's attempts. Failures come back as typed CopyErrors with their context. Verifying the destination
// is the batch's next step (verify-batch.ts).
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CopyError, errorMessage } from '../shared/errors.ts';
import { destKey, type BatchMessage, type BatchObject } from '../shared/message.ts';
import { refusedByS3, taggingHeader } from '../shared/object-attributes.ts';
import { throttleBackoffMs } from './aimd.ts';
import type { ByteRate } from './byte-rate.ts';
import { acquireBoth, paceBoth, type CopyLimits, type Store } from './copy-limiter.ts';
import { pathByListing, unsetByRclone, type CopyPath, type PathChoice } from './copy-route.ts';
import type { DestControls } from './dest-controls.ts';
import type { CopyRequest } from './rclone-pool.ts';
import { AttributesRefused, sdkCopy, SdkStepError } from './sdk-copy.ts';
import { classifySdkError, describeSdkError } from './sdk-errors.ts';
import type { SourceTags } from './source-tags.ts';
import { mismatch } from './verify.ts';

export type Copier = {
  rcloneCopy(req: CopyRequest): Promise<void>;
  /** The source client (rebuilt when credentials change) and the destination client. */
  source(): S3Client;
  dest: S3Client;
  partSizeBytes: number;
  /** Parts of one object copied at once on the SDK path (config worker.sdkPartConcurrency; default 4). */
  partConcurrency?: number;
  verifyEtag: boolean;
  /** Who copies keys rclone can address (config worker.copyPath), and from what size under auto. */
  copyPath: PathChoice;
  rcloneFromBytes?: number;
  controls: DestControls;
  tags: SourceTags;
  /** The adaptive copy limits of both stores; absent: copies start as soon as the pool has room. */
  limits?: CopyLimits;
  /** The SDK path's share of the worker's bandwidth cap (rclone children have --bwlimit). */
  bandwidth?: ByteRate;
};

/** A copy made, not yet verified: `target` is the destination key. */
export type Copied = { object: BatchObject; target: string; path: CopyPath };

/** `firstDelivery`: the message is new (attempt 1, received once), so the destination is presumed absent. */
export async function copyObject(
  copier: Copier,
  message: BatchMessage,
  object: BatchObject,
  signal: AbortSignal,
  firstDelivery = false,
): Promise<Copied> {
  const where = { bucket: message.source.bucket, key: object.key, attempt: message.attempt };
  const target = destKey(message, object.key);
  const planned = pathByListing(
    copier.copyPath,
    { srcKey: object.key, dstKey: target, size: object.size },
    copier.rcloneFromBytes ?? Infinity,
  );
  let path: CopyPath = planned;
  const once = async () => {
    path = await copyOnce(copier, message, object, target, planned, signal, firstDelivery);
  };
  const limits = copier.limits;
  try {
    if (!limits) await once();
    else await withinLimits(limits, once, signal);
  } catch (err) {
    if (err instanceof CopyError) throw new CopyError(err.kind, err.message, { ...where, store: err.store });
    throw new CopyError(signal.aborted ? 'aborted' : 'copy', errorMessage(err), where);
  }
  return { object, target, path };
}

/** Runs attempts in slots of both stores; a throttled attempt backs off in its slots and goes again when the stores' start rates allow. */
async function withinLimits(limits: CopyLimits, once: () => Promise<void>, signal: AbortSignal): Promise<void> {
  await acquireBoth(limits, signal);
  let outcome: { source: Outcome; destination: Outcome } = { source: 'answered', destination: 'answered' };
  try {
    for (let throttled = 0; ; throttled++) {
      try {
        await once();
        return;
      } catch (err) {
        const store = err instanceof CopyError && err.kind === 'throttled' ? throttledStore(err) : undefined;
        if (!store || signal.aborted) throw err;
        if (throttled + 1 >= limits.maxThrottledAttempts) {
          outcome = { ...outcome, [store]: 'throttled' };
          throw err;
        }
        limits[store].note('throttled');
        await pause(throttleBackoffMs(throttled, (limits.random ?? Math.random)(), limits.backoff), signal);
        await paceBoth(limits, signal);
      }
    }
  } finally {
    limits.destination.release(outcome.destination);
    limits.source.release(outcome.source);
  }
}

type Outcome = 'answered' | 'throttled';

/** Which store refused: the SDK path says (err.store); rclone's text names the source read. */
export function throttledStore(err: CopyError): Store {
  if (err.store) return err.store;
  if (/^(source|destination) /.test(err.message)) return err.message.startsWith('source') ? 'source' : 'destination';
  return /failed to open source object|GetObject|HeadObject/.test(err.message) ? 'source' : 'destination';
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('aborted'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** One attempt; returns the path that copied. Rejects with a CopyError (context added by the caller). */
async function copyOnce(
  copier: Copier,
  message: BatchMessage,
  object: BatchObject,
  target: string,
  planned: CopyPath,
  signal: AbortSignal,
  firstDelivery: boolean,
): Promise<CopyPath> {
  const where = { bucket: message.source.bucket, key: object.key, attempt: message.attempt };
  try {
    if (planned === 'rclone') {
      // rclone's GET answer is not ours to see and it never reads tags: one source HEAD says what the
      // object carries (tag count, Expires, redirect) before the bytes move; the tags then travel with
      // rclone's upload (x-amz-tagging through MetadataSet), read only where there are some.
      const head = await copier
        .source()
        .send(new HeadObjectCommand({ Bucket: message.source.bucket, Key: object.key }), { abortSignal: signal })
        .catch((err: unknown) => {
          throw new SdkStepError('source', 'HeadObject', err);
        });
      if (unsetByRclone(head).length === 0) {
        const tags = copier.tags.wanted(head.TagCount)
          ? await copier.tags.read(copier.source(), message.source.bucket, object.key, signal)
          : undefined;
        const refused = refusedByS3({ metadata: head.Metadata ?? {}, tags });
        if (refused) throw new CopyError('refused', `S3 would refuse this object: ${refused}`, where);
        await copier.rcloneCopy({
          srcBucket: message.source.bucket,
          srcKey: object.key,
          dstBucket: message.dest.bucket,
          dstKey: target,
          presumeAbsent: firstDelivery,
          tagging: taggingHeader(tags),
          signal,
        });
        return 'rclone';
      }
    }
    await copyBySdk(copier, message, object, target, signal, where);
    return 'sdk';
  } catch (err) {
    if (err instanceof CopyError) throw err;
    if (err instanceof AttributesRefused) throw new CopyError('refused', err.message, where);
    // the SDK path names the store and step that failed; the SDK's error is the cause
    const step = err instanceof SdkStepError ? err : undefined;
    const cause = step ? step.cause : err;
    const kind = signal.aborted ? 'aborted' : classifySdkError(cause, 'copy');
    const text = `${step ? `${step.store} ${step.step}: ` : ''}${describeSdkError(cause)}`;
    // a refusal names what was refused: S3's error code says it (MetadataTooLarge, InvalidTag, ...)
    throw new CopyError(kind, kind === 'refused' ? `S3 refused the object: ${text}` : text, {
      ...where,
      store: step?.store,
    });
  }
}

async function copyBySdk(
  copier: Copier,
  message: BatchMessage,
  object: BatchObject,
  target: string,
  signal: AbortSignal,
  where: { bucket: string; key: string; attempt: number },
): Promise<void> {
  const { md5 } = await sdkCopy({
    source: copier.source(),
    dest: copier.dest,
    srcBucket: message.source.bucket,
    srcKey: object.key,
    dstBucket: message.dest.bucket,
    dstKey: target,
    partSizeBytes: copier.partSizeBytes,
    partConcurrency: copier.partConcurrency,
    listedSize: object.size,
    verifyEtag: copier.verifyEtag,
    controls: copier.controls,
    tags: copier.tags,
    signal,
    bandwidth: copier.bandwidth,
  });
  // The one-stream SDK path hashed the bytes it read: they must be what the source listed.
  if (md5 && object.etag && mismatch({ etag: object.etag }, { size: 0, etag: md5 }, copier.verifyEtag)) {
    throw new CopyError('verify', `bytes read have MD5 ${md5}, the source ETag is ${object.etag}`, where);
  }
}
