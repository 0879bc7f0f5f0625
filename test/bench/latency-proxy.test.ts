// The bench's latency proxy: requests are counted, held, and forwarded untouched (Host header and
// raw header case as sent, bodies byte-identical both ways). The target is a plain loopback HTTP
// server that records what reached it; no timing is asserted.
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { SLOW_DOWN_BODY, startLatencyProxy, throttleGate } from '../../scripts/latency-proxy.ts';

type Seen = { method: string; url: string; headers: IncomingHttpHeaders; rawHeaders: string[]; sha256: string };

/** A target that echoes each request body back and remembers what it received. */
async function startTarget(): Promise<{ server: Server; endpoint: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        sha256: createHash('sha256').update(body).digest('hex'),
      });
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'X-Target-Echo': 'yes' });
      res.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, endpoint: `http://127.0.0.1:${port}`, seen };
}

async function send(
  endpoint: string,
  options: { method: string; path: string; headers?: Record<string, string>; body?: Buffer },
): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const url = new URL(options.path, endpoint);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method, headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

void t.test('forwards requests untouched and bodies byte-identical, counting each request', async (t) => {
  const target = await startTarget();
  t.teardown(() => new Promise<void>((r) => target.server.close(() => r())));
  const proxy = await startLatencyProxy({ target: target.endpoint, delayMs: 5 });
  t.teardown(() => proxy.stop());
  const proxyHost = new URL(proxy.endpoint).host;

  // Bodies larger than one socket buffer, streamed through in both directions.
  const bodies = [randomBytes(3 * 1024 * 1024 + 17), randomBytes(0), randomBytes(4096)];
  for (const [i, body] of bodies.entries()) {
    const answer = await send(proxy.endpoint, {
      method: 'PUT',
      path: `/bucket/key-${i}?partNumber=1&x-id=PutObject`,
      headers: { 'X-Amz-Content-Sha256': sha256(body), 'content-length': String(body.length) },
      body,
    });
    t.equal(answer.status, 200);
    t.equal(answer.headers['x-target-echo'], 'yes', 'response headers come back');
    t.equal(answer.body.length, body.length, `body ${i} returns whole`);
    t.ok(answer.body.equals(body), `body ${i} returns byte-identical`);
  }
  t.equal(proxy.requests(), bodies.length, 'every request is counted');
  t.equal(target.seen.length, bodies.length, 'every request reaches the target');
  for (const [i, seen] of target.seen.entries()) {
    t.equal(seen.method, 'PUT');
    t.equal(seen.url, `/bucket/key-${i}?partNumber=1&x-id=PutObject`, 'path and query unchanged');
    t.equal(seen.sha256, sha256(bodies[i] as Buffer), `body ${i} reaches the target byte-identical`);
    t.equal(seen.headers.host, proxyHost, 'Host is the one the client signed for (the proxy)');
    t.ok(seen.rawHeaders.includes('X-Amz-Content-Sha256'), 'header names keep their case');
  }

  // HEAD and GET on the same kept-alive connections.
  const head = await send(proxy.endpoint, { method: 'HEAD', path: '/bucket/key-0' });
  t.equal(head.status, 200);
  t.equal(head.body.length, 0, 'a HEAD answer has no body');
  t.equal(proxy.requests(), bodies.length + 1);
});

