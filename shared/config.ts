// One configuration schema for every subcommand. Each setting can come from the config file, an
// environment variable or a flag (in rising precedence), and is validated before anything starts.
import { existsSync, readFileSync } from 'node:fs';
import convict from 'convict';
import { ConfigError } from './errors.ts';

export const DEFAULT_CONFIG_FILE = '/etc/rclone-migrate/config.json';

/** A JSON object of string values (extra rclone remote options such as `{"no_head":"true"}`). */
convict.addFormat({
  name: 'string-map',
  validate(value: unknown) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new Error(`must be a JSON object of strings: value was ${JSON.stringify(value)}`);
    }
    for (const [k, v] of Object.entries(value)) {
      if (typeof v !== 'string') throw new Error(`value of "${k}" must be a string`);
    }
  },
  coerce: (value: unknown) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : value),
});

/** A JSON array of strings (extra non-secret rclone flags). */
convict.addFormat({
  name: 'string-list',
  validate(value: unknown) {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw new Error(`must be a JSON array of strings: value was ${JSON.stringify(value)}`);
    }
  },
  coerce: (value: unknown) => (typeof value === 'string' ? (JSON.parse(value) as unknown) : value),
});

convict.addFormat({
  name: 'positive-int',
  validate(value: unknown) {
    if (!Number.isInteger(value) || (value as number) < 1)
      throw new Error(`must be a whole number ≥ 1: value was ${JSON.stringify(value)}`);
  },
  coerce: (value: unknown) => (typeof value === 'string' ? Number(value) : value),
});

/** The storage classes an object may be written in (S3 Express and Outposts classes are not for a migration). */
export const STORAGE_CLASSES = [
  'STANDARD',
  'INTELLIGENT_TIERING',
  'STANDARD_IA',
  'ONEZONE_IA',
  'GLACIER_IR',
  'GLACIER',
  'DEEP_ARCHIVE',
] as const;
export type StorageClass = (typeof STORAGE_CLASSES)[number];

/** bucket: send nothing, the bucket's default encryption applies. */
export const SSE_MODES = ['bucket', 'SSE-S3', 'SSE-KMS'] as const;
export type SseMode = (typeof SSE_MODES)[number];

