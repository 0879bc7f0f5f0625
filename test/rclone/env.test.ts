// The child's command line and environment, and what rc error replies mean: pure functions.
import t from 'tap';
import { ConfigError } from '../../shared/errors.ts';
import { childArgs, childEnv, KEY_ENCODING, type DestRemote, type SourceRemote } from '../../daemon/rclone-env.ts';
import { classifyRcError, describeCopyFailure, describeRcError, rcErrorStore } from '../../daemon/rc-api.ts';
import { backoffMs, DEFAULT_TUNING } from '../../daemon/rclone-pool.ts';

const source: SourceRemote = {
  endpoint: 'https://s3.us-south.cloud-object-storage.appdomain.cloud',
  accessKeyId: 'SRCKEYID',
  secretAccessKey: 'SRC/SECRET+KEY',
  region: 'us-south',
  provider: 'IBMCOS',
  forcePathStyle: true,
  options: { chunk_size: '16M', UPLOAD_CONCURRENCY: '8' },
};
const aws: DestRemote = { endpoint: '', region: 'eu-west-1', options: {} };
const baseEnv = {
  PATH: '/usr/bin:/bin',
  HOME: '/var/lib/rclone-migrate',
  LANG: 'C.UTF-8',
  AWS_CA_BUNDLE: '/etc/ssl/certs/ca-certificates.crt',
  AWS_ACCESS_KEY_ID: 'DESTKEY',
  AWS_SECRET_ACCESS_KEY: 'DEST-SECRET',
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/credentials/x',
  AWS_ENDPOINT_URL: 'http://127.0.0.1:1',
  RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY: 'SRC/SECRET+KEY',
  NODE_OPTIONS: '--inspect',
  SOMETHING_ELSE: 'x',
};

void t.test('environment: an allow-list of the daemon’s, both remotes, rc credentials', async (t) => {
  const env = childEnv({ source, dest: aws, baseEnv, rcUser: 'user1', rcPass: 'pass1' });
  t.equal(env.PATH, baseEnv.PATH);
  t.equal(env.HOME, baseEnv.HOME);
  t.equal(env.LANG, baseEnv.LANG);
  t.equal(env.AWS_ACCESS_KEY_ID, 'DESTKEY', 'destination credentials for env_auth');
  t.equal(env.AWS_SECRET_ACCESS_KEY, 'DEST-SECRET');
  t.equal(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, '/v2/credentials/x', 'ECS task role');
  for (const dropped of [
    'AWS_CA_BUNDLE',
    'AWS_ENDPOINT_URL',
    'RCLONE_MIGRATE_SOURCE_SECRET_ACCESS_KEY',
    'NODE_OPTIONS',
    'SOMETHING_ELSE',
  ]) {
    t.notOk(dropped in env, `${dropped} is not passed on`);
  }
  t.equal(env.RCLONE_CONFIG, '/dev/null');
  t.equal(env.RCLONE_RC_USER, 'user1');
  t.equal(env.RCLONE_RC_PASS, 'pass1');
  t.match(env, {
    RCLONE_CONFIG_SRC_TYPE: 's3',
    RCLONE_CONFIG_SRC_PROVIDER: 'IBMCOS',
    RCLONE_CONFIG_SRC_ENDPOINT: source.endpoint,
    RCLONE_CONFIG_SRC_ACCESS_KEY_ID: 'SRCKEYID',
    RCLONE_CONFIG_SRC_SECRET_ACCESS_KEY: 'SRC/SECRET+KEY',
    RCLONE_CONFIG_SRC_REGION: 'us-south',
    RCLONE_CONFIG_SRC_FORCE_PATH_STYLE: 'true',
    RCLONE_CONFIG_SRC_ENV_AUTH: 'false',
    RCLONE_CONFIG_SRC_ENCODING: KEY_ENCODING,
    RCLONE_CONFIG_SRC_CHUNK_SIZE: '16M',
    RCLONE_CONFIG_SRC_UPLOAD_CONCURRENCY: '8',
    RCLONE_CONFIG_DST_TYPE: 's3',
    RCLONE_CONFIG_DST_PROVIDER: 'AWS',
    RCLONE_CONFIG_DST_ENV_AUTH: 'true',
    RCLONE_CONFIG_DST_REGION: 'eu-west-1',
    RCLONE_CONFIG_DST_NO_CHECK_BUCKET: 'true',
    RCLONE_CONFIG_DST_ENCODING: KEY_ENCODING,
  });
  t.notOk('RCLONE_CONFIG_DST_ENDPOINT' in env, 'Amazon S3: no endpoint');
  t.notOk('RCLONE_CONFIG_DST_ACCESS_KEY_ID' in env, 'destination keys come from env_auth');
  t.equal(KEY_ENCODING, 'Slash,Ctl,Del,Dot', "rclone's Standard encoding: names pass through unchanged");
});

