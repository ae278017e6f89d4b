// A client connection, whatever carries it: a WebSocket (ws-transport.ts) or HTTP streaming
// (http-stream-transport.ts, PROTOCOL.md §3). MeshClient speaks ops to it and hears ops, opens and closes from it.

import type { Frame } from './pending-requests.js';

export type TransportKind = 'websocket' | 'http-stream';
export const transportKinds: readonly TransportKind[] = ['websocket', 'http-stream'];

export interface TransportHandlers {
  /** The connection is up (a WebSocket opened; an HTTP session was answered): the transport works here. */
  onOpen(): void;
  /** One server→client op (undefined: the edge sent something that is not a JSON object). */
  onMessage(op: Frame | undefined): void;
  /** The connection ended, with a WebSocket close code (or its equivalent); `opened` tells whether onOpen came first. */
  onClose(code: number, reason: string, opened: boolean): void;
}

export interface Transport {
  readonly kind: TransportKind;
  /** Opens the connection and sends `connect` (built when needed: its token may be fetched; a rejection closes with 1000). */
  open(connect: () => Promise<Frame>): void;
  send(frame: Frame): void;
  /** Closes; resolves once closed. No onClose after it. */
  close(code?: number, reason?: string): Promise<void>;
}

/** Parses a server frame: a JSON object or undefined. */
export function parseOp(raw: unknown): Frame | undefined {
  try {
    const op: unknown = JSON.parse(typeof raw === 'string' ? raw : new TextDecoder().decode(raw as ArrayBuffer));
    return typeof op === 'object' && op !== null && !Array.isArray(op) ? (op as Frame) : undefined;
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
  return (globalThis as { localStorage?: { getItem(key: string): string | null; setItem(key: string, value: string): void } }).localStorage;
}
