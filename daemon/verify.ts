// Is the destination object the one we meant to copy? A copier's success reply is not proof
// (rclone copyto exits 0 having copied nothing for some keys), so every copy is checked at the
// destination: by a listing entry where that proves as much as a HEAD, else by a HEAD.
import { HeadObjectCommand, NotFound, type HeadObjectCommandOutput, type S3Client } from '@aws-sdk/client-s3';
import { httpStatus } from '../shared/errors.ts';
import { bareEtag } from '../shared/key-order.ts';

export type ObjectFacts = {
  size: number;
  etag?: string;
  /** Server-side encryption; with aws:kms the ETag is not an MD5 of the content. */
  sse?: string;
  /** rclone stores the content MD5 (base64) in this metadata when it uploads in parts. */
  md5Meta?: string;
};

const PLAIN_MD5 = /^[0-9a-f]{32}$/;

/** The ETag as a lowercase hex MD5, if it has that form (not multipart, not absent). */
function plainMd5(etag: string | undefined): string | undefined {
  const hex = bareEtag(etag)?.toLowerCase();
  return hex && PLAIN_MD5.test(hex) ? hex : undefined;
}

/** The content MD5 (hex) an object's facts prove, if any: a plain ETag, or rclone's metadata. */
export function provenMd5(facts: ObjectFacts): string | undefined {
  if (facts.sse === 'aws:kms' || facts.sse === 'aws:kms:dsse') return md5FromMeta(facts.md5Meta);
  return plainMd5(facts.etag) ?? md5FromMeta(facts.md5Meta);
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
  const want = plainMd5(expected.etag);
  if (!want) return undefined;
  const have = provenMd5(actual);
  if (have !== undefined && have !== want) return `destination MD5 ${have} differs from source ETag ${want}`;
  return undefined;
}

/**
 * What a destination listing entry settles about a copy: 'ok' when it proves all a HEAD would,
 * 'head' when only a HEAD can tell. A HEAD is needed when the key is not on the page, the sizes
 * or ETags disagree (the source may have changed, or the ETag is no MD5: a HEAD shows SSE-KMS),
 * the destination ETag is a multipart one (rclone's MD5 metadata, seen only by a HEAD, may prove
 * it), or the message carries no size (the source is then HEADed as well).
 * `etagsAreMd5` is false for a bucket whose objects a HEAD has shown to be SSE-KMS encrypted:
 * there a HEAD compares a single-part object's size only, as the listing can.
 */
export function listVerdict(
  expected: { size?: number; etag?: string },
  listed: { size: number; etag?: string } | undefined,
  compareEtag: boolean,
  etagsAreMd5: boolean,
): 'ok' | 'head' {
  if (!listed || expected.size === undefined || listed.size !== expected.size) return 'head';
  const want = compareEtag ? plainMd5(expected.etag) : undefined;
  if (want === undefined) return 'ok';
  const have = plainMd5(listed.etag);
  if (have === undefined) return 'head';
  if (!etagsAreMd5) return 'ok';
  return have === want ? 'ok' : 'head';
}

export function factsOf(head: HeadObjectCommandOutput): ObjectFacts {
  return {
    size: head.ContentLength ?? 0,
    etag: bareEtag(head.ETag),
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
    if (err instanceof NotFound || httpStatus(err) === 404) {
      return undefined;
    }
    throw err;
  }
}