const schema = {
  config: {
    doc: 'Path of the JSON config file (a missing default file is ignored)',
    format: String,
    default: DEFAULT_CONFIG_FILE,
    env: 'RCLONE_MIGRATE_CONFIG',
    arg: 'config',
  },
  log: {
    level: {
      doc: 'Log level',
      format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      default: 'info',
      env: 'RCLONE_MIGRATE_LOG_LEVEL',
      arg: 'log-level',
    },
  },
  queue: {
    url: {
      doc: 'URL of the SQS work queue',
      format: String,
      default: '',
      env: 'QUEUE_URL',
      arg: 'queue-url',
    },
    deadLetterUrl: {
      doc: "URL of the dead-letter queue (empty: found from the work queue's redrive policy)",
      format: String,
      default: '',
      env: 'RCLONE_MIGRATE_DEAD_LETTER_URL',
      arg: 'dead-letter-url',
    },
    waitSeconds: {
      doc: 'SQS long-poll wait in seconds (0-20)',
      format: 'int',
      default: 20,
      env: 'RCLONE_MIGRATE_WAIT_SECONDS',
      arg: 'wait-seconds',
    },
    visibilitySeconds: {
      doc: 'Visibility timeout set on received messages and renewed by the heartbeat, in seconds',
      format: 'positive-int',
      default: 120,
      env: 'RCLONE_MIGRATE_VISIBILITY_SECONDS',
      arg: 'visibility-seconds',
    },
    heartbeatSeconds: {
      doc: 'How often visibility of in-flight messages is extended, in seconds (under half the visibility)',
      format: 'positive-int',
      default: 30,
      env: 'RCLONE_MIGRATE_HEARTBEAT_SECONDS',
      arg: 'heartbeat-seconds',
    },
  },
  source: {
    bucket: {
      doc: 'Source bucket (lister)',
      format: String,
      default: '',
      env: 'SOURCE_BUCKET',
      arg: 'source-bucket',
    },
    prefix: {
      doc: 'Only keys under this prefix (lister)',
      format: String,
      default: '',
      env: 'PREFIX',
      arg: 'prefix',
    },
    endpoint: {
      doc: 'Source S3 endpoint URL (empty: read from Secrets Manager)',
      format: String,
      default: '',
      env: 'RCLONE_MIGRATE_SOURCE_ENDPOINT',
      arg: 'source-endpoint',
    },
    accessKeyId: {
      doc: 'Source access key id (empty: read from Secrets Manager)',
      format: String,
      default: '',
      sensitive: true,
      env: 'RCLONE_MIGRATE_SOURCE_ACCESS_KEY_ID',
      arg: 'source-access-key-id',
    },
    secretAccessKey: {
      doc: 'Source secret access key (empty: read from Secrets Manager)',
      format: String,
      default: '',
      sensitive: true,
      env: 'RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY',
      arg: 'source-secret-access-key',
    },
    region: {
      doc: 'Region name the source expects in signatures',
      format: String,
      default: 'us-east-1',
      env: 'RCLONE_MIGRATE_SOURCE_REGION',
      arg: 'source-region',
    },
    provider: {
      doc: 'rclone S3 provider name of the source (IBMCOS, Wasabi, Minio, Ceph, GCS, Other, ...)',
      format: String,
      default: 'Other',
      env: 'RCLONE_MIGRATE_SOURCE_PROVIDER',
      arg: 'source-provider',
    },
    forcePathStyle: {
      doc: 'Address the source with path-style URLs',
      format: Boolean,
      default: true,
      env: 'RCLONE_MIGRATE_SOURCE_FORCE_PATH_STYLE',
      arg: 'source-force-path-style',
    },
    secretEndpoint: {
      doc: 'Secrets Manager name of the source endpoint',
      format: String,
      default: '/migration/source_endpoint',
      env: 'RCLONE_MIGRATE_SECRET_ENDPOINT',
      arg: 'secret-endpoint',
    },
    secretAccessKeyName: {
      doc: 'Secrets Manager name of the source access key id',
      format: String,
      default: '/migration/source_access_key',
      env: 'RCLONE_MIGRATE_SECRET_ACCESS_KEY',
      arg: 'secret-access-key',
    },
    secretSecretKeyName: {
      doc: 'Secrets Manager name of the source secret access key',
      format: String,
      default: '/migration/source_secret_key',
      env: 'RCLONE_MIGRATE_SECRET_SECRET_KEY',
      arg: 'secret-secret-key',
    },
    rcloneOptions: {
      doc: 'Extra rclone options of the source remote, a JSON object (e.g. {"chunk_size":"16M"})',
      format: 'string-map',
      default: {},
      env: 'RCLONE_MIGRATE_SOURCE_RCLONE_OPTIONS',
      arg: 'source-rclone-options',
    },
  },
  dest: {
    bucket: {
      doc: 'Destination bucket (lister)',
      format: String,
      default: '',
      env: 'DEST_BUCKET',
      arg: 'dest-bucket',
    },
    prefix: {
      doc: 'Prefix prepended to every destination key (lister)',
      format: String,
      default: '',
      env: 'RCLONE_MIGRATE_DEST_PREFIX',
      arg: 'dest-prefix',
    },
    region: {
      doc: 'Destination region (empty: the SDK default chain)',
      format: String,
      default: '',
      env: 'RCLONE_MIGRATE_DEST_REGION',
      arg: 'dest-region',
    },
    endpoint: {
      doc: 'Destination S3 endpoint (empty: AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, else AWS)',
      format: String,
      default: '',
      env: 'RCLONE_MIGRATE_DEST_ENDPOINT',
      arg: 'dest-endpoint',
    },
    rcloneOptions: {
      doc: 'Extra rclone options of the destination remote, a JSON object',
      format: 'string-map',
      default: {},
      env: 'RCLONE_MIGRATE_DEST_RCLONE_OPTIONS',
      arg: 'dest-rclone-options',
    },
    storageClass: {
      doc: 'Storage class of every object written: STANDARD, INTELLIGENT_TIERING, STANDARD_IA, ONEZONE_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE',
      format: [...STORAGE_CLASSES],
      default: 'STANDARD',
      env: 'RCLONE_MIGRATE_STORAGE_CLASS',
      arg: 'storage-class',
    },
    sse: {
      doc: "Server-side encryption of every object written: bucket (the bucket's default), SSE-S3 or SSE-KMS",
      format: [...SSE_MODES],
      default: 'bucket',
      env: 'RCLONE_MIGRATE_SSE',
      arg: 'sse',
    },
    sseKmsKeyId: {
      doc: 'With SSE-KMS: the KMS key (id, ARN or alias ARN; empty: the AWS managed key aws/s3)',
      format: String,
      default: '',
      env: 'RCLONE_MIGRATE_SSE_KMS_KEY_ID',
      arg: 'sse-kms-key-id',
    },
    sseBucketKey: {
      doc: "With SSE-KMS: use an S3 Bucket Key (far fewer KMS requests); the rclone copy path cannot say, so there the bucket's setting applies",
      format: Boolean,
      default: true,
      env: 'RCLONE_MIGRATE_SSE_BUCKET_KEY',
      arg: 'sse-bucket-key',
    },
  },
  worker: {
    maxAttempts: {
      doc: 'Attempts per key before it goes to the dead-letter queue',
      format: 'positive-int',
      default: 3,
      env: 'RCLONE_MIGRATE_MAX_ATTEMPTS',
      arg: 'max-attempts',
    },
    maxMessagesInFlight: {
      doc: 'Messages held at once (0: enough to keep every copy slot busy)',
      format: 'nat',
      default: 0,
      env: 'RCLONE_MIGRATE_MAX_MESSAGES_IN_FLIGHT',
      arg: 'max-messages-in-flight',
    },
    retryDelaySeconds: {
      doc: 'Failed keys are re-sent with this delay times their attempt number, in seconds (SQS caps it at 900)',
      format: 'nat',
      default: 10,
      env: 'RCLONE_MIGRATE_RETRY_DELAY_SECONDS',
      arg: 'retry-delay-seconds',
    },
    drainSeconds: {
      doc: 'On SIGTERM, how long in-flight work may finish before it is handed back, in seconds',
      format: 'nat',
      default: 120,
      env: 'RCLONE_MIGRATE_DRAIN_SECONDS',
      arg: 'drain-seconds',
    },
    outageProbeSeconds: {
      doc: 'When a batch finds a store not answering or refusing our credentials, receiving stops and the stores are probed at once, then after this many seconds, then at doubling intervals up to 5 minutes (the source secrets are read again at every probe)',
      format: 'positive-int',
      default: 15,
      env: 'RCLONE_MIGRATE_OUTAGE_PROBE_SECONDS',
      arg: 'outage-probe-seconds',
    },
    storeConnectTimeoutSeconds: {
      doc: 'How long a store may take to accept a connection before the attempt is abandoned, in seconds (rclone --contimeout and the SDK clients of both stores)',
      format: 'positive-int',
      default: 5,
      env: 'RCLONE_MIGRATE_STORE_CONNECT_TIMEOUT_SECONDS',
      arg: 'store-connect-timeout-seconds',
    },
    storeIdleTimeoutSeconds: {
      doc: 'How long a connection to a store may stay silent before the request is cut and retried, in seconds (rclone --timeout and the SDK clients of both stores); while copies are in flight and none has ended for twice this long, the stores are probed, and one that does not answer pauses receiving',
      format: 'positive-int',
      default: 10,
      env: 'RCLONE_MIGRATE_STORE_IDLE_TIMEOUT_SECONDS',
      arg: 'store-idle-timeout-seconds',
    },
    verifyBy: {
      doc: 'How copies are checked at the destination: list (one ListObjectsV2 per batch, a HEAD only where the listing cannot tell) or head (a HEAD per object)',
      format: ['list', 'head'],
      default: 'list',
      env: 'RCLONE_MIGRATE_VERIFY_BY',
      arg: 'verify-by',
    },
    verifyEtag: {
      doc: 'Compare ETags (or rclone MD5 metadata) at the destination where they are comparable',
      format: Boolean,
      default: true,
      env: 'RCLONE_MIGRATE_VERIFY_ETAG',
      arg: 'verify-etag',
    },
    copyPath: {
      doc: 'Who copies keys rclone can address: auto (objects listed at worker.rcloneFromMiB or more by rclone, smaller ones by the SDK), sdk (GetObject streamed into an upload, large objects by ranged parts) or rclone (the rclone rcd children). Objects with Expires or Website-Redirect-Location, which rclone cannot set, always go the SDK way: every path copies the whole object (system and user metadata, tags, nothing added)',
      format: ['auto', 'sdk', 'rclone'],
      default: 'auto',
      env: 'RCLONE_MIGRATE_COPY_PATH',
      arg: 'copy-path',
    },
    rcloneFromMiB: {
      doc: 'With copyPath auto: objects of at least this size (MiB, as listed) go by rclone, whose Go copy moves large objects with less CPU per byte; smaller ones by the SDK, which spends no source HEAD on them',
      format: 'positive-int',
      default: 64,
      env: 'RCLONE_MIGRATE_RCLONE_FROM_MIB',
      arg: 'rclone-from-mib',
    },
    copyTags: {
      doc: "Copying tags: count (GetObjectTagging where the source's x-amz-tagging-count says there are tags), always (for a store that does not send the count: one more request per object), off",
      format: ['count', 'always', 'off'],
      default: 'count',
      env: 'RCLONE_MIGRATE_COPY_TAGS',
      arg: 'copy-tags',
    },
    sdkPartSizeMiB: {
      doc: 'Part size of multipart uploads on the SDK copy path, MiB',
      format: 'positive-int',
      default: 64,
      env: 'RCLONE_MIGRATE_SDK_PART_SIZE_MIB',
      arg: 'sdk-part-size-mib',
    },
    sdkPartConcurrency: {
      doc: 'Parts of one object copied at once on the SDK copy path, for objects listed above one part: each a ranged GET streamed into UploadPart (streams, not part buffers, in memory)',
      format: 'positive-int',
      default: 4,
      env: 'RCLONE_MIGRATE_SDK_PART_CONCURRENCY',
      arg: 'sdk-part-concurrency',
    },
    sqsUnhealthySeconds: {
      doc: 'Report unhealthy after SQS polling has failed for this long, in seconds',
      format: 'positive-int',
      default: 120,
      env: 'RCLONE_MIGRATE_SQS_UNHEALTHY_SECONDS',
      arg: 'sqs-unhealthy-seconds',
    },
    adaptiveConcurrency: {
      doc: 'Adapt the copies in flight and the copy starts per second to each store: fewer when it throttles (SlowDown, 503, 429), more while it keeps up; throttled attempts are retried in place, and rclone children and the source SDK client make one try per refused request so the worker sees every refusal. Off: only the retries of the SDK and of rclone, then the keys come back through the queue (a throttled key spends no attempt), far slower (BENCHMARKS.md)',
      format: Boolean,
      default: true,
      env: 'RCLONE_MIGRATE_ADAPTIVE_CONCURRENCY',
      arg: 'adaptive-concurrency',
    },
    maxRequestsPerSecond: {
      doc: 'Hard cap on HTTP requests per second to the stores, per worker (0: none); each rclone child gets an equal share as --tpslimit, the SDK path a token bucket',
      format: 'nat',
      default: 0,
      env: 'RCLONE_MIGRATE_MAX_REQUESTS_PER_SECOND',
      arg: 'max-requests-per-second',
    },
    maxMiBPerSecond: {
      doc: 'Hard cap on bandwidth per worker in MiB/s (0: none); each rclone child gets an equal share as --bwlimit, the SDK path a byte bucket',
      format: 'nat',
      default: 0,
      env: 'RCLONE_MIGRATE_MAX_MIB_PER_SECOND',
      arg: 'max-mib-per-second',
    },
  },
  rclone: {
    binary: {
      doc: 'rclone executable',
      format: String,
      default: 'rclone',
      env: 'RCLONE_MIGRATE_RCLONE_BINARY',
      arg: 'rclone-binary',
    },
    children: {
      doc: 'Number of long-lived rclone rcd children',
      format: 'positive-int',
      default: 6,
      env: 'RCLONE_MIGRATE_RCLONE_CHILDREN',
      arg: 'rclone-children',
    },
    transfersPerChild: {
      doc: 'Copies each rclone child runs at once',
      format: 'positive-int',
      default: 4,
      env: 'RCLONE_MIGRATE_RCLONE_TRANSFERS_PER_CHILD',
      arg: 'rclone-transfers-per-child',
    },
    flags: {
      doc: 'Extra global rclone flags, a JSON array (no secrets: flags are visible in ps)',
      format: 'string-list',
      default: [],
      env: 'RCLONE_MIGRATE_RCLONE_FLAGS',
      arg: 'rclone-flags',
    },
    keepOwnMetadata: {
      doc: "On the rclone copy path, let rclone write its own x-amz-meta-mtime, -btime and -md5chksum (off: the destination holds only the source's metadata)",
      format: Boolean,
      default: false,
      env: 'RCLONE_MIGRATE_RCLONE_KEEP_OWN_METADATA',
      arg: 'rclone-keep-own-metadata',
    },
    startTimeoutSeconds: {
      doc: 'How long an rclone child may take to answer after it starts, in seconds',
      format: 'positive-int',
      default: 20,
      env: 'RCLONE_MIGRATE_RCLONE_START_TIMEOUT_SECONDS',
      arg: 'rclone-start-timeout-seconds',
    },
    recycleRssMiB: {
      doc: 'Recycle an rclone child whose resident memory reaches this many MiB (0: never): it takes no new copies, finishes those in flight and is restarted, one child at a time (rclone rcd grows over long runs)',
      format: 'nat',
      default: 1024,
      env: 'RCLONE_MIGRATE_RCLONE_RECYCLE_RSS_MIB',
      arg: 'rclone-recycle-rss-mib',
    },
    recycleAfterCopies: {
      doc: 'Recycle an rclone child, the same way, once it has been given this many copies (0: never)',
      format: 'nat',
      default: 0,
      env: 'RCLONE_MIGRATE_RCLONE_RECYCLE_AFTER_COPIES',
      arg: 'rclone-recycle-after-copies',
    },
  },
  metrics: {
    host: {
      doc: 'Address the /metrics and /healthz server listens on',
      format: String,
      default: '127.0.0.1',
      env: 'RCLONE_MIGRATE_METRICS_HOST',
      arg: 'metrics-host',
    },
    port: {
      doc: 'Port of the /metrics and /healthz server (0: any free port, -1: off)',
      format: 'int',
      default: 9108,
      env: 'RCLONE_MIGRATE_METRICS_PORT',
      arg: 'metrics-port',
    },
  },
  fleet: {
    enabled: {
      doc: 'Fleet behaviour on EC2 (scale-in protection, termination lifecycle hook): auto (on when instance metadata answers), on, off',
      format: ['auto', 'on', 'off'],
      default: 'auto',
      env: 'RCLONE_MIGRATE_FLEET',
      arg: 'fleet',
    },
    autoScalingGroupName: {
      doc: 'Auto Scaling group of this instance (empty: found with DescribeAutoScalingInstances)',
      format: String,
      default: '',
      env: 'RCLONE_MIGRATE_ASG_NAME',
      arg: 'asg-name',
    },
    instanceId: {
      doc: 'EC2 instance id of this worker (empty: read from instance metadata, IMDSv2)',
      format: String,
      default: '',
      env: 'RCLONE_MIGRATE_INSTANCE_ID',
      arg: 'instance-id',
    },
    idleSeconds: {
      doc: 'Scale-in protection is cleared after the worker has been idle this long, in seconds',
      format: 'nat',
      default: 300,
      env: 'RCLONE_MIGRATE_IDLE_SECONDS',
      arg: 'idle-seconds',
    },
    imdsEndpoint: {
      doc: 'Instance metadata service endpoint',
      format: String,
      default: 'http://169.254.169.254',
      env: 'RCLONE_MIGRATE_IMDS_ENDPOINT',
      arg: 'imds-endpoint',
    },
    lifecyclePollSeconds: {
      doc: 'How often the target lifecycle state is read from instance metadata, in seconds',
      format: 'positive-int',
      default: 5,
      env: 'RCLONE_MIGRATE_LIFECYCLE_POLL_SECONDS',
      arg: 'lifecycle-poll-seconds',
    },
    lifecycleHookName: {
      doc: 'Name of the termination lifecycle hook completed after draining (empty: none to complete)',
      format: String,
      default: 'rclone-migrate-drain',
      env: 'RCLONE_MIGRATE_LIFECYCLE_HOOK',
      arg: 'lifecycle-hook',
    },
    lifecycleHeartbeatSeconds: {
      doc: 'While draining for termination, how often the lifecycle action is kept alive, in seconds',
      format: 'positive-int',
      default: 60,
      env: 'RCLONE_MIGRATE_LIFECYCLE_HEARTBEAT_SECONDS',
      arg: 'lifecycle-heartbeat-seconds',
    },
  },
  lister: {
    jobId: {
      doc: 'Job id carried in every message (empty: derived from the buckets, prefix and start time)',
      format: String,
      default: '',
      env: 'RCLONE_MIGRATE_JOB_ID',
      arg: 'job-id',
    },
    batchSize: {
      doc: 'Keys per message (at most 1000)',
      format: 'positive-int',
      default: 20,
      env: 'RCLONE_MIGRATE_BATCH_SIZE',
      arg: 'batch-size',
    },
    batchBytes: {
      doc: 'Bytes of object data per message; an object at least this large travels alone',
      format: 'positive-int',
      default: 1024 * 1024 * 1024,
      env: 'RCLONE_MIGRATE_BATCH_BYTES',
      arg: 'batch-bytes',
    },
    concurrency: {
      doc: 'Key ranges listed at once',
      format: 'positive-int',
      default: 16,
      env: 'RCLONE_MIGRATE_LIST_CONCURRENCY',
      arg: 'list-concurrency',
    },
    sendConcurrency: {
      doc: 'SendMessageBatch calls in flight at once',
      format: 'positive-int',
      default: 16,
      env: 'RCLONE_MIGRATE_SEND_CONCURRENCY',
      arg: 'send-concurrency',
    },
    state: {
      doc: 'Where job checkpoints and manifests are kept: a directory, or s3://bucket/prefix (empty: $XDG_STATE_HOME or ~/.local/state, /rclone-migrate/jobs)',
      format: String,
      default: '',
      env: 'RCLONE_MIGRATE_LISTER_STATE',
      arg: 'state',
    },
    incremental: {
      doc: 'List the destination too and send only keys missing there or different (size, ETag where comparable)',
      format: Boolean,
      default: false,
      env: 'RCLONE_MIGRATE_INCREMENTAL',
      arg: 'incremental',
    },
    pageSize: {
      doc: 'Keys per ListObjectsV2 page (at most 1000)',
      format: 'positive-int',
      default: 1000,
      env: 'RCLONE_MIGRATE_PAGE_SIZE',
      arg: 'page-size',
    },
    json: {
      doc: 'status, verify, redrive: print JSON instead of text',
      format: Boolean,
      default: false,
      env: 'RCLONE_MIGRATE_JSON',
      arg: 'json',
    },
    watchSeconds: {
      doc: 'status: refresh every this many seconds until the job is done (0: print once)',
      format: 'nat',
      default: 0,
      env: 'RCLONE_MIGRATE_WATCH_SECONDS',
      arg: 'watch',
    },
    enqueue: {
      doc: 'verify: send the missing and different keys to the queue',
      format: Boolean,
      default: false,
      env: 'RCLONE_MIGRATE_ENQUEUE',
      arg: 'enqueue',
    },
    deep: {
      doc: 'verify: also compare system metadata, user metadata and tags (a HEAD of each key on both sides, GetObjectTagging where a side has tags)',
      format: Boolean,
      default: false,
      env: 'RCLONE_MIGRATE_VERIFY_DEEP',
      arg: 'deep',
    },
    deepConcurrency: {
      doc: 'verify --deep: keys compared at once (each a HEAD on both sides)',
      format: 'positive-int',
      default: 16,
      env: 'RCLONE_MIGRATE_VERIFY_DEEP_CONCURRENCY',
      arg: 'deep-concurrency',
    },
    redriveFilter: {
      doc: 'redrive: move only dead letters whose reason, errors, keys or job contain this text (empty: all)',
      format: String,
      default: '',
      env: 'RCLONE_MIGRATE_REDRIVE_FILTER',
      arg: 'filter',
    },
    redriveMax: {
      doc: 'redrive: move at most this many messages (0: all)',
      format: 'nat',
      default: 0,
      env: 'RCLONE_MIGRATE_REDRIVE_MAX',
      arg: 'max-messages',
    },
  },
};

