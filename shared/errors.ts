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
  constructor(kind: CopyFailureKind, message: string, where: { bucket: string; key: string; attempt: number }) {
    super(message);
    this.kind = kind;
    this.bucket = where.bucket;
    this.key = where.key;
    this.attempt = where.attempt;
  }
}

export type CopyFailureKind =
  | 'not_found' // the source object is gone
  | 'auth' // the source or destination refused our credentials
  | 'verify' // the destination does not match after the copy
  | 'unreachable' // no answer from a store: connection refused or reset, unknown host, timeout
  | 'copy' // rclone or the SDK reported a failure
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
  /\b(dial tcp|connection refused|no such host|network is unreachable|no route to host|i\/o timeout|connection reset by peer|TLS handshake timeout|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ECONNRESET)\b/;

export function looksUnreachable(text: string): boolean {
  return UNREACHABLE.test(text);
}
