// scripts/deploy.sh end to end against stand-ins: `aws` and `curl` are small scripts on PATH that
// record what they were asked (no AWS account and no internet here), in a scratch copy of the tree
// holding a fake package. Checks the order of the steps, the checksums it passes to the stack, and
// that source secrets never reach a command line.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';

const REPO = join(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

function scratchTree(options: { rcloneSumsLie?: boolean } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'rm-deploy-'));
  for (const dir of ['scripts', 'cloudformation', 'dist', 'bin']) mkdirSync(join(root, dir));
  copyFileSync(join(REPO, 'scripts/deploy.sh'), join(root, 'scripts/deploy.sh'));
  copyFileSync(join(REPO, 'package.json'), join(root, 'package.json'));
  copyFileSync(join(REPO, 'cloudformation/rclone-migrate.yaml'), join(root, 'cloudformation/rclone-migrate.yaml'));
  const rpm = 'fake rpm payload';
  writeFileSync(join(root, `dist/rclone-migrate-${VERSION}-1.x86_64.rpm`), rpm);
  const zip = 'fake rclone zip';
  const zipName = 'rclone-v1.75.2-linux-amd64.zip';
  const sums = `${options.rcloneSumsLie ? sha256('something else') : sha256(zip)}  ${zipName}\n${sha256('x')}  rclone-v1.75.2-osx-amd64.zip\n`;
  const log = join(root, 'calls.log');
  const stub = (name: string, body: string) => {
    writeFileSync(join(root, 'bin', name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(root, 'bin', name), 0o755);
  };
  // aws: records its arguments; for put-secret-value also what the file:// value held.
  stub(
    'aws',
    `printf '%s\\n' "aws $*" >> ${log}
for a in "$@"; do case "$a" in file://*) printf 'secret-file-held:%s\\n' "$(cat "\${a#file://}")" >> ${log} ;; esac; done
case "$*" in *describe-stacks*) echo "output-of-$(echo "$*" | sed -n "s/.*OutputKey=='\\([A-Za-z]*\\)'.*/\\1/p")" ;; esac`,
  );
  stub(
    'curl',
    `out=''; url=''
while [ $# -gt 0 ]; do case "$1" in -o) out=$2; shift 2 ;; -*) shift ;; *) url=$1; shift ;; esac; done
printf '%s\\n' "curl $url" >> ${log}
case "$url" in */SHA256SUMS) printf '%s' '${sums}' > "$out" ;; *) printf '%s' '${zip}' > "$out" ;; esac`,
  );
  return { root, log, rpmSha: sha256(rpm), zipSha: sha256(zip) };
}

function deploy(root: string, env: Record<string, string> = {}) {
  return spawnSync(
    'bash',
    [
      join(root, 'scripts/deploy.sh'),
      '--stack',
      'migration',
      '--artifact-bucket',
      'artifacts-bucket',
      '--source-bucket',
      'legacy-bucket',
      '--dest-bucket',
      'new-bucket',
      '--region',
      'eu-west-1',
      '--skip-build',
      '--skip-image',
      '--parameter',
      'MaxInstances=8',
    ],
    { env: { PATH: `${join(root, 'bin')}:${process.env.PATH}`, HOME: root, ...env }, encoding: 'utf8' },
  );
}

void t.test('uploads verified artifacts, deploys with their checksums, stores secrets through files', async (t) => {
  const { root, log, rpmSha, zipSha } = scratchTree();
  const secret = 'very-secret-key-value';
  const res = deploy(root, {
    SOURCE_ENDPOINT: 'https://cos.example.test',
    SOURCE_ACCESS_KEY_ID: 'AKIAEXAMPLE',
    SOURCE_SECRET_ACCESS_KEY: secret,
  });
  t.equal(res.status, 0, res.stderr);
  const calls = readFileSync(log, 'utf8').trim().split('\n');
  const commands = calls.filter((c) => c.startsWith('aws ') || c.startsWith('curl '));
  const prefix = `s3://artifacts-bucket/rclone-migrate/${VERSION}/`;
  t.match(commands[0], /^curl https:\/\/downloads\.rclone\.org\/v1\.75\.2\/rclone-v1\.75\.2-linux-amd64\.zip$/);
  t.match(commands[1], /^curl https:\/\/downloads\.rclone\.org\/v1\.75\.2\/SHA256SUMS$/);
  t.match(commands[2], new RegExp(`^aws s3 cp .*rclone-migrate-${VERSION}-1\\.x86_64\\.rpm ${prefix}`));
  t.match(commands[3], new RegExp(`^aws s3 cp .*rclone-v1\\.75\\.2-linux-amd64\\.zip ${prefix}`));
  const deployCall = commands.find((c) => c.startsWith('aws cloudformation deploy')) ?? '';
  t.match(deployCall, /--stack-name migration/);
  t.match(deployCall, `PackageSha256=${rpmSha}`);
  t.match(deployCall, `RcloneSha256=${zipSha}`);
  t.match(deployCall, `ArtifactPrefix=rclone-migrate/${VERSION}/`);
  t.match(deployCall, 'MaxInstances=8', 'extra parameters pass through');
  const puts = commands.filter((c) => c.includes('put-secret-value'));
  t.equal(puts.length, 3);
  t.match(puts[2], /--secret-id \/rclone-migrate\/migration\/source_secret_key --secret-string file:\/\//);
  t.notOk(
    commands.some((c) => c.includes(secret)),
    'the secret is on no command line',
  );
  t.ok(calls.includes(`secret-file-held:${secret}`), 'the secret went through the file');
  t.match(res.stdout, /output-of-RunListerCommand/, 'ends with the run-task command');
});

void t.test('refuses an rclone archive that does not match the published checksum', async (t) => {
  const { root, log } = scratchTree({ rcloneSumsLie: true });
  const res = deploy(root);
  t.not(res.status, 0);
  const calls = existsSync(log) ? readFileSync(log, 'utf8') : '';
  t.notMatch(calls, /aws /, 'nothing uploaded or deployed');
  t.same(
    readdirSync(join(root, 'build/deploy')).filter((f) => f.endsWith('.zip')),
    [],
    'the bad download is not kept for the next run',
  );
  t.match(res.stderr, /does not match rclone's published checksum/);
});

void t.test('says what it needs', async (t) => {
  const res = spawnSync('bash', [join(REPO, 'scripts/deploy.sh')], { encoding: 'utf8' });
  t.equal(res.status, 2);
  t.match(res.stdout, /--stack NAME --artifact-bucket BUCKET/);
});
