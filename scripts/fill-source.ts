// Fills a source bucket with the mix a real migration meets: thousands of small objects under varied
// prefixes and depths, a few objects over 300 MB, zero-byte objects, unicode keys, keys with characters
// that need escaping, and the keys rclone cannot address; and on most of them what else a real object
// carries: system metadata (Content-Type, Content-Encoding gzip, Cache-Control, Content-Disposition,
// Content-Language, Expires), user metadata (non-ASCII values too) and tags. Content is a deterministic
// function of a seed and the key (an AES-CTR keystream), so large objects stream from a generator and
// never sit in memory.
import { createCipheriv, createHash, type Cipheriv } from 'node:crypto';
import { Readable } from 'node:stream';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { tagSet, taggingHeader } from '../shared/object-attributes.ts';
import { forEachLimit } from './for-each-limit.ts';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export type ObjectKind = 'small' | 'large' | 'empty' | 'unicode' | 'special' | 'odd';

/** What an object carries besides its bytes, as PutObject takes it (tags as a record). */
export type PlannedAttributes = {
  ContentType?: string;
  ContentEncoding?: string;
  CacheControl?: string;
  ContentDisposition?: string;
  ContentLanguage?: string;
  Expires?: Date;
  Metadata?: Record<string, string>;
  tags?: Record<string, string>;
};

export type PlannedObject = { key: string; size: number; kind: ObjectKind; attributes: PlannedAttributes };

export type PlanOptions = {
  seed: string;
  smallCount: number;
  smallMinBytes: number;
  smallMaxBytes: number;
  largeCount: number;
  largeBytes: number;
  /** Size of one object under a key rclone cannot address, large enough to take the SDK's multipart path. */
  oddLargeBytes: number;
};

export const DEFAULT_PLAN: PlanOptions = {
  seed: 'rclone-migrate-demo',
  smallCount: 3000,
  smallMinBytes: 1 * KiB,
  smallMaxBytes: 64 * KiB,
  largeCount: 2,
  largeBytes: 310 * MiB,
  oddLargeBytes: 72 * MiB,
};

/** Keys rclone cannot address (see DESIGN.md): the worker must copy them another way. */
export const ODD_KEYS: readonly string[] = ['a//b', '/leading', 'trailing/', 'x/./y', 'x/../y', '.', '..'];

/** Keys with characters that need escaping somewhere on the way (URLs, XML, shells, rclone's encoder). */
export const SPECIAL_KEYS: readonly string[] = [
  'special/with space.txt',
  'special/  two leading spaces and trailing space ',
  'special/plus+sign+c++.txt',
  'special/percent%20not-a-space.txt',
  'special/100%.txt',
  'special/hash#fragment.txt',
  'special/question?query=1&x=2.txt',
  'special/fullwidth／slash／in-name.txt',
  'special/quotes \'single\' "double".txt',
  'special/brackets[1]{2}(3)<4>.txt',
  'special/backslash\\not-a-separator.txt',
  'special/star*pipe|colon:semi;.txt',
  'special/tilde~backtick`caret^at@dollar$.txt',
];

/** Unicode keys: accents, both normalisation forms of the same name (distinct S3 keys), CJK, emoji, RTL. */
export const UNICODE_KEYS: readonly string[] = [
  'unicode/café/crème brûlée.txt',
  'unicode/normalization/caf\u00e9.txt', // NFC
  'unicode/normalization/cafe\u0301.txt', // NFD: a different key that looks the same
  'unicode/Ünïcödé-ñ-ß.txt',
  'unicode/日本語/ファイル名.txt',
  'unicode/中文/文件 (副本).dat',
  'unicode/한국어/파일.bin',
  'unicode/emoji/🚀📦✨.bin',
  'unicode/emoji/👩‍👩‍👧‍👦 family.txt',
  'unicode/עברית/קובץ.txt',
  'unicode/العربية/ملف.txt',
  'unicode/Ελληνικά/αρχείο.txt',
  'unicode/Кириллица/файл.txt',
];

