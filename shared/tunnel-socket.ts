// A tunnel stream joined to a TCP socket, both ways, as docs/protocol.md §8 wants it: bytes in order with each side's
// backpressure (a socket is read only while its stream has room, and bytes are acknowledged once the kernel took
// them), half-closes passed through, and resets turned into TCP resets. Also the dial of a tunnel's service.

import { connect, type Socket } from 'node:net';
import type { MuxStream } from './stream-mux.js';
import type { Address } from './topology.js';
import type { StreamResetReason } from './uplink-frames.js';

/** How a joined stream ended, for the node's log and metrics. */
export interface StreamOutcome {
  /** Undefined when both sides closed normally. */
  reset: StreamResetReason | undefined;
  /** Bytes read from the socket into the stream, and written from the stream to the socket. */
  bytesRead: number;
  bytesWritten: number;
}

export interface SocketJoin {
  /** Counts bytes as they pass (`fromSocket`: read from the socket into the stream). */
  carried?(fromSocket: boolean, bytes: number): void;
  /** Once, when the stream and the socket are both done. */
  closed?(outcome: StreamOutcome): void;
  /** What the far side hears when the socket closes before both ends did. Default `aborted`. */
  abortReason?(): StreamResetReason;
}

/**
 * Joins `stream` and `socket` (made with allowHalfOpen). A reset of the stream resets the socket, except `refused`,
 * which ends it without data, as a TCP entry does when its service cannot be reached.
 */
export function joinSocket(stream: MuxStream, socket: Socket, join: SocketJoin = {}): void {
  let socketEnded = false;
  let streamEnded = false;
  let finished = false;
  const outcome: StreamOutcome = { reset: undefined, bytesRead: 0, bytesWritten: 0 };
  const finish = (reset: StreamResetReason | undefined): void => {
    if (finished) return;
    finished = true;
    outcome.reset = reset;
    join.closed?.(outcome);
  };
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  stream.attach({
    data(chunk) {
      outcome.bytesWritten += chunk.length;
      join.carried?.(false, chunk.length);
      // The chunks of one uplink message arrive in one turn: one writev for all of them, not a syscall per chunk.
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      // Acknowledged once the kernel has it: a socket that does not drain holds back its own stream only.
      socket.write(chunk, () => stream.consumed(chunk.length));
    },
    end() {
      streamEnded = true;
      socket.end();
    },
    reset(reason) {
      if (reason === 'refused') socket.destroySoon();
      else if (!socket.destroyed) socket.resetAndDestroy();
      finish(reason);
    },
    writable() {
      socket.resume();
    },
  });
  socket.on('data', (chunk: Buffer) => {
    outcome.bytesRead += chunk.length;
    join.carried?.(true, chunk.length);
    if (!stream.write(chunk)) socket.pause();
  });
  socket.on('end', () => {
    socketEnded = true;
    stream.end();
  });
  socket.on('error', () => {
    // 'close' follows, and finishes it.
  });
  socket.on('close', () => {
    if (socketEnded && streamEnded) return finish(undefined);
    const reason = join.abortReason?.() ?? 'aborted';
    stream.reset(reason);
    finish(reason);
  });
}

/**
 * Dials a tunnel's service and joins it to `stream` at once: bytes the entry sent before the service answered wait in
 * the socket (within the stream's window). A service that refuses, or does not answer within `timeoutMs`, resets the
 * stream as `refused`.
 */
export function dialService(stream: MuxStream, address: Address, timeoutMs: number, join: SocketJoin = {}): Socket {
  const socket = connect({ host: address.host, port: address.port, allowHalfOpen: true, noDelay: true });
  let connected = false;
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  socket.once('connect', () => {
    connected = true;
    clearTimeout(timer);
    socket.setKeepAlive(true, 60_000);
  });
  socket.once('close', () => clearTimeout(timer));
  // Never reached: the entry hears `refused` (4502, or its TCP client closed without data).
  joinSocket(stream, socket, { ...join, abortReason: () => (connected ? 'aborted' : 'refused') });
  return socket;
}
