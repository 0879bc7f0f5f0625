// The command line and environment of an `rclone rcd` child, built explicitly by pure functions.
// Secrets (source keys, rc credentials, the daemon's AWS credentials) travel only in the child's
// environment, never on its command line, where any local user can read them (ps, /proc/PID/cmdline).
import { ConfigError } from '../shared/errors.ts';
import { rcloneControls, type DestControls } from './dest-controls.ts';

/** A source store: any S3-compatible endpoint with explicit keys. */
export type SourceRemote = {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  provider: string;
  forcePathStyle: boolean;
  options: Record<string, string>;
};

/** The destination: Amazon S3 (or the local stack) with the daemon's own credentials (env_auth). */
export type DestRemote = {
  endpoint: string;
  region: string;
  options: Record<string, string>;
  /** Storage class and encryption of every object written (default: S3's own). */
  controls?: DestControls;
};

/** Remote names in every rc call: `src:<bucket>` and `dst:<bucket>`. Distinct, so never a server-side copy. */
export const SOURCE_REMOTE = 'src';
export const DEST_REMOTE = 'dst';

/**
 * rclone's s3 `encoding` that makes remote names S3 keys, byte for byte. rclone turns a remote name into
 * a key with `FromStandardPath`, which returns the name unchanged when the backend encoding equals its
 * internal Standard encoding (Slash|Ctl|Del|Dot). With the s3 default (Slash,InvalidUtf8,Dot) keys such as
 * `a／b` or `q‛` address other objects or none. Still so in 1.75.2, whose `Raw` encoding loses `a／b` and
 * `␀` instead (test/rclone/workarounds.test.ts). Verified: keys with ‛ ／ ＼ ␀ ␡ ． tab and DEL copy to the same key.
 */
export const KEY_ENCODING = 'Slash,Ctl,Del,Dot';

/** Variables of the daemon's environment a child may see. Anything else (AWS_CA_BUNDLE above all) stays out. */
const PASS_THROUGH = [
  'PATH',
  'HOME',
  'TMPDIR',
  'LANG',
  'LC_ALL',
  // a proxy may be the only way out of a private subnet
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  // the destination's env_auth: the AWS SDK's credential chain
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CONFIG_FILE',
  'AWS_SDK_LOAD_CONFIG',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_EC2_METADATA_DISABLED',
];
const PASS_THROUGH_PREFIXES = ['AWS_CONTAINER_']; // ECS task role

/** Option names become variable names; anything else could inject other settings. */
const OPTION_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Flags that would carry a secret onto the command line or break the pool's own control of the child. */
const FORBIDDEN_FLAG =
  /^--(rc-user|rc-pass|rc-addr|rc-no-auth|rc-htpasswd|rc-serve|rc-web-gui|s3-access-key-id|s3-secret-access-key|s3-session-token|config|password-command)(=|$)/;

export type ChildEnvInput = {
  source: SourceRemote;
  dest: DestRemote;
  baseEnv: NodeJS.ProcessEnv;
  rcUser: string;
  rcPass: string;
};

function remoteVariables(name: string, settings: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [option, value] of Object.entries(settings)) {
    if (!OPTION_NAME.test(option)) {
      throw new ConfigError(`rclone option name ${JSON.stringify(option)} of remote ${name} must match ${OPTION_NAME}`);
    }
    out[`RCLONE_CONFIG_${name.toUpperCase()}_${option.toUpperCase()}`] = value;
  }
  return out;
}

/** Settings of the source remote; extra options may override the defaults set here. */
export function sourceSettings(source: SourceRemote): Record<string, string> {
  return {
    type: 's3',
    provider: source.provider,
    endpoint: source.endpoint,
    access_key_id: source.accessKeyId,
    secret_access_key: source.secretAccessKey,
    region: source.region,
    force_path_style: String(source.forcePathStyle),
    env_auth: 'false',
    encoding: KEY_ENCODING,
    ...lowerKeys(source.options),
  };
}

