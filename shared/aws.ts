// AWS clients for both sides. The SDK's default credential chain and its AWS_ENDPOINT_URL /
// AWS_ENDPOINT_URL_<SERVICE> support make the same binary run against AWS and the local stack.
import { Agent } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { retryUnlessThrottled } from './retry-unless-throttled.ts';

export type SourceCredentials = {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
};

/**
 * How long a store may take to accept a connection, and stay silent on an open one, before the SDK
 * gives up on the request (and its retry strategy tries again: three attempts in all by default).
 * A store that stops answering must be seen as unreachable within about 30 s (see the worker's
 * outage gate), and without an idle limit a black-holed connection holds a copy (and its message)
 * forever: Node sets none.
 */
export type StoreTimeouts = { connectMs: number; idleMs: number };

export function storeTimeouts(config: {
  worker: { storeConnectTimeoutSeconds: number; storeIdleTimeoutSeconds: number };
}): StoreTimeouts {
  return {
    connectMs: config.worker.storeConnectTimeoutSeconds * 1000,
    idleMs: config.worker.storeIdleTimeoutSeconds * 1000,
  };
}

/** Shared connection pools: the defaults (50 sockets) throttle a copier running dozens of copies. */
function handler(maxSockets: number, timeouts?: StoreTimeouts): NodeHttpHandler {
  return new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
    httpsAgent: new Agent({ keepAlive: true, maxSockets }),
    connectionTimeout: timeouts?.connectMs ?? 10_000,
    // An idle limit (smithy's socketTimeout; requestTimeout would bound a whole multi-GB transfer).
    ...(timeouts?.idleMs ? { socketTimeout: timeouts.idleMs } : {}),
  });
}

const region = (explicit?: string): string | undefined => explicit || undefined;

export function sqsClient(regionName?: string): SQSClient {
  return new SQSClient({ region: region(regionName), requestHandler: handler(64) });
}

export function secretsClient(regionName?: string): SecretsManagerClient {
  // Bounded: the worker reads the secrets again at every probe while paused, and a read that hangs
  // would hold the pause for ever.
  return new SecretsManagerClient({
    region: region(regionName),
    requestHandler: handler(8, { connectMs: 5000, idleMs: 10_000 }),
  });
}

export function autoScalingClient(regionName?: string): AutoScalingClient {
  return new AutoScalingClient({ region: region(regionName) });
}

/** The destination (Amazon S3, or the local stack): default credential chain. */
export function destS3Client(options: {
  region?: string;
  endpoint?: string;
  maxSockets?: number;
  timeouts?: StoreTimeouts;
}): S3Client {
  return new S3Client({
    region: region(options.region),
    ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    requestHandler: handler(options.maxSockets ?? 128, options.timeouts),
    logger: QUIET,
  });
}

/**
 * Without a logger of its own the SDK writes to the console, once per failed streamed UploadPart ("An error
 * was encountered in a non-retryable streaming request"): the ranged copy retries that part and the
 * worker logs what fails for good, so the console line is noise in the journal.
 */
const QUIET = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The source (any S3-compatible store): explicit endpoint and keys. `retryThrottled: false` leaves a
 * refused request (SlowDown, 429) to the caller at once (retry-unless-throttled.ts).
 */
export function sourceS3Client(
  creds: SourceCredentials,
  options: {
    region: string;
    forcePathStyle: boolean;
    maxSockets?: number;
    timeouts?: StoreTimeouts;
    retryThrottled?: boolean;
  },
): S3Client {
  return new S3Client({
    region: options.region,
    endpoint: creds.endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey },
    requestHandler: handler(options.maxSockets ?? 128, options.timeouts),
    ...(options.retryThrottled === false ? { retryStrategy: retryUnlessThrottled() } : {}),
  });
}

/** The endpoint the destination SDK client uses, which rclone (which ignores AWS_ENDPOINT_URL) must be told. */
export function destEndpoint(configured: string, env: NodeJS.ProcessEnv = process.env): string {
  return configured || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || '';
}
