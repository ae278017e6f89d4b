// The TCP service behind the benchmark's tunnels, in a process of its own. Each connection says what it wants in its
// first line: `sink N` (read N bytes, then answer `ok <bytes after the first chunk> <ms they took>`), `source N` (send N bytes, then end) or `echo` (send back
// every byte after the line). Lengths instead of half-closes, so the naive WebSocket proxy (which has none) can run it.

import { createServer, type Socket } from 'node:net';
import { answerStats } from './process-stats.js';

/** One buffer, sent again and again: the service costs a write per MiB and no allocation. */
const block = Buffer.alloc(1024 * 1024, 0x5a);
const maxHeaderBytes = 64;

function sink(socket: Socket, bytes: number, first: Buffer): void {
  // The answer says how fast the bytes came once they flowed: those after the first chunk, over the time they took.
  let left = bytes - first.length;
  let firstAt = first.length > 0 ? performance.now() : undefined;
  let after = 0;
  const check = (): void => {
    if (left > 0) return;
    socket.write(`ok ${after} ${firstAt === undefined ? 0 : performance.now() - firstAt}\n`);
    left = Number.POSITIVE_INFINITY;
  };
  socket.on('data', (chunk: Buffer) => {
    left -= chunk.length;
    if (firstAt === undefined) firstAt = performance.now();
    else after += chunk.length;
    check();
  });
  check();
}

function source(socket: Socket, bytes: number): void {
  let left = bytes;
  const send = (): void => {
    while (left > 0 && !socket.destroyed && !socket.writableEnded) {
      const piece = left >= block.length ? block : block.subarray(0, left);
      left -= piece.length;
      if (!socket.write(piece)) return void socket.once('drain', send);
    }
    socket.end();
  };
  // What the client sends after its request is not read: it would only be a mistake.
  socket.on('data', () => undefined);
  send();
}

function echo(socket: Socket, first: Buffer): void {
  if (first.length > 0) socket.write(first);
  socket.pipe(socket);
}

const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  socket.on('error', () => undefined);
  let head = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    head = Buffer.concat([head, chunk]);
    const newline = head.indexOf(0x0a);
    if (newline < 0) {
      if (head.length > maxHeaderBytes) socket.destroy();
      return;
    }
    socket.off('data', onData);
    const [mode, size] = head.subarray(0, newline).toString().split(' ');
    const rest = head.subarray(newline + 1);
    const bytes = Number(size);
    if (mode === 'sink' && bytes > 0) sink(socket, bytes, rest);
    else if (mode === 'source' && bytes > 0) source(socket, bytes);
    else if (mode === 'echo') echo(socket, rest);
    else socket.destroy();
  };
  socket.on('data', onData);
  socket.on('end', () => socket.end());
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
process.send!({ address: { host: '127.0.0.1', port: (server.address() as { port: number }).port } });
answerStats();
process.on('disconnect', () => process.exit(0));