export const EMPTY_KEYS: readonly string[] = [
  'empty/zero.bin',
  'empty/nested/deep/deeper/zero.txt',
  'empty/folder-marker/',
  'empty/unicode-空.txt',
  'logs/.keep',
];

/** A key of exactly 1,024 bytes of UTF-8, the most S3 allows. */
export function longestKey(): string {
  const base = 'long/';
  const segment = 'segment-of-a-very-long-key-0123456789/';
  let key = base;
  while (Buffer.byteLength(key + segment) < 1000) key += segment;
  return key + 'x'.repeat(1024 - Buffer.byteLength(key));
}

/** A small deterministic PRNG (mulberry32) for sizes and key shapes; content uses AES-CTR instead. */
export function prng(seed: string): () => number {
  let state = createHash('sha256').update(seed).digest().readUInt32LE(0);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SERVICES = ['api', 'billing', 'auth', 'search', 'ingest'];
const ALBUMS = ['2019-hawaii', 'wedding', 'product-shots', 'scans'];
const USERS = ['alice', 'bob', 'carol'];

function smallKey(i: number, random: () => number): string {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const two = (n: number) => String(n).padStart(2, '0');
  const id = String(i).padStart(5, '0');
  switch (i % 6) {
    case 0: {
      const svc = pick(SERVICES);
      return `logs/${svc}/2024/${two(1 + (i % 12))}/${two(1 + (i % 28))}/${svc}-${two(i % 24)}${two(i % 60)}-${id}.log`;
    }
    case 1:
      return `images/${pick(ALBUMS)}/IMG_${id}.jpg`;
    case 2:
      return `data/warehouse/table=${pick(['orders', 'events', 'users'])}/year=2024/month=${two(1 + (i % 12))}/part-${id}.parquet`;
    case 3:
      return `home/${pick(USERS)}/documents/project-${i % 7}/notes-${id}.md`;
    case 4:
      return `object-${id}.bin`;
    default:
      return `archive/${i % 3}/${i % 5}/${i % 7}/${i % 11}/${i % 13}/${i % 17}/blob-${id}`;
  }
}

const EXPIRES = new Date('2031-06-30T12:00:00Z');

/**
 * A header value whose UTF-8 bytes go on the wire as they are. Node writes header strings as Latin-1 (one
 * byte per character) when the body is a Buffer or a stream, as every upload here is, and the SDK reads
 * header bytes back as Latin-1 too; so UTF-8 text is handed over as its bytes in Latin-1 characters.
 * (With a string body Node would write the headers as UTF-8 instead: same text, other bytes.)
 */
export function utf8OnTheWire(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/**
 * The attributes of the i-th object: a rotation of shapes a real bucket has, so that every kind of key
 * (small, empty, unicode, special, unaddressable, multipart) carries some. Non-ASCII metadata values are
 * stored as UTF-8 bytes (what S3 clients send), one as an RFC 2047 encoded word. (Tag values stay in the characters moto allows: letters, digits, spaces, _.:/=+-@ — S3 allows any Unicode letter.)
 */
export function plannedAttributes(i: number): PlannedAttributes {
  switch (i % 6) {
    case 0: // a compressed log: a reader must see the encoding or it reads garbage
      return {
        ContentType: 'text/plain; charset=utf-8',
        ContentEncoding: 'gzip',
        CacheControl: 'no-cache',
        Metadata: { source: 'fluent-bit', 'rotated-by': 'logrotate' },
        tags: { retention: '90d', class: 'logs' },
      };
    case 1: // a web asset
      return {
        ContentType: 'image/jpeg',
        CacheControl: 'public, max-age=31536000, immutable',
        ContentDisposition: 'inline; filename="photo.jpg"',
        Metadata: { photographer: utf8OnTheWire('Zoë Ångström'), camera: 'X100V' },
        tags: { album: 'hawaii', place: 'Kailua-Kona: Big Island', public: 'yes' },
      };
    case 2: // a download with a language and an expiry
      return {
        ContentType: 'application/pdf',
        // RFC 6266: a non-ASCII file name goes percent-encoded in filename*, the header stays ASCII.
        ContentDisposition: `attachment; filename="Bericht.pdf"; filename*=UTF-8''${encodeURIComponent('Bericht-Grüße.pdf')}`,
        ContentLanguage: 'de-CH',
        Expires: EXPIRES,
        Metadata: { titel: utf8OnTheWire('Jahresbericht für Zürich'), title: '=?UTF-8?B?5pel5pys6Kqe?=' },
      };
    case 3: // tags only (a lifecycle rule keys on them)
      return { tags: { team: 'data-platform', 'cost-centre': 'cc-1234', tier: 'warm' } };
    case 4: // user metadata only
      return { Metadata: { 'schema-version': '3', checksum: 'sha1:0a4d55a8d778e5022fab701977c5d840bbc486d0' } };
    default: // nothing but the bytes
      return {};
  }
}

/** Every object the fill creates, in upload order. Deterministic for a given plan. */
export function planObjects(options: PlanOptions): PlannedObject[] {
  const random = prng(options.seed);
  const span = options.smallMaxBytes - options.smallMinBytes + 1;
  const size = () => options.smallMinBytes + Math.floor(random() * span);
  const objects: Array<Omit<PlannedObject, 'attributes'>> = [];
  for (let i = 0; i < options.smallCount; i++) objects.push({ key: smallKey(i, random), size: size(), kind: 'small' });
  for (const key of EMPTY_KEYS) objects.push({ key, size: 0, kind: 'empty' });
  for (const key of UNICODE_KEYS) objects.push({ key, size: size(), kind: 'unicode' });
  for (const key of [...SPECIAL_KEYS, longestKey()]) objects.push({ key, size: size(), kind: 'special' });
  for (const key of ODD_KEYS) objects.push({ key, size: size(), kind: 'odd' });
  if (options.oddLargeBytes > 0)
    objects.push({ key: 'odd//large-multipart.bin', size: options.oddLargeBytes, kind: 'odd' });
  for (let i = 1; i <= options.largeCount; i++) {
    objects.push({
      key: `backups/2024/vm-image-${String(i).padStart(2, '0')}.raw`,
      size: options.largeBytes,
      kind: 'large',
    });
  }
  // The rotation runs over the kinds too: the multipart objects come last and get the richest shapes.
  return objects.map((o, i) => ({
    ...o,
    attributes:
      o.kind === 'large' || o.size >= 16 * MiB ? plannedAttributes(i % 2 === 0 ? 0 : 1) : plannedAttributes(i),
  }));
}

/** How many planned objects carry each part of the attributes, for the demo's summary. */
export function attributeCounts(objects: readonly PlannedObject[]): { system: number; user: number; tags: number } {
  let system = 0;
  let user = 0;
  let tags = 0;
  for (const { attributes: a } of objects) {
    const { Metadata, tags: t, ...rest } = a;
    if (Object.keys(rest).length > 0) system++;
    if (Metadata && Object.keys(Metadata).length > 0) user++;
    if (t && Object.keys(t).length > 0) tags++;
  }
  return { system, user, tags };
}

/** PutObject's (and Upload's) parameters for the attributes, tags as the x-amz-tagging header. */
function putParams(a: PlannedAttributes): Omit<PlannedAttributes, 'tags'> & { Tagging?: string } {
  const { tags, ...rest } = a;
  const tagging = taggingHeader(tags);
  return tagging ? { ...rest, Tagging: tagging } : rest;
}

/** The content generator of one object: a keystream seeded by the plan seed and the key. */
function keystream(seed: string, key: string): Cipheriv {
  const secret = createHash('sha256').update(`content:${seed}`).digest();
  const iv = createHash('sha256').update(key).digest().subarray(0, 16);
  return createCipheriv('aes-256-ctr', secret, iv);
}

/** The whole content of a small object. */
export function objectBytes(seed: string, key: string, size: number): Buffer {
  return keystream(seed, key).update(Buffer.alloc(size));
}

/** The content of an object of any size as a stream of chunks; nothing larger than a chunk is held. */
export function objectStream(seed: string, key: string, size: number, chunkBytes = 1 * MiB): Readable {
  const cipher = keystream(seed, key);
  const zeros = Buffer.alloc(chunkBytes);
  function* chunks(): Generator<Buffer> {
    for (let left = size; left > 0; left -= chunkBytes) {
      yield cipher.update(left >= chunkBytes ? zeros : zeros.subarray(0, left));
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

export type FillProgress = { objects: number; bytes: number; totalObjects: number; totalBytes: number };

export type FillOptions = {
  s3: S3Client;
  bucket: string;
  plan: PlanOptions;
  /** Small objects uploaded at once. */
  concurrency?: number;
  /** Objects from this size up go through a streamed multipart Upload. */
  multipartFromBytes?: number;
  partBytes?: number;
  onProgress?: (progress: FillProgress) => void;
};

export type FillResult = { objects: PlannedObject[]; bytes: number; seconds: number };

/** Uploads every planned object; small ones with PutObject, large ones streamed through multipart Upload. */
export async function fillSource(options: FillOptions): Promise<FillResult> {
  const started = Date.now();
  const objects = planObjects(options.plan);
  const multipartFrom = options.multipartFromBytes ?? 16 * MiB;
  const partBytes = options.partBytes ?? 16 * MiB;
  const totalBytes = objects.reduce((sum, o) => sum + o.size, 0);
  const progress: FillProgress = { objects: 0, bytes: 0, totalObjects: objects.length, totalBytes };
  const done = (size: number) => {
    progress.objects++;
    progress.bytes += size;
    options.onProgress?.({ ...progress });
  };
  const small = objects.filter((o) => o.size < multipartFrom);
  const large = objects.filter((o) => o.size >= multipartFrom);
  await forEachLimit(small, options.concurrency ?? 16, async (o) => {
    try {
      await options.s3.send(
        new PutObjectCommand({
          Bucket: options.bucket,
          Key: o.key,
          Body: objectBytes(options.plan.seed, o.key, o.size),
          ...putParams(o.attributes),
        }),
      );
    } catch (err) {
      throw new Error(`fill: PutObject ${JSON.stringify(o.key)} (${o.size} bytes) failed: ${String(err)}`, {
        cause: err,
      });
    }
    done(o.size);
  });
  // Large objects one after another: the local stack is a single Python process, so parallel
  // multipart uploads only multiply the parts held in memory.
  for (const o of large) {
    const upload = new Upload({
      client: options.s3,
      params: {
        Bucket: options.bucket,
        Key: o.key,
        Body: objectStream(options.plan.seed, o.key, o.size),
        ...putParams({ ...o.attributes, tags: undefined }),
      },
      // Upload puts the tags after CompleteMultipartUpload (x-amz-tagging is not a multipart header).
      ...(o.attributes.tags ? { tags: tagSet(o.attributes.tags) } : {}),
      partSize: partBytes,
      queueSize: 4,
      leavePartsOnError: false,
    });
    let reported = 0;
    upload.on('httpUploadProgress', (p) => {
      const loaded = p.loaded ?? 0;
      progress.bytes += loaded - reported;
      reported = loaded;
      options.onProgress?.({ ...progress });
    });
    try {
      await upload.done();
    } catch (err) {
      throw new Error(`fill: multipart upload of ${JSON.stringify(o.key)} (${o.size} bytes) failed: ${String(err)}`, {
        cause: err,
      });
    }
    progress.bytes += o.size - reported;
    progress.objects++;
    options.onProgress?.({ ...progress });
  }
  return { objects, bytes: totalBytes, seconds: (Date.now() - started) / 1000 };
}
