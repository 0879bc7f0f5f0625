// A loopback HTTP reverse proxy that holds every request for a fixed delay before forwarding it, so
// the local stack can stand in for a store across clouds, and that can throttle like a busy store: a
// token bucket of R requests/s and/or a random fraction of requests answered with S3's 503 SlowDown.
// The request is forwarded untouched (method, path, raw headers including Host, body streamed), so a
// client simply pointed at the proxy signs for the proxy's host:port and the signature still holds at
// the target. Run on its own: `node scripts/latency-proxy.ts --help`.
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type LatencyProxy = {
  /** `http://127.0.0.1:PORT`: point clients here instead of at the target. */
  endpoint: string;
  /** Requests received so far. */
  requests: () => number;
  /** Requests answered 503 SlowDown by the throttling (token bucket or random), so far. */
  throttled: () => number;
  /** `METHOD /path?query` of each request received, when `record` is set. */
  requestLines: () => string[];
  stop: () => Promise<void>;
};

export type LatencyProxyOptions = {
  /** Base URL of the target, e.g. `http://127.0.0.1:5000` (loopback only). */
  target: string;
  /** Delay added before each request is forwarded, in milliseconds. */
  delayMs: number;
  /** Port to listen on (tests restart a proxy where clients expect it); default: one the kernel picks. */
  port?: number;
  /** Keep every request line (tests count requests by kind; not for long runs). */
  record?: boolean;
  /** Answers a request itself instead of forwarding it (tests: a store refusing one permission). */
  answer?: (req: IncomingMessage) => { status: number; body: string; headers?: Record<string, string> } | undefined;
  /**
   * Holds a request until the promise returned settles, then delays and forwards it (tests: a copy
   * kept in flight, a part's GET held while the object is overwritten); undefined: forwarded as usual.
   */
  hold?: (req: IncomingMessage) => Promise<void> | undefined;
  /** Throttling: requests refused with 503 SlowDown before any delay (a store's front end refuses fast). */
  throttle?: ThrottleOptions;
  /** The proxy stops itself after this long (a forgotten proxy must not outlive its run); default: never. */
  lifetimeMs?: number;
};

export type ThrottleOptions = {
  /** Admit at most this many requests per second (a token bucket); refused requests take no token. */
  ratePerSecond?: number;
  /** Tokens the bucket holds (requests admitted at once after a pause); default: one second's worth, at least 1. */
  burst?: number;
  /** Fraction of requests (0-1) answered SlowDown at random, whatever the rate. */
  slowDownFraction?: number;
  /** The random source (tests pass a seeded one); default Math.random. */
  random?: () => number;
  /** Clock in ms (tests fake it); default performance.now. */
  now?: () => number;
};

/** S3's answer to a request over the store's rate, as AWS sends it (HTTP 503, code SlowDown). */
export const SLOW_DOWN_BODY =
  '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>' +
  '<RequestId>throttled-by-proxy</RequestId></Error>';

/** Decides, per request, whether the throttling refuses it. Pure apart from the clock and random it is given. */
export function throttleGate(options: ThrottleOptions): () => boolean {
  const now = options.now ?? (() => performance.now());
  const random = options.random ?? Math.random;
  const rate = options.ratePerSecond;
  const fraction = options.slowDownFraction ?? 0;
  if (rate !== undefined && !(Number.isFinite(rate) && rate > 0)) {
    throw new Error(`proxy throttle rate must be > 0 requests/s: ${rate}`);
  }
  if (!(fraction >= 0 && fraction <= 1)) throw new Error(`proxy slow-down fraction must be 0 to 1: ${fraction}`);
  const burst = options.burst ?? Math.max(1, rate ?? 0);
  if (!(burst >= 1)) throw new Error(`proxy throttle burst must be ≥ 1: ${burst}`);
  let tokens = burst;
  let last = now();
  return () => {
    if (fraction > 0 && random() < fraction) return true;
    if (rate === undefined) return false;
    const t = now();
    tokens = Math.min(burst, tokens + ((t - last) / 1000) * rate);
    last = t;
    if (tokens < 1) return true;
    tokens -= 1;
    return false;
  };
}

