// An S3 client of the local stack reached through a loopback proxy (scripts/latency-proxy.ts), so a
// test sees, holds or answers every request a copy makes.
import { S3Client } from '@aws-sdk/client-s3';
import type { LatencyProxy } from '../../scripts/latency-proxy.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../scripts/local-stack.ts';

export function clientThrough(proxy: LatencyProxy): S3Client {
  return new S3Client({
    endpoint: proxy.endpoint,
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    forcePathStyle: true,
  });
}
