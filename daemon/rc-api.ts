// The parts of rclone's rc API the pool uses, and what its error replies mean.
import { looksUnreachable, type CopyFailureKind } from '../shared/errors.ts';

/** operations/copyfile: copies one object, skipping a destination that is already identical. */
export type CopyFileParams = {
  srcFs: string;
  srcRemote: string;
  dstFs: string;
  dstRemote: string;
  /** Per-call overrides of rclone's global options (rclone's `_config` rc parameter). */
  _config?: { NoCheckDest?: boolean };
};

/** core/pid: the health check. Its pid proves the port still belongs to our child. */
export type CorePidReply = { pid: number };

/** core/stats (no group): totals since the child started. */
export type CoreStatsReply = { bytes: number; transfers: number; errors: number; transferring?: unknown[] };

/** Every failed rc call answers this JSON with the HTTP status in `status`. */
export type RcErrorReply = { error: string; status: number; input?: unknown; path?: string };

export function isRcErrorReply(value: unknown): value is RcErrorReply {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as RcErrorReply).error === 'string' &&
    typeof (value as RcErrorReply).status === 'number'
  );
}

// S3 error codes and the AWS SDK's status lines rclone passes through in `error`, e.g.
// "Forbidden: Forbidden\n\tstatus code: 403, request id: ..." (a HEAD has no body to name the code).
const AUTH =
  /\b(InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|InvalidToken|ExpiredToken|TokenRefreshRequired|Forbidden|NoCredentialProviders|status code: 40[13])\b/;
const NOT_FOUND = /\b(object not found|NoSuchKey|status code: 404)\b/;
// rclone 1.75 (aws-sdk-go-v2): "https response error StatusCode: 503, ... api error SlowDown: ..."; 1.60 (v1):
// "SlowDown: Please reduce your request rate.\n\tstatus code: 503".
const THROTTLED =
  /\b(SlowDown|Throttling|ThrottlingException|RequestLimitExceeded|TooManyRequests|StatusCode: (503|429)|status code: (503|429))\b/;

/**
 * What a failed copyfile means. rclone answers 404 for a missing source object (and for keys it cannot
 * address), and 500 with the store's error text for everything else.
 */
export function classifyRcError(reply: Pick<RcErrorReply, 'error' | 'status'>): CopyFailureKind {
  if (reply.status === 404 || NOT_FOUND.test(reply.error)) return 'not_found';
  if (reply.status === 401 || reply.status === 403 || AUTH.test(reply.error)) return 'auth';
  if (THROTTLED.test(reply.error)) return 'throttled';
  if (looksUnreachable(reply.error)) return 'unreachable';
  return 'copy';
}

/** The error text on one line, without the request ids that make every message unique. */
export function describeRcError(reply: Pick<RcErrorReply, 'error' | 'status'>): string {
  const text = reply.error
    .replace(/,?\s*request id: [^,\s]*(, host id: \S*)?/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  return `${text} (rc status ${reply.status})`;
}
