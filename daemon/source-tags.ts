// Reading a source object's tag set. Tags are not part of a GET: they cost a GetObjectTagging, spent
// only where the object's answer says it has some (x-amz-tagging-count). A store that does not
// implement tagging (501 NotImplemented, or 400/405 naming it) is warned about once per bucket and its
// objects are copied without tags, instead of failing every key.
import { GetObjectTaggingCommand, type S3Client } from '@aws-sdk/client-s3';
import { httpStatus } from '../shared/errors.ts';
import type { Logger } from '../shared/logger.ts';
import { tagRecord } from '../shared/object-attributes.ts';

/** Whether an error says the store has no tagging API (as opposed to a failure worth retrying). */
export function tagsUnsupported(err: unknown): boolean {
  const e = err as { name?: string; Code?: string } | undefined;
  const code = e?.Code ?? e?.name ?? '';
  const status = httpStatus(err);
  if (status === 501 || code === 'NotImplemented') return true;
  return (status === 400 || status === 405) && /NotImplemented|MethodNotAllowed|NotSupported/i.test(code);
}

/** count: where x-amz-tagging-count says so; always: for every object; off: never. */
export type TagPolicy = 'count' | 'always' | 'off';

export class SourceTags {
  readonly #log: Logger;
  readonly policy: TagPolicy;
  /** Source buckets whose store answered that it does not implement tagging. */
  readonly #unsupported = new Set<string>();

  constructor(log: Logger, policy: TagPolicy = 'count') {
    this.#log = log;
    this.policy = policy;
  }

  /** Whether an object whose GET/HEAD answered this tag count needs its tags read. */
  wanted(tagCount: number | undefined): boolean {
    if (this.policy === 'off') return false;
    return this.policy === 'always' || (tagCount ?? 0) > 0;
  }

  /** The tag set; undefined when the store does not implement tagging (warned once per bucket). */
  async read(
    client: S3Client,
    bucket: string,
    key: string,
    signal?: AbortSignal,
  ): Promise<Record<string, string> | undefined> {
    if (this.policy === 'off' || this.#unsupported.has(bucket)) return undefined;
    try {
      const reply = await client.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }), {
        abortSignal: signal,
      });
      return tagRecord(reply.TagSet ?? []);
    } catch (err) {
      if (!tagsUnsupported(err)) throw err;
      if (!this.#unsupported.has(bucket)) {
        this.#unsupported.add(bucket);
        this.#log.warn(
          { bucket, status: httpStatus(err), code: (err as { name?: string }).name },
          'the source store does not implement object tagging: objects of this bucket are copied without tags',
        );
      }
      return undefined;
    }
  }
}
