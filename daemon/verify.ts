// Is the destination object the one we meant to copy? A copier's success reply is not proof
// (rclone copyto exits 0 having copied nothing for some keys), so every copy is checked with a HEAD.
import { HeadObjectCommand, NotFound, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';

export type ObjectFacts = {
  size: number;
  etag?: string;
  /** Server-side encryption; with aws:kms the ETag is not an MD5 of the content. */
  sse?: string;
  /** rclone stores the content MD5 (base64) in this metadata when it uploads in parts. */
  md5Meta?: string;
};

const PLAIN_MD5 = /^[0-9a-f]{32}$/;

export function stripQuotes(etag: string | undefined): string | undefined {
  return etag?.replace(/^"|"$/g, '');
}

/** The content MD5 (hex) an object's facts prove, if any: a plain ETag, or rclone's metadata. */
export function provenMd5(facts: ObjectFacts): string | undefined {
  if (facts.sse === 'aws:kms' || facts.sse === 'aws:kms:dsse') return md5FromMeta(facts.md5Meta);
  const etag = stripQuotes(facts.etag)?.toLowerCase();
  if (etag && PLAIN_MD5.test(etag)) return etag;
  return md5FromMeta(facts.md5Meta);
}

function md5FromMeta(meta: string | undefined): string | undefined {
  if (!meta) return undefined;
  const hex = Buffer.from(meta, 'base64').toString('hex');
  return hex.length === 32 ? hex : undefined;
}

/**
 * Compares what the destination holds with what the source had. Returns the mismatch, or
 * undefined when they agree. The ETag is compared only where both sides prove an MD5.
 */
export function mismatch(
  expected: { size?: number; etag?: string },
  actual: ObjectFacts,
  compareEtag: boolean,
): string | undefined {
  if (expected.size !== undefined && actual.size !== expected.size) {
    return `destination size ${actual.size} differs from source size ${expected.size}`;
  }
  if (!compareEtag || !expected.etag) return undefined;
  const want = stripQuotes(expected.etag)?.toLowerCase();
  if (!want || !PLAIN_MD5.test(want)) return undefined;
  const have = provenMd5(actual);
  if (have !== undefined && have !== want) return `destination MD5 ${have} differs from source ETag ${want}`;
  return undefined;
}

export function factsOf(head: HeadObjectCommandOutput): ObjectFacts {
  return {
    size: head.ContentLength ?? 0,
    etag: stripQuotes(head.ETag),
    sse: head.ServerSideEncryption,
    md5Meta: head.Metadata?.md5chksum,
  };
}

/** HEADs an object; undefined when it does not exist. */
export async function headObject(
  client: S3Client,
  bucket: string,
  key: string,
  signal?: AbortSignal,
): Promise<ObjectFacts | undefined> {
  try {
    return factsOf(await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal }));
  } catch (err) {
    if (
      err instanceof NotFound ||
      (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
    ) {
      return undefined;
    }
    throw err;
  }
}
