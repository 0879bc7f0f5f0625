// Loopback stand-ins for what moto does not provide: the EC2 instance metadata service (IMDSv2) and the
// two Auto Scaling calls moto lacks, CompleteLifecycleAction and RecordLifecycleActionHeartbeat.
// The Auto Scaling stand-in answers those two itself and forwards every other action to moto, so a
// single SDK client sees one complete Auto Scaling API.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

export type ImdsStandIn = {
  endpoint: string;
  /** What `autoscaling/target-lifecycle-state` answers (undefined: 404). */
  lifecycleState: string | undefined;
  /** While set, every request answers this HTTP status. */
  failWith: number | undefined;
  /** Every request served, failed ones included. */
  requests: number;
  tokensIssued: number;
  /** GETs that came without a valid token. */
  unauthorised: number;
  /** Invalidates every issued token (the next GET answers 401). */
  revokeTokens(): void;
  close(): Promise<void>;
};

export async function startImdsStandIn(options: { instanceId: string }): Promise<ImdsStandIn> {
  const tokens = new Set<string>();
  const paths: Record<string, () => string | undefined> = {
    '/latest/meta-data/instance-id': () => options.instanceId,
    '/latest/meta-data/autoscaling/target-lifecycle-state': () => stand.lifecycleState,
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    stand.requests++;
    if (stand.failWith) return res.writeHead(stand.failWith).end();
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return res.writeHead(400).end();
      const token = randomUUID();
      tokens.add(token);
      stand.tokensIssued++;
      return res.writeHead(200).end(token);
    }
    if (req.method !== 'GET') return res.writeHead(405).end();
    const token = req.headers['x-aws-ec2-metadata-token'];
    if (typeof token !== 'string' || !tokens.has(token)) {
      stand.unauthorised++;
      return res.writeHead(401).end();
    }
    const value = paths[req.url ?? '']?.();
    if (value === undefined) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain' }).end(value);
  });
  const stand: ImdsStandIn = {
    endpoint: await listen(server),
    lifecycleState: 'InService',
    failWith: undefined,
    requests: 0,
    tokensIssued: 0,
    unauthorised: 0,
    revokeTokens: () => tokens.clear(),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return stand;
}

export type AutoScalingStandIn = {
  endpoint: string;
  /** The lifecycle calls answered here, with their parameters. */
  calls: Array<{ action: string; params: Record<string, string> }>;
  /** Every lifecycle call received, failed ones included. */
  attempted: string[];
  /** Makes the next `times` calls of `action` fail with this error code. */
  failNext(action: string, code: 'ValidationError' | 'InternalFailure', times?: number): void;
  close(): Promise<void>;
};

const HANDLED = new Set(['CompleteLifecycleAction', 'RecordLifecycleActionHeartbeat']);
const NS = 'http://autoscaling.amazonaws.com/doc/2011-01-01/';

export async function startAutoScalingStandIn(options: { forwardTo?: string } = {}): Promise<AutoScalingStandIn> {
  const failures = new Map<string, { code: string; times: number }>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const text = await body(req);
      const params = Object.fromEntries(new URLSearchParams(text));
      const action = params.Action ?? '';
      if (!HANDLED.has(action)) {
        if (!options.forwardTo) return res.writeHead(400).end(`stand-in does not implement ${action}`);
        const headers = Object.fromEntries(
          Object.entries(req.headers).filter(([k, v]) => typeof v === 'string' && k !== 'host'),
        ) as Record<string, string>;
        const upstream = await fetch(`${options.forwardTo}${req.url ?? '/'}`, { method: 'POST', headers, body: text });
        res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/xml' });
        return res.end(await upstream.text());
      }
      stand.attempted.push(action);
      const failure = failures.get(action);
      if (failure && failure.times > 0) {
        failure.times--;
        const status = failure.code === 'ValidationError' ? 400 : 500;
        const type = status === 400 ? 'Sender' : 'Receiver';
        return res
          .writeHead(status, { 'content-type': 'text/xml' })
          .end(
            `<ErrorResponse xmlns="${NS}"><Error><Type>${type}</Type><Code>${failure.code}</Code>` +
              `<Message>stand-in failure</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
          );
      }
      stand.calls.push({ action, params });
      res
        .writeHead(200, { 'content-type': 'text/xml' })
        .end(
          `<${action}Response xmlns="${NS}"><${action}Result/>` +
            `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`,
        );
    })().catch((err: unknown) => res.writeHead(502).end(String(err)));
  });
  const stand: AutoScalingStandIn = {
    endpoint: await listen(server),
    calls: [],
    attempted: [],
    failNext: (action, code, times = 1) => failures.set(action, { code, times }),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return stand;
}

/** Polls a condition until it holds, failing after a bounded wait. */
export async function until(condition: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