void t.test('destination with an endpoint (the local stack), region fallback, option overrides', async (t) => {
  const local = childEnv({
    source,
    dest: { endpoint: 'http://127.0.0.1:5000', region: '', options: { no_head: 'true', Provider: 'Minio' } },
    baseEnv: { AWS_DEFAULT_REGION: 'us-east-2' },
    rcUser: 'u',
    rcPass: 'p',
  });
  t.equal(local.RCLONE_CONFIG_DST_ENDPOINT, 'http://127.0.0.1:5000');
  t.equal(local.RCLONE_CONFIG_DST_FORCE_PATH_STYLE, 'true', 'path style: bucket.127.0.0.1 does not resolve');
  t.equal(local.RCLONE_CONFIG_DST_PROVIDER, 'Minio', 'an explicit option wins');
  t.equal(local.RCLONE_CONFIG_DST_NO_HEAD, 'true');
  t.equal(local.RCLONE_CONFIG_DST_REGION, 'us-east-2', 'region from the daemon environment');
  const noRegion = childEnv({ source, dest: { ...aws, region: '' }, baseEnv: {}, rcUser: 'u', rcPass: 'p' });
  t.notOk('RCLONE_CONFIG_DST_REGION' in noRegion);
  t.throws(
    () =>
      childEnv({ source: { ...source, options: { 'x=y': '1' } }, dest: aws, baseEnv: {}, rcUser: 'u', rcPass: 'p' }),
    ConfigError,
    'option names that are not identifiers are refused',
  );
});

void t.test('arguments: no secret, CA bundle as --ca-cert, forbidden flags refused', async (t) => {
  const args = childArgs({ transfersPerChild: 6, flags: ['--bwlimit=10M', '-v'], baseEnv });
  t.equal(args[0], 'rcd');
  t.ok(args.includes('--rc-addr=127.0.0.1:0'), 'loopback only, a port the kernel picks');
  t.ok(args.includes('--transfers=6'));
  t.ok(args.includes('--ca-cert=/etc/ssl/certs/ca-certificates.crt'));
  t.same(args.slice(-2), ['--bwlimit=10M', '-v'], 'extra flags last');
  for (const flag of ['--contimeout=5s', '--timeout=10s', '--low-level-retries=2']) {
    t.ok(args.includes(flag), `${flag}: a store that stops answering fails the copy within about 30 s`);
  }
  const tuned = childArgs({
    transfersPerChild: 1,
    flags: [],
    baseEnv: {},
    timeouts: { connectMs: 2000, idleMs: 3000 },
  });
  t.ok(tuned.includes('--contimeout=2s') && tuned.includes('--timeout=3s'), 'the settings reach rclone');
  t.notOk(args.includes('--no-check-dest'), 'copyfile must skip identical objects');
  const line = args.join(' ');
  for (const secret of ['SRC/SECRET+KEY', 'DEST-SECRET', 'rc-user', 'rc-pass']) t.notOk(line.includes(secret), secret);
  t.notOk(childArgs({ transfersPerChild: 1, flags: [], baseEnv: {} }).some((a) => a.startsWith('--ca-cert')));
  for (const flag of [
    '--rc-pass=x',
    '--rc-user',
    '--s3-secret-access-key=abc',
    '--rc-addr=0.0.0.0:5572',
    '--rc-no-auth',
  ]) {
    t.throws(() => childArgs({ transfersPerChild: 1, flags: [flag], baseEnv: {} }), ConfigError, flag);
  }
});

