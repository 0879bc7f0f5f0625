// Fills a source bucket with the mix a real migration meets: thousands of small objects under varied
// prefixes and depths, a few objects over 300 MB, zero-byte objects, unicode keys, keys with characters
// that need escaping, and the keys rclone cannot address. Content is a deterministic function of a seed
// and the key (an AES-CTR keystream), so large objects stream from a generator and never sit in memory.
import { createCipheriv, createHash, type Cipheriv } from 'node:crypto';
import { Readable } from 'node:stream';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { forEachLimit } from './for-each-limit.ts';

export const KiB = 1024;
export const MiB = 1024 * KiB;

export type ObjectKind = 'small' | 'large' | 'empty' | 'unicode' | 'special' | 'odd';

export type PlannedObject = { key: string; size: number; kind: ObjectKind };

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

/** Every object the fill creates, in upload order. Deterministic for a given plan. */
export function planObjects(options: PlanOptions): PlannedObject[] {
  const random = prng(options.seed);
  const span = options.smallMaxBytes - options.smallMinBytes + 1;
  const size = () => options.smallMinBytes + Math.floor(random() * span);
  const objects: PlannedObject[] = [];
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
  return objects;
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
      params: { Bucket: options.bucket, Key: o.key, Body: objectStream(options.plan.seed, o.key, o.size) },
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
