// "The whole object" apart from its bytes: the system metadata a migration carries, the user metadata
// and the tag set. One shape, read from a HeadObject/GetObject answer, compared field by field: the
// copy paths write it, the worker's checks and `verify`'s deep mode compare it.

/** A GetObject or HeadObject answer, as far as these attributes go (both SDK outputs fit). */
export type ObjectHeaders = {
  ContentType?: string;
  CacheControl?: string;
  ContentDisposition?: string;
  ContentEncoding?: string;
  ContentLanguage?: string;
  /** The SDK's parsed Expires; undefined when the header is absent or not a valid date. */
  Expires?: Date;
  /** The Expires header as sent (SDK ≥ 3.6xx), kept when it does not parse as a date. */
  ExpiresString?: string;
  WebsiteRedirectLocation?: string;
  Metadata?: Record<string, string>;
  /** x-amz-tagging-count: how many tags the object has (absent: none, or a store that does not say). */
  TagCount?: number;
};

export type ObjectAttributes = {
  contentType?: string;
  cacheControl?: string;
  contentDisposition?: string;
  contentEncoding?: string;
  contentLanguage?: string;
  /** An HTTP date (IMF-fixdate) when it parses, else the header text as the store returned it. */
  expires?: string;
  websiteRedirectLocation?: string;
  /** User metadata: names lower-cased (HTTP headers have no case), values as text (see metadataText). */
  metadata: Record<string, string>;
  /** The tag set; undefined when it was not read (the store does not implement tagging, say). */
  tags?: Record<string, string>;
};

/** The system fields, with the header each stands for: the names differences are reported in. */
export const SYSTEM_FIELDS = [
  ['contentType', 'Content-Type'],
  ['cacheControl', 'Cache-Control'],
  ['contentDisposition', 'Content-Disposition'],
  ['contentEncoding', 'Content-Encoding'],
  ['contentLanguage', 'Content-Language'],
  ['expires', 'Expires'],
  ['websiteRedirectLocation', 'Website-Redirect-Location'],
] as const satisfies ReadonlyArray<readonly [keyof ObjectAttributes, string]>;

/** Metadata rclone writes of its own accord (mtime always, btime with --metadata, md5chksum on multipart). */
export const RCLONE_OWN_METADATA = ['mtime', 'btime', 'md5chksum'] as const;

/** S3's limits (PutObject, PutObjectTagging): what it refuses, checked before a request is spent on it. */
export const S3_LIMITS = { tags: 10, tagKeyChars: 128, tagValueChars: 256, userMetadataBytes: 2048 } as const;

/** Whether the answer says the object has tags, so GetObjectTagging is worth a request. */
export function hasTags(headers: Pick<ObjectHeaders, 'TagCount'>): boolean {
  return (headers.TagCount ?? 0) > 0;
}

function expiresOf(headers: ObjectHeaders): string | undefined {
  if (headers.Expires && !Number.isNaN(headers.Expires.getTime())) return headers.Expires.toUTCString();
  return headers.ExpiresString || undefined;
}

/**
 * A user-metadata value as text. Stores return non-ASCII values two ways: raw UTF-8 bytes (Ceph RGW,
 * moto), which Node hands over as one character per byte, or RFC 2047 encoded words (`=?UTF-8?B?…?=`,
 * Amazon S3). Both become the same Unicode string here, so they compare equal; ASCII is untouched.
 */
export function metadataText(value: string): string {
  let text = value;
  if (/[\u0080-\u00ff]/.test(text) && !/[\u0100-\uffff]/.test(text)) {
    const utf8 = Buffer.from(text, 'latin1').toString('utf8');
    if (!utf8.includes('\ufffd')) text = utf8;
  }
  return text.replace(/=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g, (word, charset: string, enc: string, data: string) => {
    const cs = charset.toLowerCase().split('*')[0];
    if (cs !== 'utf-8' && cs !== 'iso-8859-1' && cs !== 'us-ascii') return word;
    const bytes =
      enc.toUpperCase() === 'B'
        ? Buffer.from(data, 'base64')
        : Buffer.from(
            data
              .replace(/_/g, ' ')
              .replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
            'latin1',
          );
    return bytes.toString(cs === 'utf-8' ? 'utf8' : 'latin1');
  });
}

/**
 * A metadata value as it can be sent: ASCII as it is; anything else as an RFC 2047 encoded word, which
 * Amazon S3 decodes and stores as UTF-8. Raw bytes ≥ 0x80 cannot be sent by the SDK: it signs a header's
 * UTF-8 while Node writes one byte per character, and S3 answers SignatureDoesNotMatch.
 */
export function metadataHeaderValue(value: string): string {
  if (!/[^\u0020-\u007e]/.test(value)) return value;
  return `=?UTF-8?B?${Buffer.from(metadataText(value), 'utf8').toString('base64')}?=`;
}

/** Reads the attributes from an answer, plus the tag set when it was fetched. Empty headers count as absent. */
export function attributesOf(
  headers: ObjectHeaders,
  tags?: ReadonlyArray<{ Key?: string; Value?: string }> | Record<string, string>,
): ObjectAttributes {
  const metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers.Metadata ?? {}))
    metadata[name.toLowerCase()] = metadataText(value);
  return {
    contentType: headers.ContentType || undefined,
    cacheControl: headers.CacheControl || undefined,
    contentDisposition: headers.ContentDisposition || undefined,
    contentEncoding: headers.ContentEncoding || undefined,
    contentLanguage: headers.ContentLanguage || undefined,
    expires: expiresOf(headers),
    websiteRedirectLocation: headers.WebsiteRedirectLocation || undefined,
    metadata,
    tags: tags === undefined ? undefined : tagRecord(tags),
  };
}

