// A WebSocket client that subscribes and then never reads again, over a bare TCP socket (a hand-made upgrade and
// masked frames): what a slow or malicious consumer looks like to the edge.

import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { clientPath, subprotocols } from '../shared/protocol.js';

export interface UnreadClient {
  /** Resolves once the edge has let the client go (or the client was closed). */
  readonly gone: Promise<void>;
  close(): void;
}

const opcodeText = 0x1;
const opcodePing = 0x9;
/** How often a client that reads nothing writes a ping: the edge's kernel resets a socket it has closed, and that is how we learn it. */
const probeEveryMs = 500;

function maskedFrame(opcode: number, payload: Buffer): Buffer {
  // Client frames here are small (< 126 bytes): a 2-byte header, then the mask.
  const frame = Buffer.alloc(6 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | payload.length;
  const mask = randomBytes(4);
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

/** Upgrades, connects and subscribes to `topic`; once `subok` has come, stops reading for good. */
export function openUnreadWs(
  host: string,
  port: number,
  localAddress: string,
  topic: string,
  timeoutMs = 10_000,
): Promise<UnreadClient> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, localAddress });
    const gone = new Promise<void>((wake) => socket.on('close', () => wake()));
    socket.on('error', () => {});
    const timer = setTimeout(() => fail(new Error('no subok in time')), timeoutMs);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    void gone.then(() => fail(new Error('closed before subok')));
    let received = '';
    let upgraded = false;
    const onData = (chunk: Buffer): void => {
      // latin1 keeps one character per byte; only the upgrade head and the small answers before `subok` are kept.
      received += chunk.toString('latin1');
      if (!upgraded) {
        const end = received.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!received.startsWith('HTTP/1.1 101'))
          return fail(new Error(`upgrade refused: ${received.slice(0, received.indexOf('\r\n'))}`));
        upgraded = true;
        received = received.slice(end + 4);
        socket.write(
          Buffer.concat([
            maskedFrame(opcodeText, Buffer.from(JSON.stringify({ op: 'connect' }))),
            maskedFrame(opcodeText, Buffer.from(JSON.stringify({ op: 'sub', id: 1, topic }))),
          ]),
        );
      }
      if (!received.includes('"op":"subok"')) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      const probe = setInterval(() => socket.write(maskedFrame(opcodePing, Buffer.alloc(0))), probeEveryMs);
      void gone.then(() => clearInterval(probe));
      resolve({ gone, close: () => (socket.destroyed ? undefined : socket.resetAndDestroy()) });
    };
    socket.on('data', onData);
    socket.once('connect', () => {
      socket.write(
        `GET ${clientPath} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${subprotocols.json}\r\n\r\n`,
      );
    });
  });
}
