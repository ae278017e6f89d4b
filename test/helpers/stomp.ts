// STOMP clients for tests: the real @stomp/stompjs client over `ws` (connected, with message collection and
// receipts awaited with deadlines), and a raw STOMP socket that sends bytes by hand and parses what comes back.

import type { ExecutionContext } from 'ava';
import { Client, type IFrame, type IMessage, type StompHeaders } from '@stomp/stompjs';
import WebSocket from 'ws';
import { serializeFrame } from '../../edge/stomp/stomp-frame.js';
import { StompParser, type StompParseEvent } from '../../edge/stomp/stomp-parser.js';
import type { StompFrame } from '../../edge/stomp/stomp-frame.js';
import { firstMatch, within } from './within.js';

export const stompProtocols = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

export interface StompTestClient {
  client: Client;
  connected: IFrame;
  /** Resolves with the ERROR frame, if the server sends one. */
  stompError: Promise<IFrame>;
  /** Resolves with the WebSocket close code. */
  closed: Promise<number>;
  /** Subscribes and waits for the SUBSCRIBE receipt; messages collect in the returned list. */
  subscribe(destination: string, headers?: StompHeaders): Promise<{ receipt: IFrame; messages: MessageList }>;
  /** Publishes and waits for the SEND receipt (the core has sequenced it). */
  publish(destination: string, body: string | Uint8Array, headers?: StompHeaders): Promise<IFrame>;
}

export interface MessageList {
  messages: IMessage[];
  until(count: number): Promise<IMessage[]>;
}

let receipts = 0;

/** A connected stompjs client on an edge's /v1/ws; deactivated in teardown. */
export async function connectStomp(
  t: ExecutionContext,
  edgeUrl: string,
  connectHeaders: StompHeaders = {},
): Promise<StompTestClient> {
  let onError!: (frame: IFrame) => void;
  let onClose!: (code: number) => void;
  const stompError = new Promise<IFrame>((resolve) => (onError = resolve));
  const closed = new Promise<number>((resolve) => (onClose = resolve));
  const client = new Client({
    webSocketFactory: () => new WebSocket(`${edgeUrl}/v1/ws`, stompProtocols),
    connectHeaders,
    reconnectDelay: 0,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => {},
  });
  const connected = new Promise<IFrame>((resolve, reject) => {
    client.onConnect = resolve;
    client.onStompError = (frame) => {
      onError(frame);
      reject(new Error(`STOMP ERROR: ${frame.headers.message}`));
    };
    client.onWebSocketClose = (event: { code: number }) => {
      onClose(event.code);
      reject(new Error(`socket closed ${event.code}`));
    };
  });
  t.teardown(() => client.deactivate({ force: true }));
  client.activate();
  const frame = await within(connected, 'STOMP CONNECTED');
  const stompClient: StompTestClient = {
    client,
    connected: frame,
    stompError,
    closed,
    async subscribe(destination, headers = {}) {
      const list = messageList();
      const receipt = `sub-${++receipts}`;
      const answered = new Promise<IFrame>((resolve) => client.watchForReceipt(receipt, resolve));
      client.subscribe(destination, (message) => list.push(message), { ...headers, receipt });
      return { receipt: await within(answered, `receipt for SUBSCRIBE ${destination}`), messages: list };
    },
    async publish(destination, body, headers = {}) {
      const receipt = `pub-${++receipts}`;
      const answered = new Promise<IFrame>((resolve) => client.watchForReceipt(receipt, resolve));
      if (typeof body === 'string') client.publish({ destination, body, headers: { ...headers, receipt } });
      else client.publish({ destination, binaryBody: body, headers: { ...headers, receipt } });
      return within(answered, `receipt for SEND to ${destination}`);
    },
  };
  return stompClient;
}

function messageList(): MessageList & { push(message: IMessage): void } {
  const messages: IMessage[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  return {
    messages,
    push(message) {
      messages.push(message);
      for (const waiter of waiters.filter((w) => messages.length >= w.count)) waiter.resolve();
    },
    until(count) {
      if (messages.length >= count) return Promise.resolve(messages);
      return within(
        new Promise<IMessage[]>((resolve) => waiters.push({ count, resolve: () => resolve(messages) })),
        `${count} STOMP messages (got ${messages.length})`,
      );
    },
  };
}

/** A STOMP socket driven by hand: raw bytes out, parsed frames in. */
export class RawStomp {
  readonly frames: StompFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  heartbeats = 0;
  private readonly parser = new StompParser({ maxHeaderBytes: 1 << 20, maxHeaders: 1000, maxBodyBytes: 1 << 24 });
  private readonly waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    this.parser.version = '1.2';
    ws.on('message', (data: Buffer) => {
      this.parser.push(data, (event: StompParseEvent) => {
        if (event.kind === 'frame') this.frames.push(event.frame);
        else if (event.kind === 'heartbeat') this.heartbeats++;
        else throw new Error(`the server sent a malformed frame: ${event.message}`);
      });
      for (const waiter of this.waiters.splice(0)) waiter();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const waiter of this.waiters.splice(0)) waiter();
      }),
    );
  }

  static async open(t: ExecutionContext, edgeUrl: string, protocol = 'v12.stomp'): Promise<RawStomp> {
    const ws = new WebSocket(`${edgeUrl}/v1/ws`, [protocol]);
    t.teardown(() => ws.terminate());
    await within(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }),
      'STOMP socket open',
    );
    return new RawStomp(ws);
  }

  /** Opens and sends CONNECT (1.2), waiting for CONNECTED. */
  static async connected(
    t: ExecutionContext,
    edgeUrl: string,
    headers: Array<[string, string]> = [],
  ): Promise<RawStomp> {
    const raw = await RawStomp.open(t, edgeUrl);
    raw.send('CONNECT', [['accept-version', '1.2'], ['host', 'relaymesh'], ...headers]);
    await raw.next((frame) => frame.command === 'CONNECTED');
    return raw;
  }

  send(command: string, headers: Array<[string, string]>, body?: Buffer | string): void {
    this.ws.send(serializeFrame(command, headers, typeof body === 'string' ? Buffer.from(body) : body, '1.2'));
  }

  /** The first frame (received so far or later) that matches, with a deadline. */
  next(match: (frame: StompFrame) => boolean, what = 'a matching STOMP frame'): Promise<StompFrame> {
    return firstMatch(
      this.frames,
      this.waiters,
      match,
      `${what} (got ${this.frames.map((frame) => frame.command).join(', ')})`,
    );
  }

  /** Waits until `count` EOL heart-beats have arrived. */
  heartbeatsReach(count: number): Promise<void> {
    return within(
      new Promise<void>((resolve) => {
        const check = (): void => (this.heartbeats >= count ? resolve() : void this.waiters.push(check));
        check();
      }),
      `${count} heart-beats`,
    );
  }
}

export function header(frame: StompFrame, name: string): string | undefined {
  return frame.headers.find(([key]) => key === name)?.[1];
}
