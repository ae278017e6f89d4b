// Small TCP services for tunnel tests, on 127.0.0.1 ports of their own and closed in teardown: an echo, a service
// that reads to EOF and then answers with the length and SHA-256 of what it read (a half-close service), and one
// that sends a given number of bytes of a known pattern. Also the reading side of a TCP client.

import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ExecutionContext } from 'ava';
import type { Address } from '../../shared/topology.js';

export interface TcpService {
  address: Address;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Sockets open now. */
  readonly sockets: ReadonlySet<Socket>;
}

export async function startService(t: ExecutionContext, handle: (socket: Socket) => void): Promise<TcpService> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer({ allowHalfOpen: true }, (socket) => {
    accepted++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as { port: number };
  return {
    address: { host: '127.0.0.1', port },
    get accepted() {
      return accepted;
    },
    sockets,
  };
}

/** Echoes every byte; ends its side when the client ends its own. */
export function echoService(t: ExecutionContext): Promise<TcpService> {
  return startService(t, (socket) => socket.pipe(socket));
}

/** Reads to EOF, then answers `<length> <sha256 hex>` and closes: the client must still read after its half-close. */
export function digestService(t: ExecutionContext): Promise<TcpService> {
  return startService(t, (socket) => {
    const hash = createHash('sha256');
    let length = 0;
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      length += chunk.length;
    });
    socket.on('end', () => socket.end(`${length} ${hash.digest('hex')}`));
  });
}

/** What digestService answers for `bytes`. */
export function digestOf(bytes: Buffer | Buffer[]): string {
  const hash = createHash('sha256');
  let length = 0;
  for (const chunk of Array.isArray(bytes) ? bytes : [bytes]) {
    hash.update(chunk);
    length += chunk.length;
  }
  return `${length} ${hash.digest('hex')}`;
}

/** Everything a socket receives until its end, and how it ended: `end` (a FIN) or the error that closed it. */
export function readAll(socket: Socket): Promise<{ data: Buffer; ended: 'end' | string }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let ended: 'end' | string | undefined;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => (ended ??= 'end'));
    socket.once('error', (error: NodeJS.ErrnoException) => (ended ??= error.code ?? error.message));
    socket.once('close', () => resolve({ data: Buffer.concat(chunks), ended: ended ?? 'closed' }));
  });
}

/** `length` bytes of a pattern that a reordering or a lost chunk cannot keep. */
export function patternBytes(length: number, seed = 0): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  let state = seed * 2_654_435_761 + 1;
  for (let i = 0; i < length; i++) {
    state = (state * 1_103_515_245 + 12_345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

/**
 * An address whose service never answers: a listener in a process of its own, stopped (SIGSTOP) once its accept queue
 * is full, so the kernel drops every further SYN and a connect just waits, as with a firewall that drops packets.
 */
export async function unansweringAddress(t: ExecutionContext): Promise<Address> {
  const script = `require('node:net').createServer().listen({ host: '127.0.0.1', port: 0, backlog: 1 }, function () {
    process.stdout.write(this.address().port + '\\n');
  });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const address = { host: '127.0.0.1', port: Number(line.toString().trim()) };
  child.kill('SIGSTOP');
  // A backlog of 1 queues two connections (Linux takes backlog + 1); they complete, and nothing is accepted after.
  for (let i = 0; i < 2; i++) {
    const filler = connect(address);
    t.teardown(() => filler.destroy());
    await once(filler, 'connect');
  }
  return address;
}