void t.test('holds each request back: with a long delay nothing reaches the target yet', async (t) => {
  const target = await startTarget();
  t.teardown(() => new Promise<void>((r) => target.server.close(() => r())));
  const proxy = await startLatencyProxy({ target: target.endpoint, delayMs: 600_000 });
  const pending = send(proxy.endpoint, { method: 'GET', path: '/held' }).then(
    () => 'answered',
    () => 'closed',
  );
  const deadline = Date.now() + 10_000;
  while (proxy.requests() === 0 && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  t.equal(proxy.requests(), 1, 'the proxy has the request');
  t.equal(target.seen.length, 0, 'the target has not seen it: it is being held');
  await proxy.stop();
  t.equal(await pending, 'closed', 'stopping the proxy closes held requests');
  t.equal(target.seen.length, 0, 'a held request cancelled by stop never reaches the target');
});

void t.test('answers 502 when the target is down', async (t) => {
  const target = await startTarget();
  const endpoint = target.endpoint;
  await new Promise<void>((r) => target.server.close(() => r()));
  const proxy = await startLatencyProxy({ target: endpoint, delayMs: 0 });
  t.teardown(() => proxy.stop());
  const answer = await send(proxy.endpoint, { method: 'GET', path: '/x' });
  t.equal(answer.status, 502);
  t.match(answer.body.toString(), /upstream failed/);
});

void t.test('refuses a target that is not loopback http', async (t) => {
  await t.rejects(startLatencyProxy({ target: 'http://10.1.2.3:80', delayMs: 1 }), /loopback/);
  await t.rejects(startLatencyProxy({ target: 'https://127.0.0.1:80', delayMs: 1 }), /http/);
  await t.rejects(startLatencyProxy({ target: 'http://127.0.0.1:80', delayMs: -1 }), /delay/);
});

void t.test('throttleGate: a token bucket admits its burst, then R per second; refusals take no token', async (t) => {
  let ms = 0;
  const refuse = throttleGate({ ratePerSecond: 10, burst: 2, now: () => ms });
  t.same([refuse(), refuse(), refuse()], [false, false, true], 'the burst of two, then refused');
  ms += 100; // one token's worth
  t.same([refuse(), refuse()], [false, true]);
  ms += 1000; // ten tokens' worth, but the bucket holds two
  t.same([refuse(), refuse(), refuse()], [false, false, true]);
  let admitted = 0;
  for (let i = 0; i < 1000; i++) {
    ms += 1; // 1,000 requests over one second
    if (!refuse()) admitted++;
  }
  t.equal(admitted, 10, 'R requests admitted over a second of requests at 1,000/s');
});

void t.test('throttleGate: a random share refused whatever the rate; bad settings refused', async (t) => {
  const draws = [0.1, 0.5, 0.29, 0.31, 0.99];
  const refuse = throttleGate({ slowDownFraction: 0.3, random: () => draws.shift() ?? 1 });
  t.same([refuse(), refuse(), refuse(), refuse(), refuse()], [true, false, true, false, false]);
  t.throws(() => throttleGate({ ratePerSecond: 0 }), /rate/);
  t.throws(() => throttleGate({ slowDownFraction: 1.5 }), /fraction/);
  t.throws(() => throttleGate({ ratePerSecond: 5, burst: 0.5 }), /burst/);
});

void t.test('a throttled request is answered 503 SlowDown at once and never reaches the target', async (t) => {
  const target = await startTarget();
  t.teardown(() => new Promise<void>((r) => target.server.close(() => r())));
  const proxy = await startLatencyProxy({ target: target.endpoint, delayMs: 0, throttle: { slowDownFraction: 1 } });
  t.teardown(() => proxy.stop());
  const get = await send(proxy.endpoint, { method: 'GET', path: '/bucket/key' });
  t.equal(get.status, 503);
  t.equal(get.body.toString(), SLOW_DOWN_BODY);
  t.match(get.body.toString(), /<Code>SlowDown<\/Code>/);
  const head = await send(proxy.endpoint, { method: 'HEAD', path: '/bucket/key' });
  t.equal(head.status, 503);
  t.equal(head.body.length, 0, 'a HEAD answer has no body');
  t.equal(proxy.throttled(), 2);
  t.equal(proxy.requests(), 2);
  t.equal(target.seen.length, 0, 'nothing reached the target');
});

void t.test('a proxy with a lifetime stops by itself', async (t) => {
  const target = await startTarget();
  t.teardown(() => new Promise<void>((r) => target.server.close(() => r())));
  const proxy = await startLatencyProxy({ target: target.endpoint, delayMs: 0, lifetimeMs: 50 });
  const deadline = Date.now() + 10_000;
  let refused = false;
  while (!refused && Date.now() < deadline) {
    refused = await send(proxy.endpoint, { method: 'GET', path: '/x' }).then(
      () => false,
      () => true,
    );
    if (!refused) await new Promise((r) => setTimeout(r, 20));
  }
  t.ok(refused, 'connections are refused once its lifetime is over');
  await proxy.stop(); // a second stop is harmless
});
