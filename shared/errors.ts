// Typed errors for the places where callers branch on what went wrong.

/** Bad configuration: the message names the setting, the value and what is allowed. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** A message that can never succeed as it is: dead-lettered at once with this reason. */
export class MalformedMessageError extends Error {
  override name = 'MalformedMessageError';
}

/** What a single object copy failed with, with the context an operator needs to act. */
export class CopyError extends Error {
  override name = 'CopyError';
  readonly bucket: string;
  readonly key: string;
  readonly attempt: number;
  /** Why, in a word that metrics can use as a bounded label. */
  readonly kind: CopyFailureKind;
  /** The store that failed, where the error shows it. */
  readonly store: StoreSide | undefined;
  constructor(
    kind: CopyFailureKind,
    message: string,
    where: { bucket: string; key: string; attempt: number; store?: StoreSide },
  ) {
    super(message);
    this.kind = kind;
    this.bucket = where.bucket;
    this.key = where.key;
    this.attempt = where.attempt;
    this.store = where.store;
  }
}

export type StoreSide = 'source' | 'destination';

export type CopyFailureKind =
  | 'not_found' // the source object is gone
  | 'auth' // the source or destination refused our credentials
  | 'verify' // the destination does not match after the copy
  | 'unreachable' // no answer from a store: connection refused or reset, unknown host, timeout
  | 'copy' // rclone or the SDK reported a failure
  | 'refused' // S3 refuses the object's attributes (over 10 tags, over 2 KB of user metadata, ...)
  | 'child' // the rclone child died and no other could take the copy
  | 'throttled' // a store kept refusing with SlowDown, 503 or 429 past the worker's own retries
  | 'aborted'; // the worker is shutting down

/** The HTTP status of an AWS SDK error's answer; undefined when no answer came (network, abort). */
export function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Network-level failures in Go's (rclone's) and Node's words: the store did not answer at all, as
 * opposed to answering with an error.
 */
const UNREACHABLE =
  /\b(dial tcp|connection refused|no such host|network is unreachable|no route to host|i\/o timeout|connection reset by peer|TLS handshake timeout|timeout awaiting response headers|context deadline exceeded|unexpected EOF|broken pipe|socket hang up|TimeoutError|timed out|no activity for|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET|ECONNABORTED|EPIPE)\b/;

export function looksUnreachable(text: string): boolean {
  return UNREACHABLE.test(text);
}

/**
 * S3 error codes that say the store did not accept who we are (a wrong or unknown key, an expired
 * token), as opposed to AccessDenied, which a store answers after it authenticated the request (a
 * policy or ACL refusing one object or action).
 */
const CREDENTIAL_CODES =
  /\b(InvalidAccessKeyId|SignatureDoesNotMatch|InvalidToken|ExpiredToken|TokenRefreshRequired|InvalidClientTokenId|AuthorizationHeaderMalformed|NoCredentialProviders|UnrecognizedClientException)\b/;

export function credentialCode(text: string): string | undefined {
  return CREDENTIAL_CODES.exec(text)?.[1];
}
