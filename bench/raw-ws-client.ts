// A WebSocket client for load generation, over a bare TCP socket: a hand-made upgrade, masked text frames out,
// and frames counted rather than decoded on the way in, so that thousands of them cost the load generator little.
// Payloads surface only while `onPayload` is set (during setup, and on the few probe clients). A protocol whose
// messages do not follow frames (NATS) reads the frames' bytes as a `stream` instead, which counts its messages.

import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { SetupStep } from './wires.js';

export interface RawWsOptions {
  host: string;
  port: number;
  path: string;
  protocol?: string;
  /** Source address (127.0.0.2–.9 spread the load over more ephemeral ports). */
  localAddress?: string;
  /** For a protocol whose messages are not one frame each: reads every data frame's bytes, given a way to answer. */
  stream?: ((send: (text: string) => void) => MessageStream) | undefined;
}

export interface MessageStream {
  /** Takes the next bytes of the data frames' payloads; returns how many messages they completed. */
  push(chunk: Buffer): number;
  /** While set, called with each message's payload (probes); unset, payloads are skipped, not decoded. */
  onMessage: ((payload: Buffer) => void) | undefined;
}

const opcodeText = 0x1;
const opcodeClose = 0x8;
const opcodePing = 0x9;
const opcodePong = 0xa;

export class RawWsClient {
  /** Data frames received (text or binary), or with a `stream`, the messages it read. */
  frames = 0;
  /** Bytes received after the upgrade, framing included. */
  bytes = 0;
  onPayload: ((payload: Buffer) => void) | undefined;
  closed = false;
  stream: MessageStream | undefined;
  /** Frames the server sent before setup() listened (a server may speak first: NATS's INFO), kept for setup(). */
  private early: Buffer[] | undefined = [];
  private pending: Buffer | undefined;
  /** Payload bytes of the current frame still to skip or collect. */
  private remaining = 0;
  private collecting: Buffer[] | undefined;
  private currentOpcode = 0;
  private frameWaiter: { frames: number; wake: () => void } | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  static connect(options: RawWsOptions): Promise<RawWsClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: options.host, port: options.port, localAddress: options.localAddress });
      socket.setNoDelay(true);
      const client = new RawWsClient(socket);
      client.stream = options.stream?.((text) => client.sendText(text));
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        socket.off('error', reject);
        const status = head.subarray(0, head.indexOf('\r\n')).toString();
        if (!status.includes(' 101 ')) {
          socket.destroy();
          reject(new Error(`upgrade refused: ${status}`));
          return;
        }
        socket.on('data', (data: Buffer) => client.receive(data));
        if (head.length > end + 4) client.receive(head.subarray(end + 4));
        resolve(client);
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('connect', () => {
        const key = randomBytes(16).toString('base64');
        socket.write(
          `GET ${options.path} HTTP/1.1\r\nHost: ${options.host}:${options.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${options.protocol ? `Sec-WebSocket-Protocol: ${options.protocol}\r\n` : ''}\r\n`,
        );
      });
    });
  }

  /** Runs setup steps in order: send each step's frames, then wait for its answer. */
  async setup(steps: readonly SetupStep[], timeoutMs = 30_000): Promise<void> {
    const early = this.early ?? [];
    this.early = undefined;
    for (const step of steps) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no answer to ${step.send.join(', ').slice(0, 60)} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        this.onPayload = (payload) => {
          if (!step.until(payload.toString())) return;
          clearTimeout(timer);
          this.onPayload = undefined;
          resolve();
        };
        for (const frame of step.send) this.sendText(frame);
        // What the server said unasked can only answer the first step.
        for (const payload of early.splice(0)) this.onPayload?.(payload);
      });
    }
    // What arrived during setup is not load.
    this.frames = 0;
    this.bytes = 0;
  }

  /** Resolves once `frames` data frames have arrived. */
  whenFrames(frames: number): Promise<void> {
    if (this.frames >= frames) return Promise.resolve();
    return new Promise((wake) => (this.frameWaiter = { frames, wake }));
  }

  sendText(text: string): void {
    this.sendFrame(opcodeText, Buffer.from(text));
  }

  /** Closes with a TCP reset: no TIME_WAIT left behind, so runs of thousands of clients do not exhaust ports. */
  close(): void {
    if (this.socket.connecting) this.socket.destroy();
    else this.socket.resetAndDestroy();
  }

  private sendFrame(opcode: number, payload: Buffer): void {
    const length = payload.length;
    const headerLength = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
    const frame = Buffer.allocUnsafe(headerLength + 4 + length);
    frame[0] = 0x80 | opcode;
    if (length < 126) frame[1] = 0x80 | length;
    else if (length < 0x10000) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(length, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeBigUInt64BE(BigInt(length), 2);
    }
    const mask = randomBytes(4);
    mask.copy(frame, headerLength);
    for (let i = 0; i < length; i++) frame[headerLength + 4 + i] = payload[i]! ^ mask[i & 3]!;
    this.socket.write(frame);
  }

  private receive(chunk: Buffer): void {
    this.bytes += chunk.length;
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    let at = 0;
    while (at < data.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, data.length - at);
        const piece = data.subarray(at, at + take);
        this.collecting?.push(piece);
        if (this.stream && this.currentOpcode < 0x8) this.counted(this.stream.push(piece));
        this.remaining -= take;
        at += take;
        if (this.remaining === 0) this.frameDone();
        continue;
      }
      // A new frame header: 2 bytes, then 0, 2 or 8 bytes of length (server frames are unmasked).
      if (data.length - at < 2) break;
      const lengthCode = data[at + 1]! & 0x7f;
      const headerLength = lengthCode < 126 ? 2 : lengthCode === 126 ? 4 : 10;
      if (data.length - at < headerLength) break;
      this.currentOpcode = data[at]! & 0x0f;
      const length =
        lengthCode < 126
          ? lengthCode
          : lengthCode === 126
            ? data.readUInt16BE(at + 2)
            : Number(data.readBigUInt64BE(at + 2));
      at += headerLength;
      const control = this.currentOpcode >= 0x8;
      this.collecting = control || this.onPayload || this.early ? [] : undefined;
      this.remaining = length;
      if (length === 0) this.frameDone();
    }
    if (at < data.length) this.pending = data.subarray(at);
  }

  private frameDone(): void {
    const payload = this.collecting ? Buffer.concat(this.collecting) : undefined;
    this.collecting = undefined;
    if (this.currentOpcode === opcodePing) return this.sendFrame(opcodePong, payload ?? Buffer.alloc(0));
    if (this.currentOpcode === opcodeClose) return this.close();
    if (this.currentOpcode === opcodePong) return;
    if (!this.stream) this.counted(1);
    if (payload && this.onPayload) this.onPayload(payload);
    else if (payload && this.early) {
      // A greeting is a frame or two; a client never set up keeps no more.
      if (this.early.push(payload) >= 4) this.early = undefined;
    }
  }

  private counted(messages: number): void {
    if (messages === 0) return;
    this.frames += messages;
    if (this.frameWaiter && this.frames >= this.frameWaiter.frames) {
      const { wake } = this.frameWaiter;
      this.frameWaiter = undefined;
      wake();
    }
  }
}