export type Config = {
  config: string;
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' };
  queue: {
    url: string;
    deadLetterUrl: string;
    waitSeconds: number;
    visibilitySeconds: number;
    heartbeatSeconds: number;
  };
  source: {
    bucket: string;
    prefix: string;
    endpoint: string;
    accessKeyId: string;
    secretAccessKey: string;
    region: string;
    provider: string;
    forcePathStyle: boolean;
    secretEndpoint: string;
    secretAccessKeyName: string;
    secretSecretKeyName: string;
    rcloneOptions: Record<string, string>;
  };
  dest: {
    bucket: string;
    prefix: string;
    region: string;
    endpoint: string;
    rcloneOptions: Record<string, string>;
    storageClass: StorageClass;
    sse: SseMode;
    sseKmsKeyId: string;
    sseBucketKey: boolean;
  };
  worker: {
    maxAttempts: number;
    maxMessagesInFlight: number;
    retryDelaySeconds: number;
    drainSeconds: number;
    outageProbeSeconds: number;
    storeConnectTimeoutSeconds: number;
    storeIdleTimeoutSeconds: number;
    verifyBy: 'list' | 'head';
    verifyEtag: boolean;
    copyPath: 'auto' | 'sdk' | 'rclone';
    rcloneFromMiB: number;
    copyTags: 'count' | 'always' | 'off';
    sdkPartSizeMiB: number;
    sdkPartConcurrency: number;
    sqsUnhealthySeconds: number;
    adaptiveConcurrency: boolean;
    maxRequestsPerSecond: number;
    maxMiBPerSecond: number;
  };
  rclone: {
    binary: string;
    children: number;
    transfersPerChild: number;
    flags: string[];
    keepOwnMetadata: boolean;
    startTimeoutSeconds: number;
    recycleRssMiB: number;
    recycleAfterCopies: number;
  };
  metrics: { host: string; port: number };
  fleet: {
    enabled: 'auto' | 'on' | 'off';
    autoScalingGroupName: string;
    instanceId: string;
    idleSeconds: number;
    imdsEndpoint: string;
    lifecyclePollSeconds: number;
    lifecycleHookName: string;
    lifecycleHeartbeatSeconds: number;
  };
  lister: {
    jobId: string;
    batchSize: number;
    batchBytes: number;
    concurrency: number;
    sendConcurrency: number;
    state: string;
    incremental: boolean;
    pageSize: number;
    json: boolean;
    watchSeconds: number;
    enqueue: boolean;
    deep: boolean;
    deepConcurrency: number;
    redriveFilter: string;
    redriveMax: number;
  };
};

