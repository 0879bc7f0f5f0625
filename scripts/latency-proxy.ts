// A loopback HTTP reverse proxy that holds every request for a fixed delay before forwarding it, so
// the local stack can stand in for a store across clouds. The request is forwarded untouched (method,
// path, raw headers including Host, body streamed), so a client simply pointed at the proxy signs
// for the proxy's host:port and the signature still holds at the target.
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type LatencyProxy = {
  /** `http://127.0.0.1:PORT`: point clients here instead of at the target. */
  endpoint: string;
  /** Requests received so far. */
  requests: () => number;
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
};

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
    // The body waits in the socket (TCP flow control) until the delay is over and it is piped on.
    const timer = setTimeout(() => forward(req, res), options.delayMs);
    res.on('close', () => clearTimeout(timer));
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

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests: () => count,
    requestLines: () => [...lines],
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      agent.destroy();
      await closed;
    },
  };
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