void t.test('rc error replies map onto copy failure kinds', async (t) => {
  // replies recorded from rclone 1.60.1 against moto
  t.equal(classifyRcError({ status: 404, error: 'object not found' }), 'not_found');
  const forbidden = 'Forbidden: Forbidden\n\tstatus code: 403, request id: O1jkgZyAbGGjP, host id: ';
  t.equal(classifyRcError({ status: 500, error: forbidden }), 'auth');
  for (const code of ['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'ExpiredToken']) {
    t.equal(classifyRcError({ status: 500, error: `${code}: nope\n\tstatus code: 400, request id: 1` }), 'auth', code);
  }
  t.equal(classifyRcError({ status: 500, error: 'NoSuchKey: gone\n\tstatus code: 404' }), 'not_found');
  const dns = 'RequestError: send request failed\ncaused by: Head "http://x/plain": dial tcp: no such host';
  t.equal(classifyRcError({ status: 500, error: dns }), 'unreachable', 'no answer: an outage, not the object');
  const refused =
    'RequestError: send request failed\ncaused by: Get "http://127.0.0.1:1/b/k": dial tcp 127.0.0.1:1: connect: connection refused';
  t.equal(classifyRcError({ status: 500, error: refused }), 'unreachable');
  t.equal(classifyRcError({ status: 500, error: 'InternalError: boom\n\tstatus code: 500' }), 'copy');
  t.equal(describeRcError({ status: 500, error: forbidden }), 'Forbidden: Forbidden status code: 403 (rc status 500)');
});

void t.test('rc errors name their store and S3 code (recorded from rclone 1.75.2 against moto)', async (t) => {
  const endpoints = { source: 'http://127.0.0.1:4001', dest: 'http://127.0.0.1:4002' };
  const srcAuth =
    'failed to open source object: operation error S3: GetObject, https response error StatusCode: 403, RequestID: iZQ9, ' +
    'HostID: 9Gjj=, api error SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided.';
  t.equal(classifyRcError({ status: 500, error: srcAuth }), 'auth');
  t.same(describeCopyFailure({ status: 500, error: srcAuth }, endpoints), {
    store: 'source',
    text:
      'SignatureDoesNotMatch from source http://127.0.0.1:4001: rclone copyfile: failed to open source object: ' +
      'operation error S3: GetObject, https response error StatusCode: 403, api error SignatureDoesNotMatch: ' +
      'The request signature we calculated does not match the signature you provided. (rc status 500)',
  });
  const destAuth =
    'operation error S3: PutObject, https response error StatusCode: 403, RequestID: 6K, HostID: 9G=, api error InvalidAccessKeyId: x';
  t.equal(rcErrorStore(destAuth, endpoints), 'destination');
  t.match(
    describeCopyFailure({ status: 500, error: destAuth }, { ...endpoints, dest: '' }).text,
    /^InvalidAccessKeyId from destination Amazon S3: /,
  );
  const head =
    'operation error S3: HeadObject, https response error StatusCode: 403, RequestID: , HostID: , api error Forbidden: Forbidden';
  t.equal(rcErrorStore(head, endpoints), undefined, 'a refused HEAD names no store');
  t.match(describeCopyFailure({ status: 500, error: head }, endpoints).text, /^Forbidden from source or destination: /);
  const refusedDest =
    'operation error S3: HeadObject, exceeded maximum number of attempts, 2, https response error StatusCode: 0, RequestID: , ' +
    'HostID: , request send failed, Head "http://127.0.0.1:4002/b/k": dial tcp 127.0.0.1:4002: connect: connection refused';
  t.equal(rcErrorStore(refusedDest, endpoints), 'destination', 'by the URL of the request');
  t.match(
    describeCopyFailure({ status: 500, error: refusedDest }, endpoints).text,
    /^no answer from destination http:\/\/127\.0\.0\.1:4002: /,
  );
  const hole =
    'failed to open source object: operation error S3: GetObject, exceeded maximum number of attempts, 2, https response error ' +
    'StatusCode: 0, RequestID: , HostID: , request send failed, Get "http://127.0.0.1:4001/b/k?x-id=GetObject": net/http: timeout awaiting response headers';
  t.equal(classifyRcError({ status: 500, error: hole }), 'unreachable', "rclone's idle timeout is no answer");
});

void t.test('restart back-off doubles from the base up to the cap', async (t) => {
  t.same(
    [0, 1, 2, 3, 10, 100].map((n) => backoffMs(n, DEFAULT_TUNING)),
    [500, 1000, 2000, 4000, 30_000, 30_000],
  );
});
