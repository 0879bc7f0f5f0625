// The dead-letter queue's URL, which the worker, `status` and `redrive` all need: as configured, else
// found from the work queue's redrive policy.
import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { ConfigError, errorMessage } from './errors.ts';

/** The dead-letter queue's URL: as configured, else from the work queue's redrive policy. */
export async function resolveDeadLetterUrl(client: SQSClient, queueUrl: string, configured: string): Promise<string> {
  if (configured) return configured;
  let policy: string | undefined;
  try {
    const attrs = await client.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }),
    );
    policy = attrs.Attributes?.RedrivePolicy;
  } catch (err) {
    throw new ConfigError(`queue.url: cannot read attributes of ${queueUrl}: ${errorMessage(err)}`);
  }
  if (!policy) {
    throw new ConfigError(
      `queue.deadLetterUrl is empty and ${queueUrl} has no redrive policy: set --dead-letter-url or give the queue a dead-letter queue`,
    );
  }
  const arn = (JSON.parse(policy) as { deadLetterTargetArn?: string }).deadLetterTargetArn ?? '';
  const [, , , , account, name] = arn.split(':');
  if (!name || !account) throw new ConfigError(`redrive policy of ${queueUrl} has no usable deadLetterTargetArn`);
  const reply = await client.send(new GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }));
  return reply.QueueUrl as string;
}
