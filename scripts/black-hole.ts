// A store that accepts connections and never answers: a loopback TCP listener that reads whatever
// it is sent and writes nothing, as a stalled load balancer or a half-dead host does. Tests point a
// copier at it to prove that its idle timeouts cut the request instead of waiting forever.
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export type BlackHole = {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  port: number;
  /** Connections accepted so far. */
  connections: () => number;
  stop: () => Promise<void>;
};

export async function startBlackHole(port = 0): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('data', () => undefined); // read and drop, so the client's writes never block
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${bound}`,
    port: bound,
    connections: () => accepted,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
