// AWS clients for both sides. The SDK's default credential chain and its AWS_ENDPOINT_URL /
// AWS_ENDPOINT_URL_<SERVICE> support make the same binary run against AWS and the local stack.
import { Agent } from 'node:https';
import { Agent as HttpAgent } from 'node:http';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export type SourceCredentials = {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
};

/** Shared connection pools: the defaults (50 sockets) throttle a copier running dozens of copies. */
function handler(maxSockets: number): NodeHttpHandler {
  return new NodeHttpHandler({
    httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
    httpsAgent: new Agent({ keepAlive: true, maxSockets }),
    connectionTimeout: 10_000,
  });
}

const region = (explicit?: string): string | undefined => explicit || undefined;

export function sqsClient(regionName?: string): SQSClient {
  return new SQSClient({ region: region(regionName), requestHandler: handler(64) });
}

export function secretsClient(regionName?: string): SecretsManagerClient {
  return new SecretsManagerClient({ region: region(regionName) });
}

export function autoScalingClient(regionName?: string): AutoScalingClient {
  return new AutoScalingClient({ region: region(regionName) });
}

/** The destination (Amazon S3, or the local stack): default credential chain. */
export function destS3Client(options: { region?: string; endpoint?: string; maxSockets?: number }): S3Client {
  return new S3Client({
    region: region(options.region),
    ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
    requestHandler: handler(options.maxSockets ?? 128),
  });
}

/** The source (any S3-compatible store): explicit endpoint and keys. */
export function sourceS3Client(
  creds: SourceCredentials,
  options: { region: string; forcePathStyle: boolean; maxSockets?: number },
): S3Client {
  return new S3Client({
    region: options.region,
    endpoint: creds.endpoint,
    forcePathStyle: options.forcePathStyle,
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey },
    requestHandler: handler(options.maxSockets ?? 128),
  });
}

/** The endpoint the destination SDK client uses, which rclone (which ignores AWS_ENDPOINT_URL) must be told. */
export function destEndpoint(configured: string, env: NodeJS.ProcessEnv = process.env): string {
  return configured || env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || '';
}
