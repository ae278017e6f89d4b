// A client connection, whatever carries it: a WebSocket (ws-transport.ts) or HTTP streaming
// (http-stream-transport.ts, docs/protocol.md §3). MeshClient speaks ops to it and hears ops, opens and closes from it.

import type { ClientOp, ServerOp } from '../shared/protocol.js';
import { parseServerOp } from '../shared/server-op-parser.js';

export type TransportKind = 'websocket' | 'http-stream';
export const transportKinds: readonly TransportKind[] = ['websocket', 'http-stream'];

export interface TransportHandlers {
  /** The connection is up (a WebSocket opened; an HTTP session was answered): the transport works here. */
  onOpen(): void;
  /** One server→client op (undefined: the edge sent something that is not one). */
  onMessage(op: ServerOp | undefined): void;
  /** The connection ended, with a WebSocket close code (or its equivalent); `opened` tells whether onOpen came first. */
  onClose(code: number, reason: string, opened: boolean): void;
}

export interface Transport {
  readonly kind: TransportKind;
  /** Opens the connection and sends `connect` (built when needed: its token may be fetched; a rejection closes with 1000). */
  open(connect: () => Promise<ClientOp>): void;
  send(op: ClientOp): void;
  /** Closes; resolves once closed. No onClose after it. */
  close(code?: number, reason?: string): Promise<void>;
}

/** Parses a server frame (JSON text or bytes): the op it holds, or undefined when it holds none. */
export function parseOp(raw: unknown): ServerOp | undefined {
  return parseServerOp(parseJson(raw));
}

/** JSON text or bytes as a value; undefined when it does not parse. */
export function parseJson(raw: unknown): unknown {
  try {
    return JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw as ArrayBuffer));
  } catch {
    return undefined;
  }
}

/** Remembers the transport that last worked: in localStorage when there is one, else in memory. */
export class TransportMemory {
  private value: TransportKind | undefined;
  private static readonly key = 'relaymesh.transport';

  get(): TransportKind | undefined {
    try {
      const stored = storage()?.getItem(TransportMemory.key);
      if (stored === 'websocket' || stored === 'http-stream') return stored;
    } catch {
      // Storage disabled (privacy mode): memory only.
    }
    return this.value;
  }

  set(kind: TransportKind): void {
    this.value = kind;
    try {
      storage()?.setItem(TransportMemory.key, kind);
    } catch {
      // Memory only.
    }
  }
}

function storage(): { getItem(key: string): string | null; setItem(key: string, value: string): void } | undefined {
  return (
    globalThis as { localStorage?: { getItem(key: string): string | null; setItem(key: string, value: string): void } }
  ).localStorage;
}
