// A native msgpack client of the attacked edge, from a chosen source address: `connect`, then requests answered by
// id, and the close code it ended with. Deliveries are decoded only for a client that asks for them (the bystander).

import WebSocket from 'ws';
import { packValue, unpackValue } from '../shared/codec.js';
import {
  clientPath,
  subprotocols,
  type ConnectOp,
  type MsgOp,
  type PingOp,
  type ServerOp,
  type SubOp,
  type UnsubOp,
} from '../shared/protocol.js';

export type AttackRequest = Omit<ConnectOp, 'id'> | Omit<SubOp, 'id'> | Omit<UnsubOp, 'id'> | Omit<PingOp, 'id'>;

export interface AttackSocketOptions {
  /** The edge's base URL (ws://host:port). */
  url: string;
  localAddress?: string;
  onMsg?: (op: MsgOp) => void;
  /** Other unsolicited ops (`reset`, `error` without id, `redirect`). */
  onOther?: (op: ServerOp) => void;
  /** Gives up on the upgrade and `welcome` after this long; default 10 s. */
  timeoutMs?: number;
}

export class ClosedError extends Error {
  constructor(readonly code: number) {
    super(`socket closed (${code})`);
  }
}

// Every `msg` op starts with these bytes (shared/codec.ts msgpackMsgOp): attackers skip them without decoding.
const msgPrefix = Buffer.concat([Buffer.from([0x85]), packValue('op'), packValue('msg')]);

export class AttackSocket {
  /** The close code once closed (1006 when the connection just dropped). */
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (op: ServerOp) => void; reject: (error: Error) => void }>();

  private constructor(
    private readonly ws: WebSocket,
    private readonly options: AttackSocketOptions,
  ) {
    ws.binaryType = 'nodebuffer';
    ws.on('error', () => {});
    this.closed = new Promise((resolve) =>
      ws.on('close', (code) => {
        this.closeCode = code;
        for (const { reject } of this.pending.values()) reject(new ClosedError(code));
        this.pending.clear();
        resolve(code);
      }),
    );
    ws.on('message', (data: Buffer) => this.receive(data));
  }

  /** Opens the socket and completes `connect`; rejects (and leaves nothing open) when the edge refuses or is slow. */
  static async open(options: AttackSocketOptions): Promise<AttackSocket> {
    const ws = new WebSocket(`${options.url}${clientPath}`, subprotocols.msgpack, {
      perMessageDeflate: false,
      localAddress: options.localAddress,
    });
    const socket = new AttackSocket(ws, options);
    const timer = setTimeout(() => ws.terminate(), options.timeoutMs ?? 10_000);
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('unexpected-response', (_request, response) =>
          reject(new Error(`upgrade refused: HTTP ${response.statusCode}`)),
        );
        void socket.closed.then((code) => reject(new ClosedError(code)));
      });
      const welcome = await socket.request({ op: 'connect' });
      if (welcome.op !== 'welcome') throw new Error(`connect answered ${JSON.stringify(welcome)}`);
      return socket;
    } catch (error) {
      ws.terminate();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  get open(): boolean {
    return this.closeCode === undefined;
  }

  /** Sends one op with a fresh id; resolves with its answer (`subok`, `unsubok`, `pong`, or `error`). */
  request(op: AttackRequest): Promise<ServerOp> {
    if (this.closeCode !== undefined) return Promise.reject(new ClosedError(this.closeCode));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(packValue({ ...op, id }));
    });
  }

  close(): void {
    this.ws.terminate();
  }

  private receive(data: Buffer): void {
    const isMsg = data.length > msgPrefix.length && data.subarray(0, msgPrefix.length).equals(msgPrefix);
    if (isMsg && !this.options.onMsg) return;
    let op: ServerOp;
    try {
      op = unpackValue(data) as ServerOp;
    } catch {
      return;
    }
    if (op.op === 'msg') return this.options.onMsg?.(op);
    const id = 'id' in op && typeof op.id === 'number' ? op.id : undefined;
    const waiter = id === undefined ? undefined : this.pending.get(id);
    if (!waiter) return this.options.onOther?.(op);
    this.pending.delete(id!);
    waiter.resolve(op);
  }
}