/**
 * Settings of the destination remote: Amazon S3 (provider AWS) with env_auth. With an explicit endpoint
 * (the local stack, a gateway) the provider is `Other` with path-style addressing. rclone 1.60 forced
 * virtual-host addressing for provider AWS; 1.75 honours force_path_style, but its provider AWS then
 * fails every upload to a plain-http endpoint ("unseekable stream is not supported without TLS and
 * trailing checksum"): test/rclone/workarounds.test.ts shows both. Extra options may override any of it
 * (e.g. {"provider":"AWS"} for an https VPC endpoint).
 */
export function destSettings(dest: DestRemote, baseEnv: NodeJS.ProcessEnv): Record<string, string> {
  const region = dest.region || baseEnv.AWS_REGION || baseEnv.AWS_DEFAULT_REGION || '';
  return {
    type: 's3',
    env_auth: 'true',
    ...(dest.endpoint ? { provider: 'Other', endpoint: dest.endpoint, force_path_style: 'true' } : { provider: 'AWS' }),
    ...(region ? { region } : {}),
    // the buckets exist; checking would need s3:CreateBucket or cost a call per new Fs
    no_check_bucket: 'true',
    // the worker verifies every copy itself (daemon/verify-batch.ts); rclone's own HEAD after each
    // upload would be a second request per object
    no_head: 'true',
    encoding: KEY_ENCODING,
    ...(dest.controls ? rcloneControls(dest.controls) : {}),
    ...lowerKeys(dest.options),
  };
}

function lowerKeys(options: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(options).map(([k, v]) => [k.toLowerCase(), v]));
}

/** The complete environment of a child: an allow-list of the daemon's, both remotes, the rc credentials. */
export function childEnv(input: ChildEnvInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.baseEnv)) {
    if (value === undefined) continue;
    if (PASS_THROUGH.includes(name) || PASS_THROUGH_PREFIXES.some((p) => name.startsWith(p))) env[name] = value;
  }
  return {
    ...env,
    RCLONE_CONFIG: '/dev/null',
    RCLONE_RC_USER: input.rcUser,
    RCLONE_RC_PASS: input.rcPass,
    ...remoteVariables(SOURCE_REMOTE, sourceSettings(input.source)),
    ...remoteVariables(DEST_REMOTE, destSettings(input.dest, input.baseEnv)),
  };
}

export type ChildArgsInput = {
  transfersPerChild: number;
  flags: string[];
  baseEnv: NodeJS.ProcessEnv;
  /** Connect and idle timeouts towards the stores, in ms (defaults: 5 s and 10 s). */
  timeouts?: { connectMs: number; idleMs: number };
  /** rclone's --low-level-retries (default LOW_LEVEL_RETRIES): decided by lowLevelRetries(). */
  lowLevelRetries?: number;
  /** Let rclone write its own x-amz-meta-mtime, -btime and -md5chksum (config rclone.keepOwnMetadata). */
  keepOwnMetadata?: boolean;
};

/**
 * rclone 1.75.2 writes metadata of its own on every upload: x-amz-meta-mtime always (no flag stops it),
 * x-amz-meta-btime (the source's Last-Modified) with --metadata, x-amz-meta-md5chksum on multipart. The
 * destination must hold only what the source had, so: --s3-disable-checksum stops md5chksum (the worker
 * verifies every copy itself), and an upload header whose value HTTP forbids (DEL) overwrites mtime and
 * btime, which rclone's last check before the upload then drops ("Dropping invalid metadata value").
 * Verified in backend/s3 prepareUpload and for real (test/worker/fidelity.test.ts, test/rclone/env.test.ts).
 */
export const DROPPED_VALUE = '\x7f';
export function ownMetadataFlags(keep: boolean): string[] {
  if (keep) return [];
  return [
    '--s3-disable-checksum',
    `--header-upload=X-Amz-Meta-Mtime: ${DROPPED_VALUE}`,
    `--header-upload=X-Amz-Meta-Btime: ${DROPPED_VALUE}`,
  ];
}

/** rclone's complaint about the values ownMetadataFlags plants: expected on every upload, so not logged. */
export const DROPPED_OWN_METADATA = /Dropping invalid metadata value "\\x7f" for key "(mtime|btime)"/;

