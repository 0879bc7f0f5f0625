// Grouping listed objects into messages: by count (20 keys by default), by bytes of data (a very
// large object travels alone), and by encoded message size (SQS's 256 KiB, even with 1,024-byte keys
// that JSON escaping can grow six-fold). Pure: no I/O.
import {
  encodeMessage,
  messageBytes,
  SQS_MAX_MESSAGE_BYTES,
  type BatchMessage,
  type BatchObject,
} from '../shared/message.ts';

export type BatchLimits = {
  /** Keys per message. */
  count: number;
  /** Sum of object sizes per message; an object at least this large travels alone. */
  bytes: number;
  /** Encoded message size. */
  messageBytes: number;
};

export const DEFAULT_MESSAGE_LIMIT = SQS_MAX_MESSAGE_BYTES;

/** The message for a batch of objects, as the lister sends it (attempt 1). */
export type MessageTemplate = Omit<BatchMessage, 'objects' | 'attempt' | 'lastErrors'>;

export function makeMessage(template: MessageTemplate, objects: BatchObject[]): BatchMessage {
  return { v: template.v, job: template.job, source: template.source, dest: template.dest, attempt: 1, objects };
}

/** Bytes a message takes before any object is added (the brackets of an empty objects array included). */
export function headerBytes(template: MessageTemplate): number {
  return messageBytes(encodeMessage(makeMessage(template, [])));
}

/** Bytes one object adds to an encoded message, its separating comma included. */
export function objectBytes(object: BatchObject): number {
  return messageBytes(encodeMessage(object as unknown as BatchMessage)) + 1;
}

/** Splits objects, in order, into batches within the limits. */
export function planBatches(objects: readonly BatchObject[], limits: BatchLimits, header: number): BatchObject[][] {
  const batches: BatchObject[][] = [];
  let current: BatchObject[] = [];
  let dataBytes = 0;
  let encoded = header;
  for (const object of objects) {
    const size = object.size ?? 0;
    const bytes = objectBytes(object);
    if (header + bytes > limits.messageBytes) {
      throw new Error(`object ${JSON.stringify(object.key)} cannot fit in a message (${bytes} bytes encoded)`);
    }
    const full =
      current.length >= limits.count ||
      (current.length > 0 && dataBytes + size > limits.bytes) ||
      encoded + bytes > limits.messageBytes;
    if (full) {
      batches.push(current);
      current = [];
      dataBytes = 0;
      encoded = header;
    }
    current.push(object);
    dataBytes += size;
    encoded += bytes;
    // An object at least as large as the byte limit travels alone.
    if (size >= limits.bytes) {
      batches.push(current);
      current = [];
      dataBytes = 0;
      encoded = header;
    }
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