export async function startLatencyProxy(options: LatencyProxyOptions): Promise<LatencyProxy> {
  const target = new URL(options.target);
  if (target.protocol !== 'http:') throw new Error(`latency proxy target must be http: ${options.target}`);
  if (!isLoopback(target.hostname)) throw new Error(`latency proxy target must be loopback: ${options.target}`);
  if (!Number.isFinite(options.delayMs) || options.delayMs < 0) {
    throw new Error(`latency proxy delay must be ≥ 0 ms: ${options.delayMs}`);
  }
  // Upstream connections are kept alive and not capped: the copiers measured open dozens at once.
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  let count = 0;
  let throttled = 0;
  const refuse = options.throttle ? throttleGate(options.throttle) : () => false;
  const lines: string[] = [];
  const sockets = new Set<Socket>();

  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const upstream = request({
      host: target.hostname,
      port: target.port || 80,
      method: req.method,
      path: req.url,
      // rawHeaders keeps names, case, order and Host exactly as the client sent and signed them.
      headers: req.rawHeaders,
      agent,
    });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.rawHeaders);
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (err) => {
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`latency proxy: upstream failed: ${err.message}\n`);
      } else {
        res.destroy(err);
      }
    });
    // A client that goes away mid-request takes its upstream request with it.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };

  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
    count++;
    if (options.record) lines.push(`${req.method ?? ''} ${req.url ?? ''}`);
    const own = options.answer?.(req);
    if (own) {
      req.resume();
      res.writeHead(own.status, { 'content-type': 'application/xml', ...own.headers }).end(own.body);
      return;
    }
    if (refuse()) {
      throttled++;
      req.resume();
      const body = req.method === 'HEAD' ? '' : SLOW_DOWN_BODY;
      res.writeHead(503, 'Slow Down', { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    // The body waits in the socket (TCP flow control) until the delay is over and it is piped on.
    const delay = (): void => {
      if (res.destroyed) return; // the client gave up while it was held
      const timer = setTimeout(() => forward(req, res), options.delayMs);
      res.on('close', () => clearTimeout(timer));
    };
    const held = options.hold?.(req);
    if (held) void held.then(delay, delay);
    else delay();
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      clearTimeout(lifetime);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await closed;
    })());
  const lifetime = options.lifetimeMs === undefined ? undefined : setTimeout(() => void stop(), options.lifetimeMs);
  lifetime?.unref();

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: () => count,
    throttled: () => throttled,
    requestLines: () => [...lines],
    stop,
  };
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

const CLI_USAGE = `Usage: node scripts/latency-proxy.ts --target URL [options]   (prints the endpoint, then serves)
  --target URL              loopback http store to forward to (required)
  --port N                  port to listen on (default: any free one)
  --delay-ms N              delay added to each forwarded request (0)
  --rate N                  admit at most N requests/s, refuse the rest with 503 SlowDown (token bucket)
  --burst N                 tokens the bucket holds (default: one second's worth, at least 1)
  --slow-down-fraction F    answer this fraction (0-1) of requests 503 SlowDown at random
  --seconds N               stop by itself after N seconds (default 600)`;

async function cli(argv: string[]): Promise<void> {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      help: { type: 'boolean' },
      target: { type: 'string' },
      port: { type: 'string' },
      'delay-ms': { type: 'string' },
      rate: { type: 'string' },
      burst: { type: 'string' },
      'slow-down-fraction': { type: 'string' },
      seconds: { type: 'string' },
    },
  });
  if (values.help || !values.target) {
    console.log(CLI_USAGE);
    process.exitCode = values.help ? 0 : 2;
    return;
  }
  const number = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
  const seconds = number(values.seconds) ?? 600;
  const proxy = await startLatencyProxy({
    target: values.target,
    delayMs: number(values['delay-ms']) ?? 0,
    port: number(values.port),
    lifetimeMs: seconds * 1000,
    throttle: {
      ratePerSecond: number(values.rate),
      burst: number(values.burst),
      slowDownFraction: number(values['slow-down-fraction']),
    },
  });
  console.log(proxy.endpoint);
  const done = (): void =>
    void proxy.stop().then(() => console.error(`${proxy.throttled()} of ${proxy.requests()} requests throttled`));
  process.once('SIGINT', done);
  process.once('SIGTERM', done);
}

if (process.argv[1] && import.meta.filename === process.argv[1]) await cli(process.argv.slice(2));
