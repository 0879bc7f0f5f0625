// The Ceph RGW stand-in itself (scripts/ceph-rgw.ts): a second instance runs beside the shared one without
// seeing it, it checks S3 signatures, it answers only on loopback, stop ends its daemons by PID, and
// the daemons of a killed parent do not outlive it.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import t from 'tap';
import { CreateBucketCommand, HeadBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { cephConf, startCephRgw } from '../../scripts/ceph-rgw.ts';
import { cephClient, cephStore, uniqueBucket } from '../helpers/ceph.ts';
import { httpStatus } from '../../shared/errors.ts';
import { waitFor } from '../helpers/worker-process.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

t.test('the configuration keeps everything under its folder and on loopback', async (t) => {
  const conf = cephConf({ fsid: 'f', dir: '/x/y', monPort: 1234, rgwPort: 5678, memstoreBytes: 1 });
  for (const line of conf.split('\n').filter((l) => /(dir|socket|file|data|keyring) =/.test(l)))
    t.match(line, /= \/x\/y\//, `under the folder: ${line}`);
  t.match(conf, /mon host = v2:127\.0\.0\.1:1234/);
  t.match(conf, /beast endpoint=127\.0\.0\.1:5678 tcp_nodelay=1/);
  t.match(conf, /ms mon client mode = crc secure/);
});

t.test('two instances run side by side, isolated; signatures are checked; stop ends the daemons', async (t) => {
  const shared = cephStore(t);
  const second = await startCephRgw({ accessKeyId: 'SECONDINSTANCEKEY000', secretAccessKey: 'second-secret-0000' });
  t.teardown(() => second.stop());
  const first = await shared;
  t.not(second.endpoint, first.endpoint);
  t.match(second.endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);

  const bucket = uniqueBucket('isolated');
  const c2 = cephClient({ ...second, own: true });
  await c2.send(new CreateBucketCommand({ Bucket: bucket }));
  await c2.send(new HeadBucketCommand({ Bucket: bucket }));
  const c1 = cephClient(first);
  const names = ((await c1.send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name);
  t.notOk(names.includes(bucket), 'the other instance does not see the bucket');

  const wrong = new S3Client({
    endpoint: second.endpoint,
    region: second.region,
    forcePathStyle: true,
    credentials: { accessKeyId: second.accessKeyId, secretAccessKey: 'not-the-secret' },
  });
  const refused = await wrong.send(new HeadBucketCommand({ Bucket: bucket })).catch((err: unknown) => err);
  t.equal(httpStatus(refused), 403, 'a wrong secret is refused');

  const pids = Object.values(second.pids);
  t.ok(pids.every(alive), 'mon, osd and radosgw running');
  await second.stop();
  t.ok(
    pids.every((p) => !alive(p)),
    'all three ended',
  );
  t.notOk(existsSync(second.dir), 'its folder removed');
});

t.test('daemons of a process killed with SIGKILL end with it (none left behind)', async (t) => {
  const script =
    "import { startCephRgw } from './scripts/ceph-rgw.ts';" +
    'const r = await startCephRgw(); console.log(JSON.stringify(r.pids)); setInterval(() => {}, 1000);';
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor('the pids of the started instance', () => out.includes('}'), 90_000);
  const pids = Object.values(JSON.parse(out) as Record<string, number>);
  t.ok(pids.every(alive), 'running');
  child.kill('SIGKILL');
  await waitFor('every daemon gone', () => pids.every((p) => !alive(p)), 30_000);
  t.pass('mon, osd and radosgw ended with their parent');
});
