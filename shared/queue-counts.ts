// Approximate message counts of a queue, as SQS reports them.
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';

export type QueueCounts = { visible: number; inFlight: number; delayed: number };

export async function queueCounts(sqs: SQSClient, queueUrl: string): Promise<QueueCounts> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  const n = (name: string): number => Number(out.Attributes?.[name as keyof typeof out.Attributes] ?? 0);
  return {
    visible: n('ApproximateNumberOfMessages'),
    inFlight: n('ApproximateNumberOfMessagesNotVisible'),
    delayed: n('ApproximateNumberOfMessagesDelayed'),
  };
}
