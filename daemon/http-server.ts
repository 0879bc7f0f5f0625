// /metrics for Prometheus and /healthz for load balancers and people with curl.
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Health } from './health.ts';

export type StatusServer = { server: Server; port: number; close(): Promise<void> };

export async function startStatusServer(
  host: string,
  port: number,
  registry: Registry,
  health: () => Health,
): Promise<StatusServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    } else if (path === '/healthz') {
      const h = health();
      res
        .writeHead(h.healthy ? 200 : 503, { 'content-type': 'application/json' })
        .end(`${JSON.stringify({ status: h.healthy ? 'ok' : 'unhealthy', problems: h.problems })}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics or /healthz\n');
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    server,
    port: typeof address === 'object' && address ? address.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
