// A tunnel's byte stream in the browser (docs/protocol.md §8): one WebSocket to `/v1/tunnel/<name>`, bytes out with
// write(), bytes in as `data` events, and a `close` that says whether the stream ended normally or why it did not.

import { closeCodes } from '../shared/errors.js';
import { MeshError, type MeshErrorCode } from './mesh-error.js';

/** The part of a WebSocket (the browser's, or `ws`) a tunnel uses. */
export interface TunnelSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}
export type TunnelSocketFactory = new (url: string, protocols: string[]) => TunnelSocket;

/** A tunnel that did not end normally; `closeCode` is its WebSocket close code (4502 refused, 4504 path lost, …). */
export class TunnelError extends MeshError {
  constructor(
    code: MeshErrorCode,
    message: string,
    readonly closeCode: number,
  ) {
    super(code, message);
    this.name = 'TunnelError';
  }
}

/** How a tunnel's WebSocket closed: undefined for a normal end, else the error it stands for. */
export function tunnelCloseError(code: number, reason: string, opened: boolean): TunnelError | undefined {
  if (code === closeCodes.normal) return undefined;
  const error = (errorCode: MeshErrorCode, message: string): TunnelError => new TunnelError(errorCode, message, code);
  if (!opened)
    return error(
      'unavailable',
      `the edge refused the tunnel or could not be reached (unknown tunnel, token, origin or limits) [${code}]`,
    );
  const why = reason ? `: ${reason}` : '';
  switch (code) {
    case closeCodes.serviceRefused:
      return error('unavailable', `the tunnel's service refused or did not answer${why}`);
    case closeCodes.pathLost:
      return error('unavailable', `the tunnel's path through the mesh was lost${why}`);
    case closeCodes.protocolViolation:
      return error('bad_request', `the edge closed the tunnel for a protocol violation${why}`);
    case closeCodes.rateLimited:
      return error('rate_limited', `the tunnel was refused by a limit${why}`);
    default:
      return error('unavailable', `the tunnel closed with ${code}${why}`);
  }
}

/** Bytes per WebSocket message: an edge takes messages up to 1 MiB, and smaller ones interleave better. */
const maxMessageBytes = 64 * 1024;

/** `bytes` cut into messages an edge accepts. */
export function messagesOf(bytes: Uint8Array): Uint8Array[] {
  if (bytes.length <= maxMessageBytes) return [bytes];
  const pieces: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += maxMessageBytes)
    pieces.push(bytes.subarray(offset, offset + maxMessageBytes));
  return pieces;
}

type Listeners = {
  data: Set<(bytes: Uint8Array) => void>;
  close: Set<(error: MeshError | undefined) => void>;
};

export class TunnelStream {
  private readonly listeners: Listeners = { data: new Set(), close: new Set() };
  private closeError: MeshError | undefined;
  private ended = false;

  private constructor(private readonly socket: TunnelSocket) {
    socket.onmessage = ({ data }) => {
      const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : new Uint8Array(data as ArrayBuffer);
      for (const listener of this.listeners.data) listener(bytes);
    };
    socket.onclose = ({ code, reason }) => {
      this.ended = true;
      this.closeError = tunnelCloseError(code, reason, true);
      for (const listener of this.listeners.close) listener(this.closeError);
    };
  }

  /** Opens a tunnel WebSocket at `url`; resolves once the edge has accepted it. */
  static open(WebSocketImpl: TunnelSocketFactory, url: string): Promise<TunnelStream> {
    return new Promise((resolve, reject) => {
      let socket: TunnelSocket;
      try {
        socket = new WebSocketImpl(url, ['binary']);
      } catch (error) {
        return reject(new MeshError('bad_request', `cannot open ${url}: ${(error as Error).message}`));
      }
      socket.binaryType = 'arraybuffer';
      socket.onerror = () => {};
      socket.onopen = () => resolve(new TunnelStream(socket));
      socket.onclose = ({ code, reason }) => reject(tunnelCloseError(code, reason, false));
    });
  }

  /** `data`: bytes from the service, in order. `close`: the stream is over; with an error unless it ended normally. */
  on<K extends keyof Listeners>(event: K, listener: Listeners[K] extends Set<infer L> ? L : never): () => void {
    const set = this.listeners[event] as Set<typeof listener>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Bytes (or text, as UTF-8) for the service. Watch `bufferedAmount` to avoid queueing without bound. */
  write(bytes: Uint8Array | string): void {
    if (this.ended) throw new MeshError('closed', 'the tunnel is closed');
    for (const piece of messagesOf(typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes))
      this.socket.send(piece);
  }

  /** Bytes written and not yet sent. */
  get bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  /** Ends the stream, both ways (a WebSocket has no half-close): the service gets every byte written before it. */
  close(): void {
    this.socket.close(closeCodes.normal, 'client closed');
  }
}
