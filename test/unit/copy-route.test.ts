// Which path copies an object (daemon/copy-route.ts): pure decisions, by the listing and by the HEAD.
import t from 'tap';
import { pathByListing, unsetByRclone } from '../../daemon/copy-route.ts';

const MiB = 1024 * 1024;
const at = (size: number | undefined, srcKey = 'a/b.bin', dstKey = srcKey) => ({ srcKey, dstKey, size });

t.test('auto: by the listed size; sdk and rclone as chosen', async (t) => {
  t.equal(pathByListing('auto', at(64 * MiB), 64 * MiB), 'rclone', 'at the threshold: rclone');
  t.equal(pathByListing('auto', at(64 * MiB - 1), 64 * MiB), 'sdk', 'below it: the SDK');
  t.equal(pathByListing('auto', at(undefined), 64 * MiB), 'sdk', 'no listed size: the SDK');
  t.equal(pathByListing('sdk', at(10 * 1024 * MiB), 64 * MiB), 'sdk');
  t.equal(pathByListing('rclone', at(1), 64 * MiB), 'rclone');
});

t.test('keys rclone cannot address go by the SDK whatever the choice', async (t) => {
  for (const choice of ['auto', 'rclone'] as const) {
    t.equal(pathByListing(choice, at(100 * MiB, 'a//b'), MiB), 'sdk', `${choice}: a//b`);
    t.equal(pathByListing(choice, at(100 * MiB, 'ok', 'x/../y'), MiB), 'sdk', `${choice}: a destination key`);
  }
});

t.test('what rclone cannot set: Expires and Website-Redirect-Location', async (t) => {
  t.same(unsetByRclone({ ContentType: 'text/plain', CacheControl: 'no-cache', Metadata: { a: '1' } }), []);
  t.same(unsetByRclone({ Expires: new Date('2031-01-01T00:00:00Z') }), ['Expires']);
  t.same(unsetByRclone({ ExpiresString: 'not a date' }), ['Expires'], 'an unparsable Expires is still one');
  t.same(unsetByRclone({ WebsiteRedirectLocation: '/x' }), ['Website-Redirect-Location']);
  t.same(unsetByRclone({ WebsiteRedirectLocation: '' }), [], 'an empty header counts as absent');
});
