import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { helpText, loadConfig, redactedConfig, settings, type Section } from '../../shared/config.ts';

const dir = mkdtempSync(join(tmpdir(), 'rm-config-'));
const file = (content: unknown) => {
  const path = join(dir, `${Math.random()}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
};

t.test('defaults, then file, then environment, then flags', async (t) => {
  t.equal(loadConfig({ env: {} }).rclone.children, 6);
  const path = file({ rclone: { children: 3 }, queue: { url: 'from-file' } });
  t.equal(loadConfig({ env: {}, argv: ['--config', path] }).rclone.children, 3);
  t.equal(loadConfig({ env: { RCLONE_MIGRATE_RCLONE_CHILDREN: '4' }, argv: ['--config', path] }).rclone.children, 4);
  const c = loadConfig({
    env: { RCLONE_MIGRATE_RCLONE_CHILDREN: '4' },
    argv: ['--config', path, '--rclone-children=5'],
  });
  t.equal(c.rclone.children, 5);
  t.equal(c.queue.url, 'from-file');
});

t.test('rclone child recycling: RSS limit on by default, copy count off; 0 turns either off', async (t) => {
  t.match(loadConfig({ env: {} }).rclone, { recycleRssMiB: 1024, recycleAfterCopies: 0 });
  const c = loadConfig({
    env: { RCLONE_MIGRATE_RCLONE_RECYCLE_AFTER_COPIES: '5000' },
    argv: ['--rclone-recycle-rss-mib', '0'],
  });
  t.match(c.rclone, { recycleRssMiB: 0, recycleAfterCopies: 5000 });
  t.throws(() => loadConfig({ env: {}, argv: ['--rclone-recycle-after-copies', '-1'] }), /recycleAfterCopies/);
});

t.test('seed-compatible environment names', async (t) => {
  const c = loadConfig({ env: { SOURCE_BUCKET: 's', DEST_BUCKET: 'd', QUEUE_URL: 'q', PREFIX: 'p/' } });
  t.same([c.source.bucket, c.dest.bucket, c.queue.url, c.source.prefix], ['s', 'd', 'q', 'p/']);
});

t.test('bad values fail naming the setting, the value and what is allowed', async (t) => {
  t.throws(
    () => loadConfig({ env: {}, argv: ['--rclone-children', '0'] }),
    /rclone\.children.*whole number ≥ 1.*value was 0/,
  );
  t.throws(() => loadConfig({ env: {}, argv: ['--log-level', 'loud'] }), /log\.level.*loud/);
  t.throws(() => loadConfig({ env: {}, argv: ['--wait-seconds', '30'] }), /queue\.waitSeconds: value 30 .*0 to 20/);
  t.throws(() => loadConfig({ env: {}, argv: ['--heartbeat-seconds', '70'] }), /half of queue\.visibilitySeconds/);
  t.throws(() => loadConfig({ env: {}, argv: ['--bogus', '1'] }), /unknown option --bogus/);
  t.throws(() => loadConfig({ env: {}, argv: ['--config', join(dir, 'missing.json')] }), /does not exist/);
  t.throws(() => loadConfig({ env: {}, argv: ['--config', file('{nope')] }), /not valid JSON/);
  t.throws(() => loadConfig({ env: {}, argv: ['--config', file({ nope: 1 })] }), /nope/);
  t.throws(() => loadConfig({ env: { RCLONE_MIGRATE_RCLONE_FLAGS: '"--x"' } }), /rclone\.flags.*JSON array/);
  t.throws(() => loadConfig({ env: {}, argv: ['--storage-class', 'COLD'] }), /dest\.storageClass.*COLD/);
  t.throws(() => loadConfig({ env: { RCLONE_MIGRATE_SSE: 'aes' } }), /dest\.sse.*aes/);
  t.throws(
    () => loadConfig({ env: {}, argv: ['--sse-kms-key-id', 'alias/migration'] }),
    /dest\.sseKmsKeyId.*needs dest\.sse SSE-KMS/,
  );
  t.throws(
    () => loadConfig({ env: {}, argv: ['--sse', 'SSE-KMS', '--sse-kms-key-id', 'not a key'] }),
    /dest\.sseKmsKeyId.*key id, key ARN/,
  );
  t.throws(() => loadConfig({ env: {}, argv: ['--copy-path', 'both'] }), /worker\.copyPath.*both/);
  const kms = loadConfig({
    env: { RCLONE_MIGRATE_SSE: 'SSE-KMS', RCLONE_MIGRATE_STORAGE_CLASS: 'DEEP_ARCHIVE' },
    argv: ['--sse-kms-key-id', 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'],
  });
  t.equal(kms.dest.sse, 'SSE-KMS');
  t.equal(kms.dest.storageClass, 'DEEP_ARCHIVE');
  t.equal(kms.dest.sseBucketKey, true, 'bucket keys by default');
});

t.test('secrets are redacted wherever config is printed or rejected', async (t) => {
  const c = loadConfig({ env: { RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY: 'hunter2-secret' } });
  t.equal(c.source.secretAccessKey, 'hunter2-secret');
  t.notMatch(JSON.stringify(redactedConfig(c)), /hunter2/);
  t.notMatch(helpText(['source']), /hunter2/);
});

t.test('every setting has a flag, an environment variable and help', async (t) => {
  const sections = [...new Set(settings().map((s) => s.path.split('.')[0]))].filter((s) => s !== 'config');
  const text = helpText(sections as Section[]);
  for (const { leaf } of settings()) {
    t.ok(leaf.arg && leaf.env && leaf.doc, leaf.arg);
    t.match(text, `--${leaf.arg} `);
  }
});