/** Sections of the schema a subcommand uses: `--help` lists only those. */
export type Section = Exclude<keyof Config, 'config'>;

type Leaf = {
  doc: string;
  default: unknown;
  env: string;
  arg: string;
  sensitive?: boolean;
  format: unknown;
};

/** Every setting: its dotted path and schema entry, in schema order. */
export function settings(): Array<{ path: string; leaf: Leaf }> {
  const out: Array<{ path: string; leaf: Leaf }> = [];
  const walk = (node: Record<string, unknown>, prefix: string): void => {
    for (const [name, value] of Object.entries(node)) {
      const path = prefix ? `${prefix}.${name}` : name;
      if (value !== null && typeof value === 'object' && 'doc' in value) out.push({ path, leaf: value as Leaf });
      else walk(value as Record<string, unknown>, path);
    }
  };
  walk(schema, '');
  return out;
}

/** The paths of every secret setting, for redaction wherever config or logs are printed. */
export const SENSITIVE_PATHS: readonly string[] = settings()
  .filter((s) => s.leaf.sensitive)
  .map((s) => s.path);

/** Flags take `--name value` or `--name=value`; boolean flags may stand alone. */
export function parseFlags(argv: readonly string[]): { flags: string[]; positional: string[] } {
  const known = new Map(settings().map((s) => [s.leaf.arg, s.leaf]));
  const flags: string[] = [];
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (!token.startsWith('--')) {
      positional.push(token);
      continue;
    }
    const eq = token.indexOf('=');
    const name = token.slice(2, eq === -1 ? undefined : eq);
    const leaf = known.get(name);
    if (!leaf) throw new ConfigError(`unknown option --${name} (see --help)`);
    let value: string;
    if (eq !== -1) value = token.slice(eq + 1);
    else if (leaf.format === Boolean && (argv[i + 1] === undefined || argv[i + 1]?.startsWith('--'))) value = 'true';
    else {
      const next = argv[i + 1];
      if (next === undefined) throw new ConfigError(`option --${name} needs a value`);
      value = next;
      i++;
    }
    flags.push(`--${name}`, value);
  }
  return { flags, positional };
}

