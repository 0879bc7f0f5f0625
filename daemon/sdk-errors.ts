// What an AWS SDK error from a store means, for the copy path and the verify step alike.
import { credentialCode, errorMessage, httpStatus, looksUnreachable, type CopyFailureKind } from '../shared/errors.ts';

/**
 * The failure kind of an SDK error: no answer (network, the connect or idle timeouts of shared/aws.ts)
 * is `unreachable`; 404 `not_found`; 503/429 and S3's throttling codes `throttled`; 401/403 `auth`; S3 refusing the object's attributes `refused`; anything else `otherwise` (the caller's kind:
 * `copy` on the copy path, `verify` on the verify step).
 */
export function classifySdkError(err: unknown, otherwise: CopyFailureKind): CopyFailureKind {
  const e = err as { name?: string; code?: string };
  const status = httpStatus(err);
  if (status === undefined && looksUnreachable(`${e.code ?? ''} ${e.name ?? ''} ${errorMessage(err)}`)) {
    return 'unreachable';
  }
  if (e.name === 'NoSuchKey' || status === 404) return 'not_found';
  if (status === 503 || status === 429 || THROTTLED_NAMES.has(e.name ?? '')) return 'throttled';
  // what S3 says when it refuses an object's attributes (the limits a pre-check does not know)
  if (status === 400 && /^(MetadataTooLarge|InvalidTag|InvalidStorageClass|KMS\.|InvalidArgument)/.test(e.name ?? '')) {
    return 'refused';
  }
  if (status === 401 || status === 403 || credentialCode(e.name ?? '')) return 'auth';
  return otherwise;
}

/** The SDK error on one line with its S3 code, which its message often leaves out. */
export function describeSdkError(err: unknown): string {
  const name = (err as { name?: string }).name ?? '';
  const status = httpStatus(err);
  const message = errorMessage(err);
  const code = name && name !== 'Error' && !message.startsWith(name) ? `${name}: ` : '';
  return `${code}${message}${status !== undefined ? ` (HTTP ${status})` : ''}`;
}

/** S3 and AWS error codes a store throttles with (the HTTP status is 503 or 429 besides). */
const THROTTLED_NAMES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequests',
]);

/** A failed step of an SDK copy, naming the store that failed it; the SDK's error is the cause. */
export class SdkStepError extends Error {
  override name = 'SdkStepError';
  readonly store: 'source' | 'destination';
  readonly step: string;
  constructor(store: 'source' | 'destination', step: string, cause: unknown) {
    super(`${store} ${step}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.store = store;
    this.step = step;
  }
}
