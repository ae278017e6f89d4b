// A node's TCP forwards (docs/protocol.md §8): one listener per forward, each accepted connection handed on as the
// client side of a stream to the forward's tunnel. Whoever reaches the listener may use the tunnel, as with ssh -L.

import { createServer, type Server, type Socket } from 'node:net';
import { listen } from './listen.js';
import type { Address, ForwardConfig } from './topology.js';

export interface ForwardListeners {
  /** Where each forward listens, in the order given (the port the OS chose for port 0). */
  readonly addresses: readonly Address[];
  /** Stops listening and drops the connections still open. */
  close(): Promise<void>;
}

/** How a stream that came in by a forward is named in logs: "tcp" and the address it came in at. */
export function forwardEntry(socket: Socket): string {
  return `tcp ${socket.localAddress}:${socket.localPort}`;
}

/** Listens on every forward; a forward that cannot listen fails the whole start, named, with the others closed. */
export async function listenForwards(
  forwards: readonly ForwardConfig[],
  enter: (forward: ForwardConfig, socket: Socket) => void,
): Promise<ForwardListeners> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  };
  const addresses: Address[] = [];
  for (const forward of forwards) {
    const server = createServer({ allowHalfOpen: true, noDelay: true, keepAlive: true }, (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      enter(forward, socket);
    });
    servers.push(server);
    try {
      addresses.push(await listen(server, forward.listen));
    } catch (error) {
      await close();
      const { host, port } = forward.listen;
      throw new Error(`forward ${host}:${port} (tunnel ${forward.tunnel}) cannot listen: ${(error as Error).message}`);
    }
  }
  return { addresses, close };
}
