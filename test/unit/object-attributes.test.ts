import t from 'tap';
import {
  attributesOf,
  describeDifferences,
  diffAttributes,
  hasTags,
  metadataHeaderValue,
  metadataText,
  RCLONE_OWN_METADATA,
  refusedByS3,
  taggingHeader,
  tagSet,
} from '../../shared/object-attributes.ts';

const full = {
  ContentType: 'text/html',
  CacheControl: 'max-age=60',
  ContentDisposition: 'attachment; filename="a.html"',
  ContentEncoding: 'gzip',
  ContentLanguage: 'de-CH',
  Expires: new Date('2030-01-02T03:04:05Z'),
  WebsiteRedirectLocation: '/elsewhere',
  Metadata: { Owner: 'zoë', 'a-b': '1' },
  TagCount: 2,
};

t.test('reads every field; names of user metadata lower-cased, values kept', async (t) => {
  const a = attributesOf(full, [
    { Key: 'k', Value: 'v' },
    { Key: 'e', Value: '' },
  ]);
  t.same(a, {
    contentType: 'text/html',
    cacheControl: 'max-age=60',
    contentDisposition: 'attachment; filename="a.html"',
    contentEncoding: 'gzip',
    contentLanguage: 'de-CH',
    expires: 'Wed, 02 Jan 2030 03:04:05 GMT',
    websiteRedirectLocation: '/elsewhere',
    metadata: { owner: 'zoë', 'a-b': '1' },
    tags: { k: 'v', e: '' },
  });
  t.equal(attributesOf({ ExpiresString: 'not a date' }).expires, 'not a date', 'unparsable Expires kept as sent');
  t.equal(attributesOf({ ContentEncoding: '' }).contentEncoding, undefined, 'empty header is absent');
  t.equal(attributesOf({}).tags, undefined, 'tags not read');
});

t.test('tag count decides whether tags are fetched', async (t) => {
  t.equal(hasTags({ TagCount: 2 }), true);
  t.equal(hasTags({ TagCount: 0 }), false);
  t.equal(hasTags({}), false);
});

t.test('differences name the field and both values', async (t) => {
  const source = attributesOf(full, { k: 'v' });
  t.same(diffAttributes(source, source), []);
  const dest = attributesOf({ ...full, ContentEncoding: undefined, Metadata: { owner: 'zoe', mtime: '1' } }, {});
  const diffs = diffAttributes(source, dest);
  t.same(diffs, [
    { field: 'Content-Encoding', source: 'gzip', dest: undefined },
    { field: 'x-amz-meta-a-b', source: '1', dest: undefined },
    { field: 'x-amz-meta-mtime', source: undefined, dest: '1' },
    { field: 'x-amz-meta-owner', source: 'zoë', dest: 'zoe' },
    { field: 'tag:k', source: 'v', dest: undefined },
  ]);
  t.match(describeDifferences(diffs), /Content-Encoding: source "gzip", destination absent/);
  const ignored = diffAttributes(source, dest, { ignoreMetadata: RCLONE_OWN_METADATA });
  t.notOk(
    ignored.some((d) => d.field === 'x-amz-meta-mtime'),
    'rclone metadata may be ignored when asked',
  );
  t.same(diffAttributes(attributesOf({}), attributesOf({ ContentType: 'binary/octet-stream' })), [], 'default type');
  t.same(diffAttributes(attributesOf({}), attributesOf({}, { a: 'b' })), [], 'tags compared only when both read');
});

t.test('tagging header is URL-encoded in name order', async (t) => {
  t.equal(taggingHeader({ b: 'x y', a: 'ä&=' }), 'a=%C3%A4%26%3D&b=x%20y');
  t.equal(taggingHeader({}), undefined);
  t.same(tagSet({ b: '1', a: '2' }), [
    { Key: 'a', Value: '2' },
    { Key: 'b', Value: '1' },
  ]);
});

t.test('what S3 refuses is named', async (t) => {
  t.equal(refusedByS3({ metadata: { a: 'x'.repeat(2047) } }), undefined, '2048 bytes is allowed');
  t.match(refusedByS3({ metadata: { a: 'é'.repeat(1024) } }), /user metadata is 2049 bytes, over S3's limit of 2048/);
  const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`t${i}`, 'v']));
  t.match(refusedByS3({ metadata: {}, tags: eleven }), /11 tags, over S3's limit of 10/);
  t.match(refusedByS3({ metadata: {}, tags: { k: 'v'.repeat(257) } }), /value of tag "k"/);
  t.match(refusedByS3({ metadata: {}, tags: { ['k'.repeat(129)]: 'v' } }), /tag key/);
});

t.test('non-ASCII metadata: raw UTF-8 and RFC 2047 words are the same text; sent as words', async (t) => {
  const raw = Buffer.from('façade → ü', 'utf8').toString('latin1'); // what Node hands over for raw bytes
  t.equal(metadataText(raw), 'façade → ü');
  t.equal(metadataText('=?UTF-8?B?ZmHDp2FkZSDihpIgw7w=?='), 'façade → ü', 'Amazon S3 form (B)');
  t.equal(metadataText('=?utf-8?Q?fa=C3=A7ade_x?='), 'façade x', 'Q form');
  t.equal(metadataText('plain ascii =?'), 'plain ascii =?');
  t.equal(metadataText(Buffer.from([0xe9]).toString('latin1')), 'é', 'not UTF-8: latin1 kept as it is');
  t.equal(metadataHeaderValue('ascii'), 'ascii');
  t.equal(metadataHeaderValue(raw), '=?UTF-8?B?ZmHDp2FkZSDihpIgw7w=?=');
  t.equal(metadataText(metadataHeaderValue(raw)), 'façade → ü', 'round trip');
  t.same(
    attributesOf({ Metadata: { a: raw } }).metadata,
    attributesOf({ Metadata: { a: metadataHeaderValue(raw) } }).metadata,
  );
});