export type LoadOptions = {
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
};

/**
 * Builds the configuration: defaults, then the config file, then environment, then flags.
 * Throws ConfigError naming the setting, the value and what is allowed.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const { flags } = parseFlags(options.argv ?? []);
  let conf;
  try {
    conf = convict(schema, { args: flags, env: env });
  } catch (err) {
    throw new ConfigError(describeConvictError(err));
  }
  const file = conf.get('config');
  if (existsSync(file)) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
    }
    conf.load(parsed as object);
  } else if (file !== DEFAULT_CONFIG_FILE) {
    throw new ConfigError(`config file ${file} does not exist`);
  }
  try {
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    throw new ConfigError(describeConvictError(err));
  }
  const config = conf.getProperties() as Config;
  checkRelations(config);
  return config;
}

/** A KMS key id (UUID or mrk-…), a key or alias ARN, or alias/NAME. */
const KMS_KEY =
  /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key\/[A-Za-z0-9-]+|alias\/[A-Za-z0-9/_-]+)|alias\/[A-Za-z0-9/_-]+|(mrk-)?[A-Za-z0-9-]{32,36})$/;

/** Rules between settings that convict's per-setting formats cannot say. */
function checkRelations(config: Config): void {
  const { waitSeconds, visibilitySeconds, heartbeatSeconds } = config.queue;
  if (waitSeconds < 0 || waitSeconds > 20) {
    throw new ConfigError(`queue.waitSeconds: value ${waitSeconds} is not allowed: must be 0 to 20 (SQS limit)`);
  }
  if (visibilitySeconds > 43200) {
    throw new ConfigError(`queue.visibilitySeconds: value ${visibilitySeconds} is not allowed: at most 43200 (12 h)`);
  }
  if (heartbeatSeconds * 2 > visibilitySeconds) {
    throw new ConfigError(
      `queue.heartbeatSeconds: value ${heartbeatSeconds} is not allowed: must be at most half of queue.visibilitySeconds (${visibilitySeconds})`,
    );
  }
  if (config.dest.sseKmsKeyId && config.dest.sse !== 'SSE-KMS') {
    throw new ConfigError(
      `dest.sseKmsKeyId: value ${JSON.stringify(config.dest.sseKmsKeyId)} is not allowed: a KMS key needs dest.sse SSE-KMS (it is ${config.dest.sse})`,
    );
  }
  if (config.dest.sseKmsKeyId && !KMS_KEY.test(config.dest.sseKmsKeyId)) {
    throw new ConfigError(
      `dest.sseKmsKeyId: value ${JSON.stringify(config.dest.sseKmsKeyId)} is not allowed: a key id, key ARN, alias/NAME or alias ARN`,
    );
  }
  if (config.metrics.port < -1 || config.metrics.port > 65535) {
    throw new ConfigError(`metrics.port: value ${config.metrics.port} is not allowed: -1 (off), 0 (any) or 1-65535`);
  }
}

