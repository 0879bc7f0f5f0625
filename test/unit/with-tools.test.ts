// When scripts/with-tools.ts starts the one shared Ceph RGW of a run: for tap, not when one is given.
import t from 'tap';
import { TEST_CEPH_ENV, wantsSharedCeph } from '../../scripts/with-tools.ts';
import { sharedCeph } from '../helpers/ceph.ts';

t.test('a tap run gets a shared Ceph unless it has one or asks for its own', async (t) => {
  t.ok(wantsSharedCeph('tap', [], {}));
  t.ok(wantsSharedCeph('/x/node_modules/.bin/tap', ['test/a.test.ts'], {}));
  t.ok(wantsSharedCeph('npx', ['tap', 'test/a.test.ts'], {}));
  t.notOk(wantsSharedCeph('npx', ['eslint'], {}));
  t.notOk(wantsSharedCeph('node', ['scripts/demo.ts'], {}));
  t.notOk(wantsSharedCeph('tap', [], { [TEST_CEPH_ENV.endpoint]: 'http://127.0.0.1:1' }), 'one given');
  t.notOk(wantsSharedCeph('tap', [], { RCLONE_MIGRATE_TEST_CEPH: 'own' }), 'each file its own');
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
