// The parts of rclone's rc API the pool uses, and what its error replies mean.
import { credentialCode, looksUnreachable, type CopyFailureKind, type StoreSide } from '../shared/errors.ts';

/** operations/copyfile: copies one object, skipping a destination that is already identical. */
export type CopyFileParams = {
  srcFs: string;
  srcRemote: string;
  dstFs: string;
  dstRemote: string;
  /** Per-call overrides of rclone's global options (rclone's `_config` rc parameter). */
  _config?: {
    NoCheckDest?: boolean;
    /** Metadata set on the upload (--metadata-set); `x-amz-tagging` becomes the upload's tag set (1.75.2 verified). */
    MetadataSet?: Record<string, string>;
  };
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
/** S3 refusing the object's attributes: no retry will change that. */
const REFUSED = /\b(MetadataTooLarge|InvalidTag|InvalidStorageClass)\b/;
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
  if (reply.status === 401 || reply.status === 403 || AUTH.test(reply.error) || credentialCode(reply.error)) {
    return 'auth';
  }
  if (REFUSED.test(reply.error)) return 'refused';
  if (THROTTLED.test(reply.error)) return 'throttled';
  // rclone's own connect and idle timeouts (--contimeout, --timeout: see rclone-env.ts) read as these too
  if (looksUnreachable(reply.error)) return 'unreachable';
  return 'copy';
}

/** The S3 operations rclone's error text names (the AWS SDK for Go's "operation error S3: X"). */
const DEST_OPERATIONS = /\b(PutObject|CreateMultipartUpload|UploadPart|CompleteMultipartUpload|AbortMultipartUpload)\b/;
const METHOD_URL = /\b(?:Get|Head|Put|Post|Delete) "(https?:\/\/[^/"]+)/;

/**
 * Which store a copyfile error came from, where the text shows it: rclone says "failed to open source
 * object", uploads only to the destination, GETs only the source, and names the URL of a request that
 * got no answer. A HEAD refused with 403 names neither (undefined).
 */
export function rcErrorStore(error: string, endpoints: { source: string; dest: string }): StoreSide | undefined {
  if (/failed to open source object/.test(error)) return 'source';
  const url = METHOD_URL.exec(error)?.[1];
  if (url) {
    if (endpoints.source && url === originOf(endpoints.source)) return 'source';
    if (endpoints.dest && url === originOf(endpoints.dest)) return 'destination';
  }
  if (DEST_OPERATIONS.test(error)) return 'destination';
  if (/\bGetObject\b/.test(error)) return 'source';
  return undefined;
}

function originOf(endpoint: string): string | undefined {
  try {
    return new URL(endpoint).origin;
  } catch {
    return undefined;
  }
}

/** The S3 error code in rclone's text ("api error SignatureDoesNotMatch: ..."), if any. */
export function rcErrorCode(error: string): string | undefined {
  return /\bapi error (\w+):/.exec(error)?.[1];
}

/** The error text on one line, without the request ids that make every message unique. */
export function describeRcError(reply: Pick<RcErrorReply, 'error' | 'status'>): string {
  const text = reply.error
    .replace(/,?\s*request id: [^,\s]*(, host id: \S*)?/g, '')
    .replace(/ RequestID: [^,]*, HostID: [^,]*,/g, '')
    .replace(/\s+/g, ' ')
    .trim();
  return `${text} (rc status ${reply.status})`;
}

/**
 * A failed copyfile as a dead letter should read: the S3 code, the store and its endpoint, then
 * rclone's text, e.g. `SignatureDoesNotMatch from source https://s3.example: rclone copyfile: ...`.
 * `endpoints.dest` empty means Amazon S3's default endpoint.
 */
export function describeCopyFailure(
  reply: Pick<RcErrorReply, 'error' | 'status'>,
  endpoints: { source: string; dest: string },
): { store: StoreSide | undefined; text: string } {
  const store = rcErrorStore(reply.error, endpoints);
  const code = rcErrorCode(reply.error) ?? (looksUnreachable(reply.error) ? 'no answer' : undefined);
  const where = store
    ? `${store} ${store === 'source' ? endpoints.source : endpoints.dest || 'Amazon S3'}`
    : 'source or destination';
  const head = code ? `${code} from ${where}` : `from ${where}`;
  return { store, text: `${head}: rclone copyfile: ${describeRcError(reply)}` };
}
