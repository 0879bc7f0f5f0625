// The local embedded stack: a moto server on loopback standing in for SQS, S3 and Secrets Manager,
// with the queues, buckets and secrets a migration needs. Used by the demo, the tests and the bench.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateQueueCommand, GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export type LocalStack = {
  endpoint: string;
  port: number;
  /** Environment for any process that talks to the stack (the SDK reads AWS_ENDPOINT_URL). */
  env: Record<string, string>;
  reset(): Promise<void>;
  stop(): Promise<void>;
};

export const LOCAL_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test-secret-key' } as const;
export const LOCAL_REGION = 'us-east-1';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Says what to do where moto is missing, instead of failing obscurely later. */
export function requireMoto(): void {
  const probe = spawnSync('moto_server', ['--help'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'moto_server was not found on PATH. Install it with: python3 -m pip install "moto[server]==5.2.1" ' +
        '(it provides the local SQS, S3 and Secrets Manager the demo and tests run against).',
    );
  }
}

/** Starts moto on a free loopback port and waits until it answers. */
export async function startLocalStack(): Promise<LocalStack> {
  requireMoto();
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PYTHONUNBUFFERED: '1' },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    if (stderr.length < 10_000) stderr += chunk.toString();
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`${endpoint}/moto-api/`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer on ${endpoint} within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const env = {
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
  };
  return {
    endpoint,
    port,
    env,
    async reset() {
      await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

export type Clients = { s3: S3Client; sqs: SQSClient; secrets: SecretsManagerClient };

export function localClients(stack: LocalStack): Clients {
  const common = {
    region: LOCAL_REGION,
    endpoint: stack.endpoint,
    credentials: { ...LOCAL_CREDENTIALS },
  };
  return {
    s3: new S3Client({ ...common, forcePathStyle: true }),
    sqs: new SQSClient(common),
    secrets: new SecretsManagerClient(common),
  };
}

export type Resources = {
  queueUrl: string;
  deadLetterUrl: string;
  sourceBucket: string;
  destBucket: string;
};

/** Creates the work queue with its dead-letter queue, both buckets, and the three source secrets. */
export async function createResources(
  stack: LocalStack,
  options: { name?: string; visibilitySeconds?: number; maxReceiveCount?: number; secrets?: boolean } = {},
): Promise<Resources> {
  const { s3, sqs, secrets } = localClients(stack);
  const name = options.name ?? 'migration';
  const dlq = await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }));
  const dlqAttrs = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  const main = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        VisibilityTimeout: String(options.visibilitySeconds ?? 60),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqAttrs.Attributes?.QueueArn,
          maxReceiveCount: options.maxReceiveCount ?? 10,
        }),
      },
    }),
  );
  const sourceBucket = `${name}-source`;
  const destBucket = `${name}-dest`;
  await s3.send(new CreateBucketCommand({ Bucket: sourceBucket }));
  await s3.send(new CreateBucketCommand({ Bucket: destBucket }));
  if (options.secrets !== false) {
    // One set of secrets per stack: a second createResources on the same stack reuses them.
    const put = (Name: string, SecretString: string) =>
      secrets.send(new CreateSecretCommand({ Name, SecretString })).catch((err: unknown) => {
        if ((err as { name?: string }).name !== 'ResourceExistsException') throw err;
      });
    await put('/migration/source_endpoint', stack.endpoint);
    await put('/migration/source_access_key', LOCAL_CREDENTIALS.accessKeyId);
    await put('/migration/source_secret_key', LOCAL_CREDENTIALS.secretAccessKey);
  }
  return { queueUrl: main.QueueUrl as string, deadLetterUrl: dlq.QueueUrl as string, sourceBucket, destBucket };
}

/**
 * Creates a KMS key on the stack (moto's KMS) and returns its id and ARN, for SSE-KMS destinations.
 * moto routes on the credential scope's service and checks no signature, so no SigV4 is computed here.
 */
export async function createKmsKey(
  stack: LocalStack,
  description = 'rclone-migrate test',
): Promise<{ id: string; arn: string }> {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '');
  const res = await fetch(stack.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'TrentService.CreateKey',
      authorization: `AWS4-HMAC-SHA256 Credential=${LOCAL_CREDENTIALS.accessKeyId}/${day}/${LOCAL_REGION}/kms/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify({ Description: description }),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`KMS CreateKey on the local stack answered ${res.status}: ${text}`);
  const meta = (JSON.parse(text) as { KeyMetadata?: { KeyId?: string; Arn?: string } }).KeyMetadata;
  if (!meta?.KeyId || !meta.Arn) throw new Error(`KMS CreateKey on the local stack answered no key: ${text}`);
  return { id: meta.KeyId, arn: meta.Arn };
}
