// When scripts/with-tools.ts starts the one shared Ceph RGW of a run: for tap running files that read
// from Ceph (or the whole suite), not when one is given.
import t from 'tap';
import { TEST_CEPH_ENV, usesCeph, wantsSharedCeph } from '../../scripts/with-tools.ts';
import { sharedCeph } from '../helpers/ceph.ts';

t.test('a tap run gets a shared Ceph unless it has one or asks for its own', async (t) => {
  const ceph = (file: string) => file.includes('ceph');
  t.ok(wantsSharedCeph('tap', [], {}, ceph), 'the whole suite');
  t.ok(wantsSharedCeph('/x/node_modules/.bin/tap', ['test/ceph/a.test.ts'], {}, ceph));
  t.ok(wantsSharedCeph('npx', ['tap', '--bail', 'test/unit/a.test.ts', 'test/ceph/a.test.ts'], {}, ceph));
  t.notOk(wantsSharedCeph('tap', ['test/unit/a.test.ts'], {}, ceph), 'unit files alone: no Ceph');
  t.notOk(wantsSharedCeph('npx', ['tap', '--timeout=9', 'test/unit/a.test.ts'], {}, ceph), 'options are no files');
  t.notOk(wantsSharedCeph('npx', ['eslint'], {}));
  t.notOk(wantsSharedCeph('node', ['scripts/demo.ts'], {}));
  t.notOk(wantsSharedCeph('tap', [], { [TEST_CEPH_ENV.endpoint]: 'http://127.0.0.1:1' }), 'one given');
  t.notOk(wantsSharedCeph('tap', [], { RCLONE_MIGRATE_TEST_CEPH: 'own' }), 'each file its own');
});

t.test('which test files read from Ceph: by the helpers they import', async (t) => {
  t.ok(usesCeph(new URL('../ceph/fidelity.test.ts', import.meta.url).pathname));
  t.ok(usesCeph(new URL('../worker/auth-pause.test.ts', import.meta.url).pathname), 'through source-store.ts');
  t.notOk(usesCeph(new URL('./settle.test.ts', import.meta.url).pathname));
  t.ok(usesCeph('test/**/*.test.ts'), 'a glob may match one that does');
});

t.test('test files read the shared instance from the environment, and refuse half of it', async (t) => {
  t.equal(sharedCeph({}), undefined);
  t.same(
    sharedCeph({
      [TEST_CEPH_ENV.endpoint]: 'http://127.0.0.1:9',
      [TEST_CEPH_ENV.accessKeyId]: 'AK',
      [TEST_CEPH_ENV.secretAccessKey]: 'SK',
    }),
    { endpoint: 'http://127.0.0.1:9', accessKeyId: 'AK', secretAccessKey: 'SK', region: 'us-east-1', own: false },
  );
  t.throws(() => sharedCeph({ [TEST_CEPH_ENV.endpoint]: 'http://127.0.0.1:9' }), /ACCESS_KEY/);
});
