// The contract between lister and worker: one versioned JSON message per batch of keys. It carries
// everything a worker needs without a second lookup, and is validated on receipt: nothing in it is
// trusted.
import { MalformedMessageError } from './errors.ts';
import { bucketNameProblem, keyProblem } from './s3-names.ts';

export const MESSAGE_VERSION = 1;

/** SQS's limit on one message, and on the whole of one SendMessageBatch call. */
export const SQS_MAX_MESSAGE_BYTES = 256 * 1024;

export type BatchObject = {
  /** The source key. */
  key: string;
  /** Size in bytes as listed, if known. */
  size?: number;
  /** ETag as listed (quotes stripped), if known. */
  etag?: string;
};

export type BatchMessage = {
  v: typeof MESSAGE_VERSION;
  job: string;
  source: { bucket: string };
  dest: { bucket: string; prefix?: string };
  /** 1 for the lister's message; a re-sent message of failed keys carries attempt + 1. */
  attempt: number;
  objects: BatchObject[];
  /** On a re-sent message: the last error of each key, so the history travels with it. */
  lastErrors?: Record<string, string>;
};

/** The destination key of a source key: the destination prefix, if any, before it. */
export function destKey(message: BatchMessage, key: string): string {
  return (message.dest.prefix ?? '') + key;
}

/**
 * Encodes a message for SQS. JSON.stringify escapes control characters and lone surrogates;
 * U+FFFE and U+FFFF are legal in keys but not in an SQS body, so they are escaped too.
 */
export function encodeMessage(message: BatchMessage): string {
  return sqsSafeJson(message);
}

function sqsSafeJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\uFFFE\uFFFF]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

export function messageBytes(body: string): number {
  return Buffer.byteLength(body, 'utf8');
}

const MAX_KEYS = 1000;

/** Parses and validates a message body; throws MalformedMessageError with the reason. */
export function parseMessage(body: string): BatchMessage {
  if (messageBytes(body) > SQS_MAX_MESSAGE_BYTES) {
    throw new MalformedMessageError(`message is ${messageBytes(body)} bytes; the limit is ${SQS_MAX_MESSAGE_BYTES}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (err) {
    throw new MalformedMessageError(`message is not JSON: ${(err as Error).message}`);
  }
  const fail = (why: string): never => {
    throw new MalformedMessageError(why);
  };
  if (!isObject(raw)) return fail('message is not a JSON object');
  if (raw.v !== MESSAGE_VERSION) return fail(`message version ${JSON.stringify(raw.v)} is not ${MESSAGE_VERSION}`);
  if (typeof raw.job !== 'string' || raw.job.length === 0 || raw.job.length > 256) {
    return fail('job must be a string of 1-256 characters');
  }
  if (!isObject(raw.source) || typeof raw.source.bucket !== 'string') return fail('source.bucket is missing');
  if (!isObject(raw.dest) || typeof raw.dest.bucket !== 'string') return fail('dest.bucket is missing');
  const bucketProblem = bucketNameProblem(raw.source.bucket) ?? bucketNameProblem(raw.dest.bucket);
  if (bucketProblem) return fail(bucketProblem);
  const prefix = raw.dest.prefix;
  if (prefix !== undefined && typeof prefix !== 'string') return fail('dest.prefix must be a string');
  if (!Number.isInteger(raw.attempt) || (raw.attempt as number) < 1) return fail('attempt must be a whole number ≥ 1');
  if (!Array.isArray(raw.objects) || raw.objects.length === 0) return fail('objects must be a non-empty array');
  if (raw.objects.length > MAX_KEYS) return fail(`objects has ${raw.objects.length} entries; at most ${MAX_KEYS}`);
  const objects: BatchObject[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of raw.objects.entries()) {
    if (!isObject(entry) || typeof entry.key !== 'string') return fail(`objects[${i}].key must be a string`);
    const problem = keyProblem(entry.key) ?? keyProblem((prefix ?? '') + entry.key);
    if (problem) return fail(`objects[${i}]: ${problem}`);
    if (seen.has(entry.key)) return fail(`objects[${i}]: key ${JSON.stringify(entry.key)} appears twice`);
    seen.add(entry.key);
    const object: BatchObject = { key: entry.key };
    if (entry.size !== undefined) {
      if (!Number.isSafeInteger(entry.size) || (entry.size as number) < 0)
        return fail(`objects[${i}].size must be a whole number ≥ 0`);
      object.size = entry.size as number;
    }
    if (entry.etag !== undefined) {
      if (typeof entry.etag !== 'string' || entry.etag.length > 128)
        return fail(`objects[${i}].etag must be a short string`);
      object.etag = entry.etag;
    }
    objects.push(object);
  }
  const message: BatchMessage = {
    v: MESSAGE_VERSION,
    job: raw.job,
    source: { bucket: raw.source.bucket },
    dest: prefix ? { bucket: raw.dest.bucket, prefix } : { bucket: raw.dest.bucket },
    attempt: raw.attempt as number,
    objects,
  };
  if (isObject(raw.lastErrors)) {
    message.lastErrors = Object.fromEntries(
      Object.entries(raw.lastErrors).filter((e): e is [string, string] => typeof e[1] === 'string'),
    );
  }
  return message;
}

/**
 * What goes to the dead-letter queue: the reason, each key's error, and the original body verbatim
 * so `redrive` can send it back.
 */
export type DeadLetter = {
  deadLetter: 1;
  reason: string;
  job?: string;
  attempt?: number;
  failures?: Array<{ key: string; error: string }>;
  original: string;
  /** Set when `original` had to be cut to fit: the original body's size in bytes. */
  originalTruncatedFrom?: number;
};

export function encodeDeadLetter(letter: DeadLetter): string {
  return sqsSafeJson(letter);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
