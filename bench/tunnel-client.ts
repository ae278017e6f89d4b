// The tunnel benchmark's client side, in the orchestrating process: TCP connections to a tunnel's entry (a forward,
// the naive proxy, or the service itself) that speak the benchmark service's first-line protocol
// (bench/tunnel-service-process.ts) and time what they do.

import { connect, type Socket } from 'node:net';
import hdr from 'hdr-histogram-js';
import type { Address } from '../shared/topology.js';

type Histogram = ReturnType<typeof hdr.build>;

const block = Buffer.alloc(1024 * 1024, 0x41);
/** One interactive request: 64 bytes, the first four its sequence number. */
const requestBytes = 64;

function opened(address: Address): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ ...address, noDelay: true }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Rejects when `promise` has not settled within `timeoutMs`: a stalled path fails the run instead of hanging it. */
function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** How long a transfer took, and its rate once bytes flowed (after the first chunk, at the receiving end). */
export interface Timed {
  ms: number;
  steadyBytesPerMs: number;
}

/** Sends `bytes` to the service and hears that all of them arrived. */
export async function upload(address: Address, bytes: number, timeoutMs: number): Promise<Timed> {
  const socket = await opened(address);
  try {
    const answered = new Promise<string>((resolve, reject) => {
      socket.once('data', (answer: Buffer) => resolve(answer.toString()));
      socket.once('close', () => reject(new Error('upload: the connection closed before the answer')));
    });
    const started = performance.now();
    socket.write(`sink ${bytes}\n`);
    let left = bytes;
    const send = (): void => {
      while (left > 0 && !socket.destroyed) {
        const piece = left >= block.length ? block : block.subarray(0, left);
        left -= piece.length;
        if (!socket.write(piece)) return void socket.once('drain', send);
      }
    };
    send();
    const [, after, steadyMs] = (await within(answered, timeoutMs, `upload of ${bytes} bytes`)).trim().split(' ');
    return { ms: performance.now() - started, steadyBytesPerMs: Number(after) / Number(steadyMs) };
  } finally {
    socket.destroy();
  }
}

/** Asks the service for `bytes` and reads them to the last. */
export async function download(address: Address, bytes: number, timeoutMs: number): Promise<Timed> {
  const socket = await opened(address);
  try {
    let received = 0;
    let firstAt = 0;
    let firstBytes = 0;
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        if (received === 0) {
          firstAt = performance.now();
          firstBytes = chunk.length;
        }
        received += chunk.length;
        if (received >= bytes) resolve();
      });
      socket.once('close', () => reject(new Error(`download: closed after ${received} of ${bytes} bytes`)));
    });
    const started = performance.now();
    socket.write(`source ${bytes}\n`);
    await within(done, timeoutMs, `download of ${bytes} bytes`);
    const ended = performance.now();
    return { ms: ended - started, steadyBytesPerMs: (received - firstBytes) / (ended - firstAt) };
  } finally {
    socket.destroy();
  }
}

/** Milliseconds from connecting (nothing open beforehand) to the first byte of the echo of a first request. */
export async function firstAnswer(address: Address, timeoutMs: number): Promise<number> {
  const started = performance.now();
  // Written at once: like a client that sends its request as soon as it may, it waits in the socket until connected.
  const socket = connect({ ...address, noDelay: true });
  socket.write('echo\nhello');
  try {
    await within(
      new Promise<void>((resolve, reject) => {
        socket.once('data', () => resolve());
        socket.once('error', reject);
        socket.once('close', () => reject(new Error('first answer: the connection closed first')));
      }),
      timeoutMs,
      'first answer',
    );
    return performance.now() - started;
  } finally {
    socket.destroy();
  }
}

/**
 * Small requests on one stream at a fixed rate (open loop: each is timed from its intended send time, so a stalled
 * stream cannot hide its queue), answered by the echo service: the round-trip times, in microseconds.
 */
export async function pingPong(address: Address, intervalMs: number, durationMs: number): Promise<Histogram> {
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const socket = await opened(address);
  socket.write('echo\n');
  const count = Math.floor(durationMs / intervalMs);
  const started = performance.now();
  let pending: Buffer = Buffer.alloc(0);
  let answered = 0;
  const allAnswered = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= requestBytes) {
        const seq = pending.readUInt32BE(0);
        pending = pending.subarray(requestBytes);
        histogram.recordValue(Math.max(1, Math.round((performance.now() - (started + seq * intervalMs)) * 1000)));
        if (++answered === count) resolve();
      }
    });
    socket.once('close', () => reject(new Error(`ping-pong: closed after ${answered} of ${count} answers`)));
  });
  try {
    for (let seq = 0; seq < count; seq++) {
      const wait = started + seq * intervalMs - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      const request = Buffer.alloc(requestBytes, 0x2e);
      request.writeUInt32BE(seq, 0);
      socket.write(request);
    }
    await within(allAnswered, 30_000, 'ping-pong answers');
    return histogram;
  } finally {
    socket.destroy();
  }
}

/** `count` streams that have carried one byte each way and then sit idle; `batch` are opened at a time. */
export async function openIdle(address: Address, count: number, batch = 50): Promise<Socket[]> {
  const sockets: Socket[] = [];
  const one = async (): Promise<void> => {
    const socket = await opened(address);
    sockets.push(socket);
    socket.on('error', () => undefined);
    const echoed = new Promise<void>((resolve) => socket.once('data', () => resolve()));
    socket.write('echo\n.');
    await within(echoed, 30_000, 'idle stream echo');
  };
  try {
    for (let done = 0; done < count; done += batch)
      await Promise.all(Array.from({ length: Math.min(batch, count - done) }, one));
  } catch (error) {
    for (const socket of sockets) socket.destroy();
    throw error;
  }
  return sockets;
}

/**
 * `count` streams each sending to the echo service and reading its answers as fast as they can, until stopped or
 * `maxBytesEach` sent.
 */
export async function openActive(address: Address, count: number, maxBytesEach: number): Promise<{ stop(): number }> {
  const sockets = await Promise.all(Array.from({ length: count }, () => opened(address)));
  let echoed = 0;
  for (const socket of sockets) {
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => (echoed += chunk.length));
    socket.write('echo\n');
    let left = maxBytesEach;
    const piece = block.subarray(0, 64 * 1024);
    const send = (): void => {
      while (left > 0 && !socket.destroyed) {
        left -= piece.length;
        if (!socket.write(piece)) return void socket.once('drain', send);
      }
    };
    send();
  }
  return {
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return echoed;
    },
  };
}