function describeConvictError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  // convict words it "key: must be ...: value was X"; keep it, but never echo a secret's value.
  return message
    .split('\n')
    .map((line) => {
      const path = line.split(':')[0]?.trim() ?? '';
      return SENSITIVE_PATHS.includes(path) ? `${path}: invalid value (redacted)` : line;
    })
    .join('\n');
}

/** The config as it may be printed: secrets replaced. */
export function redactedConfig(config: Config): Config {
  const copy = structuredClone(config);
  for (const path of SENSITIVE_PATHS) {
    const [section, name] = path.split('.') as [keyof Config, string];
    const holder = copy[section] as unknown as Record<string, unknown>;
    if (holder[name]) holder[name] = '[redacted]';
  }
  return copy;
}

/** `--help` text for the settings a subcommand uses: flag, environment variable, default, doc. */
export function helpText(sections: readonly Section[]): string {
  const lines: string[] = [];
  for (const section of ['config', ...sections]) {
    const rows = settings().filter((s) => s.path === section || s.path.startsWith(`${section}.`));
    if (rows.length === 0) continue;
    for (const { path, leaf } of rows) {
      const def = leaf.sensitive ? '(none)' : JSON.stringify(leaf.default);
      lines.push(`  --${leaf.arg}  (${path}, env ${leaf.env}, default ${def})`);
      lines.push(`      ${leaf.doc}`);
    }
  }
  return lines.join('\n');
}
