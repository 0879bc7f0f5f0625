// What S3 allows, checked precisely: a narrow allow-list would strand legal objects.

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Returns why a bucket name is not one S3 (or an S3-compatible store) accepts, or undefined. */
export function bucketNameProblem(name: string): string | undefined {
  if (!BUCKET.test(name)) {
    return `bucket name ${JSON.stringify(name)} must be 3-63 characters of a-z, 0-9, '.' and '-', starting and ending with a letter or digit`;
  }
  if (name.includes('..')) return `bucket name ${JSON.stringify(name)} must not contain '..'`;
  if (IPV4.test(name)) return `bucket name ${JSON.stringify(name)} must not look like an IP address`;
  return undefined;
}

export const MAX_KEY_BYTES = 1024;

/** Returns why a string is not a legal S3 key (any UTF-8 of 1 to 1,024 bytes), or undefined. */
export function keyProblem(key: string): string | undefined {
  if (key.length === 0) return 'key is empty';
  if (!key.isWellFormed()) return 'key is not valid UTF-8 (lone surrogate)';
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) return `key is ${bytes} bytes long; S3 allows at most ${MAX_KEY_BYTES}`;
  return undefined;
}

/**
 * rclone maps a key onto a path and cannot address keys whose path would be normalised away:
 * empty segments (`a//b`, a leading or trailing `/`) and `.` or `..` segments. Those keys take
 * the SDK copy path instead.
 */
export function rcloneCanAddress(key: string): boolean {
  if (key.startsWith('/') || key.endsWith('/') || key.includes('//')) return false;
  for (const segment of key.split('/')) if (segment === '.' || segment === '..') return false;
  return true;
}