/** rclone's low-level retries without the adaptive copy limits: its S3 calls are tried this many times (see childArgs). */
export const LOW_LEVEL_RETRIES = 2;

/**
 * The one place rclone's --low-level-retries is decided. Adaptive: one low-level try, so a SlowDown
 * comes back to the worker at once (each extra low-level try also multiplies the AWS SDK's own
 * attempts: measured on 1.75.2 against a store refusing everything, 2 requests per copy at 1, 8 at 2
 * and over two minutes of retrying at the default 10). Otherwise two (see childArgs's timeouts).
 */
export function lowLevelRetries(adaptive: boolean): number {
  return adaptive ? 1 : LOW_LEVEL_RETRIES;
}

/** The child's arguments: nothing secret. Throws ConfigError for a flag that must not be given. */
export function childArgs(input: ChildArgsInput): string[] {
  for (const flag of input.flags) {
    if (FORBIDDEN_FLAG.test(flag)) {
      throw new ConfigError(
        `rclone flag ${JSON.stringify(flag.split('=')[0])} is not allowed: the pool sets rc address and credentials ` +
          'itself, and keys must never appear on a command line (use the source settings or the environment)',
      );
    }
  }
  const caBundle = input.baseEnv.AWS_CA_BUNDLE;
  return [
    'rcd',
    // port 0: the kernel picks a free port and rclone prints it, so two children never race for one
    '--rc-addr=127.0.0.1:0',
    `--transfers=${input.transfersPerChild}`,
    // an identical destination with another mtime is left alone, not rewritten by a server-side copy
    '--no-update-modtime',
    // carry Content-Type, Cache-Control, Content-Disposition, Content-Encoding, Content-Language and
    // user metadata (1.75.2 verified), without rclone's own unless asked for
    '--metadata',
    ...ownMetadataFlags(input.keepOwnMetadata ?? false),
    // a synchronous copyfile of a large object may take hours; the default cuts the reply at 1 h
    '--rc-server-write-timeout=168h',
    // every rc call is a job kept in memory until it expires
    '--rc-job-expire-duration=30s',
    // A store that stops answering must fail the copy soon enough for the outage gate to see it within
    // about 30 s, instead of rclone's defaults (connect 1 min, idle 5 min, 10 low-level retries: a
    // refused endpoint took 90 s, a black hole far longer). Measured with 1.75.2: a refused connection
    // fails in about 3 s; a silent PUT after 2 × idle; a silent source GET, which rclone retries in
    // its SDK, its pacer and its re-open, after about 8 × idle. --retries does not apply to
    // operations/copyfile (it is the sync commands' outer loop). rclone.flags may override these.
    `--contimeout=${Math.ceil((input.timeouts?.connectMs ?? 5000) / 1000)}s`,
    `--timeout=${Math.ceil((input.timeouts?.idleMs ?? 10_000) / 1000)}s`,
    `--low-level-retries=${input.lowLevelRetries ?? LOW_LEVEL_RETRIES}`,
    // rclone cannot use AWS_CA_BUNDLE (LoadCustomCABundleError on every S3 call): give it the same file
    ...(caBundle ? [`--ca-cert=${caBundle}`] : []),
    ...input.flags,
  ];
}

export type LimitFlagsInput = {
  children: number;
  /** Per worker, 0: none. */
  maxRequestsPerSecond: number;
  maxMiBPerSecond: number;
};

/**
 * Flags each child gets for the worker's hard caps, before the user's own flags (which win), split
 * evenly between the children: rclone's --tpslimit and --bwlimit are per process.
 */
export function limitFlags(input: LimitFlagsInput): string[] {
  const share = (total: number): string => String(Math.round((total / input.children) * 1000) / 1000);
  return [
    ...(input.maxRequestsPerSecond > 0 ? [`--tpslimit=${share(input.maxRequestsPerSecond)}`] : []),
    ...(input.maxMiBPerSecond > 0 ? [`--bwlimit=${share(input.maxMiBPerSecond)}M`] : []),
  ];
}
