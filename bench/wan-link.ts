// A WAN in user space for the tunnel benchmark: a TCP relay that holds every byte for a fixed one-way delay, each way,
// in order. A userspace relay accepts a connection at once, so it also holds a connection's first bytes one round trip
// longer, as a TCP handshake over that WAN would: otherwise a fresh connection would look a round trip cheaper.

import { connect, createServer, type Socket } from 'node:net';
import type { Address } from '../shared/topology.js';

/** What one direction may hold before it stops reading: a fat pipe, so latency and never bandwidth is the limit. */
const heldHighWater = 16 * 1024 * 1024;

export interface WanLink {
  address: Address;
  close(): Promise<void>;
}

/** One direction of a connection: chunks (null: the FIN) leave in order once their time has come. */
class DelayedWay {
  private readonly queue: Array<{ chunk: Buffer | null; due: number }> = [];
  private held = 0;
  private timer: NodeJS.Timeout | undefined;
  private waitingDrain = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly oneWayMs: number,
    /** No byte leaves before this time (the handshake). */
    private readonly notBefore: number,
  ) {
    from.on('data', (chunk: Buffer) => this.push(chunk));
    from.on('end', () => this.push(null));
    to.on('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
  }

  stop(): void {
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private push(chunk: Buffer | null): void {
    // Due times only grow, so the head's timer serves the whole queue in turn.
    this.queue.push({ chunk, due: Math.max(performance.now(), this.notBefore) + this.oneWayMs });
    if (chunk) this.held += chunk.length;
    if (this.held >= heldHighWater) this.from.pause();
    if (this.timer === undefined && !this.waitingDrain) this.pump();
  }

  private pump(): void {
    this.timer = undefined;
    while (this.queue.length > 0 && !this.waitingDrain) {
      const head = this.queue[0]!;
      const wait = head.due - performance.now();
      if (wait > 0) {
        this.timer = setTimeout(() => this.pump(), Math.ceil(wait));
        return;
      }
      this.queue.shift();
      if (head.chunk === null) {
        this.to.end();
        continue;
      }
      this.held -= head.chunk.length;
      if (!this.to.write(head.chunk)) this.waitingDrain = true;
    }
    if (this.held < heldHighWater) this.from.resume();
  }
}

/** Listens on 127.0.0.1 (an ephemeral port) and relays each connection to `target` with `oneWayMs` each way. */
export async function startWanLink(target: Address, oneWayMs: number): Promise<WanLink> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const acceptedAt = performance.now();
    const service = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    // SYN out and SYN-ACK back: the client's first byte could leave only a round trip after it began.
    const ways = [
      new DelayedWay(client, service, oneWayMs, acceptedAt + 2 * oneWayMs),
      new DelayedWay(service, client, oneWayMs, 0),
    ];
    for (const socket of [client, service]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.once('close', () => {
        sockets.delete(socket);
        // A clean close leaves the other way to deliver what it still holds; a reset goes through at once.
        if (socket.readableEnded) return;
        for (const way of ways) way.stop();
        client.destroy();
        service.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    address: { host: '127.0.0.1', port },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
