// A wrong source secret in Secrets Manager, against real processes: the source is a store that checks
// signatures, a second moto (POST /moto-api/reset-auth) or Ceph RGW (SigV4 for real); the queues, the
// secrets and the destination are the first moto. The worker must pause after the batches in flight
// (nothing dead-lettered), say once which store refuses us and where, read the secrets again at every probe, and resume by itself once the
// secret is corrected in Secrets Manager, with no restart: every object copied, none dead-lettered.
import t, { type Test as Tap } from 'tap';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { CreateSecretCommand, PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { createResources, localClients, LOCAL_REGION, startLocalStack } from '../../scripts/local-stack.ts';
import { batch, content, enqueue, putObject, sha256, sha256Of, takeAll } from '../helpers/queues.ts';
import { startWorker, waitFor, workerArgs } from '../helpers/worker-process.ts';
import { cephClient, cephStore, uniqueBucket } from '../helpers/ceph.ts';
import { SOURCE_STORES, type SourceStoreName } from '../helpers/source-store.ts';
import { checkSignatures, motoUser } from '../helpers/moto-auth.ts';

const stack = await startLocalStack();
t.teardown(() => stack.stop());
const source = await startLocalStack();
t.teardown(() => source.stop());
const { s3, sqs, secrets } = localClients(stack);

type Source = {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  s3: S3Client;
  bucket: string;
  args: string[];
  checkSignatures(on: boolean): Promise<void>;
};

/** A source store that checks signatures, with a bucket of our own on it. */
async function signatureCheckingSource(t: Tap, store: SourceStoreName, bucket: string): Promise<Source> {
  if (store === 'ceph') {
    const ceph = await cephStore(t);
    const s3 = cephClient(ceph);
    const own = uniqueBucket(bucket);
    await s3.send(new CreateBucketCommand({ Bucket: own }));
    return {
      ...ceph,
      s3,
      bucket: own,
      args: ['--source-provider', 'Ceph', '--source-region', ceph.region],
      checkSignatures: async () => undefined, // RGW always does
    };
  }
  const { accessKeyId, secretAccessKey } = await motoUser(source.endpoint, 'migrator');
  const s3 = new S3Client({
    region: LOCAL_REGION,
    endpoint: source.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint: source.endpoint,
    accessKeyId,
    secretAccessKey,
    s3,
    bucket,
    args: [],
    checkSignatures: (on) => checkSignatures(source.endpoint, on),
  };
}

for (const store of SOURCE_STORES) {
  t.test(
    `${store}: a wrong source secret pauses the worker; the corrected secret resumes it without a restart`,
    async (t) => {
      const made = await createResources(stack, { name: `authpause-${store}`, secrets: false });
      const src = await signatureCheckingSource(t, store, made.sourceBucket);
      t.teardown(() => src.s3.destroy());
      const res = { ...made, sourceBucket: src.bucket };
      const { accessKeyId, secretAccessKey } = src;
      const messages = 8;
      const perMessage = 5;
      const bodies = new Map<string, Buffer>();
      for (let m = 0; m < messages; m++) {
        for (let k = 0; k < perMessage; k++) bodies.set(`m${m}/k${k}`, content(100 + m * 10 + k, `${m}/${k}`));
      }
      for (const [key, body] of bodies) await putObject(src.s3, res.sourceBucket, key, body);
      const wrongSecret = 'wrong-secret-000000000000000000000000000';
      const names = { endpoint: `/${store}/endpoint`, key: `/${store}/key`, secret: `/${store}/secret` };
      await secrets.send(new CreateSecretCommand({ Name: names.endpoint, SecretString: src.endpoint }));
      await secrets.send(new CreateSecretCommand({ Name: names.key, SecretString: accessKeyId }));
      await secrets.send(new CreateSecretCommand({ Name: names.secret, SecretString: wrongSecret }));
      await src.checkSignatures(true);
      t.teardown(() => src.checkSignatures(false));

      const worker = await startWorker(
        stack,
        workerArgs(res, [
          '--secret-endpoint',
          names.endpoint,
          '--secret-access-key',
          names.key,
          '--secret-secret-key',
          names.secret,
          '--outage-probe-seconds',
          '1',
          '--max-attempts',
          '2',
          '--max-messages-in-flight',
          '2',
          ...src.args,
        ]),
      );
      t.teardown(() => worker.stop('SIGKILL'));
      for (let m = 0; m < messages; m++) {
        const keys = [...bodies]
          .filter(([key]) => key.startsWith(`m${m}/`))
          .map(([key, b]) => ({ key, size: b.length }));
        await enqueue(sqs, res.queueUrl, batch(res, keys));
      }

      await waitFor(
        'receiving paused for auth',
        async () => (await worker.metric('rclone_migrate_stores_unavailable', { reason: 'auth' })) === 1,
      );
      await waitFor(
        'two probes refused',
        async () => (await worker.metric('rclone_migrate_outage_probes_total', { result: 'auth' })) >= 2,
      );
      t.equal(await worker.metric('rclone_migrate_stores_unreachable'), 0, 'not an outage: the store answers');
      const received = await worker.metric('rclone_migrate_messages_received_total');
      t.ok(received <= 4, `only the batches in flight spent an attempt (${received} received)`);
      t.ok((await worker.metric('rclone_migrate_objects_failed_total', { reason: 'auth' })) > 0);
      t.ok(
        (await worker.metric('rclone_migrate_source_credential_refreshes_total', { result: 'unchanged' })) >= 2,
        'the secrets are read again at every probe, and counted',
      );
      t.same(await takeAll(sqs, res.deadLetterUrl, 0), [], 'nothing dead-lettered while paused');
      const errors = worker.logs.filter((l) => l.level === 'error');
      t.equal(errors.length, 1, 'one error line');
      t.match(errors[0], {
        msg: /the source refuses our credentials/,
        store: 'source',
        reason: 'auth',
        endpoint: src.endpoint,
        bucket: res.sourceBucket,
        secrets: [names.endpoint, names.key, names.secret],
        err: /SignatureDoesNotMatch/,
      });

      // The operator corrects the secret; no restart.
      await secrets.send(new PutSecretValueCommand({ SecretId: names.secret, SecretString: secretAccessKey }));
      await waitFor(
        'every object copied',
        async () => (await worker.metric('rclone_migrate_objects_copied_total')) >= bodies.size,
        90_000,
      );
      t.equal(await worker.metric('rclone_migrate_stores_unavailable', { reason: 'auth' }), 0, 'resumed');
      t.ok((await worker.metric('rclone_migrate_source_credential_refreshes_total', { result: 'changed' })) >= 1);
      await src.checkSignatures(false);
      for (const [key, body] of bodies) t.equal(await sha256Of(s3, res.destBucket, key), sha256(body), key);
      t.equal(await worker.metric('rclone_migrate_objects_dead_lettered_total'), 0, 'none dead-lettered');
      t.same(await takeAll(sqs, res.deadLetterUrl, 0), [], 'the dead-letter queue is empty');
      const out = worker.output();
      t.notOk(out.includes(secretAccessKey) || out.includes(wrongSecret), 'no secret in the logs');
      t.equal((await worker.stop()).code, 0);
    },
  );
}