/** A tag set as a plain record (from the SDK's TagSet or a record). */
export function tagRecord(
  tags: ReadonlyArray<{ Key?: string; Value?: string }> | Record<string, string>,
): Record<string, string> {
  if (!Array.isArray(tags)) return { ...(tags as Record<string, string>) };
  const out: Record<string, string> = {};
  for (const tag of tags as ReadonlyArray<{ Key?: string; Value?: string }>) {
    if (tag.Key !== undefined) out[tag.Key] = tag.Value ?? '';
  }
  return out;
}

/** The SDK's TagSet of a record, in name order. */
export function tagSet(tags: Record<string, string>): Array<{ Key: string; Value: string }> {
  return Object.keys(tags)
    .sort()
    .map((Key) => ({ Key, Value: tags[Key] as string }));
}

/** The `x-amz-tagging` header value of a tag set (URL query encoding), or undefined for none. */
export function taggingHeader(tags: Record<string, string> | undefined): string | undefined {
  if (!tags || Object.keys(tags).length === 0) return undefined;
  // %20, not URLSearchParams' +: S3 decodes the header as a query string, and + is ambiguous there
  return tagSet(tags)
    .map((t) => `${encodeURIComponent(t.Key)}=${encodeURIComponent(t.Value)}`)
    .join('&');
}

/** One field that differs: `field` is a header name, `x-amz-meta-<name>` or `tag:<name>`. */
export type AttributeDifference = { field: string; source: string | undefined; dest: string | undefined };

export type DiffOptions = {
  /** Metadata names the destination may have that the source need not (e.g. RCLONE_OWN_METADATA). */
  ignoreMetadata?: readonly string[];
};

/**
 * Every field in which `dest` differs from `source`. Tags are compared only when both sides were read;
 * a destination Content-Type is not compared when the source had none (S3 then answers its default).
 */
export function diffAttributes(
  source: ObjectAttributes,
  dest: ObjectAttributes,
  options: DiffOptions = {},
): AttributeDifference[] {
  const out: AttributeDifference[] = [];
  for (const [name, header] of SYSTEM_FIELDS) {
    const want = source[name];
    const have = dest[name];
    if (name === 'contentType' && want === undefined) continue;
    if (want !== have) out.push({ field: header, source: want, dest: have });
  }
  const ignore = new Set(options.ignoreMetadata ?? []);
  out.push(...diffRecords(source.metadata, dest.metadata, 'x-amz-meta-', ignore));
  if (source.tags && dest.tags) out.push(...diffRecords(source.tags, dest.tags, 'tag:', new Set()));
  return out;
}

function diffRecords(
  want: Record<string, string>,
  have: Record<string, string>,
  prefix: string,
  ignore: ReadonlySet<string>,
): AttributeDifference[] {
  const out: AttributeDifference[] = [];
  const names = [...new Set([...Object.keys(want), ...Object.keys(have)])].sort();
  for (const name of names) {
    if (!(name in want) && ignore.has(name)) continue;
    if (want[name] !== have[name]) out.push({ field: `${prefix}${name}`, source: want[name], dest: have[name] });
  }
  return out;
}

/** The differences on one line, for a log or an error: `Content-Encoding: "gzip" ≠ absent; ...`. */
export function describeDifferences(diffs: readonly AttributeDifference[]): string {
  const show = (v: string | undefined) => (v === undefined ? 'absent' : JSON.stringify(v));
  return diffs.map((d) => `${d.field}: source ${show(d.source)}, destination ${show(d.dest)}`).join('; ');
}

/** Bytes S3 counts against its 2 KB user-metadata limit: the UTF-8 bytes of every name and value. */
export function userMetadataBytes(metadata: Record<string, string>): number {
  let n = 0;
  for (const [name, value] of Object.entries(metadata)) n += Buffer.byteLength(name) + Buffer.byteLength(value);
  return n;
}

/** Why S3 would refuse these attributes on upload, naming what it refuses; undefined when it would not. */
export function refusedByS3(attributes: Pick<ObjectAttributes, 'metadata' | 'tags'>): string | undefined {
  const bytes = userMetadataBytes(attributes.metadata);
  if (bytes > S3_LIMITS.userMetadataBytes) {
    return `user metadata is ${bytes} bytes, over S3's limit of ${S3_LIMITS.userMetadataBytes}`;
  }
  const tags = attributes.tags ?? {};
  const count = Object.keys(tags).length;
  if (count > S3_LIMITS.tags) return `${count} tags, over S3's limit of ${S3_LIMITS.tags} per object`;
  for (const [key, value] of Object.entries(tags)) {
    if ([...key].length > S3_LIMITS.tagKeyChars) {
      return `tag key ${JSON.stringify(key.slice(0, 40))}… is over S3's limit of ${S3_LIMITS.tagKeyChars} characters`;
    }
    if ([...value].length > S3_LIMITS.tagValueChars) {
      return `value of tag ${JSON.stringify(key)} is over S3's limit of ${S3_LIMITS.tagValueChars} characters`;
    }
  }
  return undefined;
}
