// The HTTP streaming transport (docs/protocol.md §3), for where WebSocket does not get through; only `fetch`.
// POST /v1/session carries `connect` and its 201 is the welcome; GET <stream> is an event stream of server ops;
// POST <send> carries client ops, in order (one request at a time, batching what queued meanwhile).
// A stream that breaks is resumed with Last-Event-ID (the same session: nothing to resubscribe); when it cannot be
// (404, or an `event: close`), the transport closes and MeshClient reconnects as after a WebSocket close.

import { clientPath } from '../shared/protocol.js';
import { SseParser, type SseEvent } from './sse-parser.js';
import type { ClientOp } from '../shared/protocol.js';
import { parseServerOp } from '../shared/server-op-parser.js';
import { parseJson, parseOp, type Transport, type TransportHandlers } from './transport.js';

/** Resumes in a row that received nothing at all before the transport gives up on the session. */
const maxEmptyResumes = 3;

export class HttpStreamTransport implements Transport {
  readonly kind = 'http-stream' as const;
  private readonly base: string;
  private readonly abort = new AbortController();
  private closed = false;
  private opened = false;
  private streamUrl: string | undefined;
  private sendUrl: string | undefined;
  private lastEventId: string | undefined;
  private readonly outbox: ClientOp[] = [];
  private sending = false;
  private heartbeatMs = 25_000;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private reader: ReadableStreamDefaultReader<Uint8Array> | undefined;

  /** `url`: the edge's client URL (ws[s]://host:port/v1/ws) or its base URL. */
  constructor(
    url: string,
    private readonly handlers: TransportHandlers,
  ) {
    const trimmed = url.replace(/\/+$/, '').replace(/^ws/, 'http');
    this.base = trimmed.endsWith(clientPath) ? trimmed.slice(0, -clientPath.length) : trimmed;
  }

  open(connect: () => Promise<ClientOp>): void {
    void this.start(connect);
  }

  send(op: ClientOp): void {
    if (this.closed) return;
    this.outbox.push(op);
    void this.flush();
  }

  close(): Promise<void> {
    this.shutdown();
    return Promise.resolve();
  }

  private async start(connect: () => Promise<ClientOp>): Promise<void> {
    let op: ClientOp;
    try {
      op = await connect();
    } catch {
      this.opened = true; // not the transport's fault: no fallback
      return this.end(1000, 'no token');
    }
    let response: Response;
    let body: Record<string, unknown>;
    try {
      response = await fetch(`${this.base}/v1/session`, this.post(op));
      body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    } catch (error) {
      return this.end(1006, `cannot open an HTTP session at ${this.base}: ${(error as Error).message}`);
    }
    if (this.closed) return;
    if (response.status === 401 || response.status === 400) {
      this.opened = true;
      const message = (body.error as { message?: unknown } | undefined)?.message;
      return this.end(
        response.status === 401 ? 4401 : 4400,
        typeof message === 'string' ? message : response.statusText,
      );
    }
    if (response.status !== 201 || typeof body.stream !== 'string' || typeof body.send !== 'string') {
      return this.end(1006, `POST /v1/session answered ${response.status}`);
    }
    this.streamUrl = new URL(body.stream, this.base).href;
    this.sendUrl = new URL(body.send, this.base).href;
    if (typeof body.heartbeatMs === 'number' && body.heartbeatMs > 0) this.heartbeatMs = body.heartbeatMs;
    const { stream: _stream, send: _send, ...welcome } = body;
    this.opened = true;
    this.handlers.onOpen();
    void this.readStream();
    if (!this.closed) this.handlers.onMessage(parseServerOp({ ...welcome, op: 'welcome' }));
    void this.flush();
  }

  /** Reads the stream; when it breaks, resumes it after the last event received. */
  private async readStream(): Promise<void> {
    let emptyResumes = 0;
    while (!this.closed) {
      const headers: Record<string, string> = { accept: 'text/event-stream' };
      if (this.lastEventId !== undefined) headers['last-event-id'] = this.lastEventId;
      let response: Response;
      try {
        response = await fetch(this.streamUrl!, { headers, signal: this.abort.signal, cache: 'no-store' });
      } catch (error) {
        return this.end(1006, `the stream broke and cannot be resumed: ${(error as Error).message}`);
      }
      if (this.closed) return void response.body?.cancel().catch(() => {});
      if (response.status === 404) return this.end(1001, 'the session ended');
      if (!response.ok || !response.body) return this.end(1006, `GET stream answered ${response.status}`);
      let received = false;
      const parser = new SseParser((event) => this.event(event));
      const reader = response.body.getReader();
      this.reader = reader;
      this.watch();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done || this.closed) break;
          received = true;
          this.watch();
          parser.push(value);
          if (this.closed) break;
        }
      } catch {
        // Broken (reset, aborted by the idle watch): resumed below.
      }
      this.reader = undefined;
      clearTimeout(this.idleTimer);
      if (this.closed) return void reader.cancel().catch(() => {});
      emptyResumes = received ? 0 : emptyResumes + 1;
      if (emptyResumes > maxEmptyResumes) return this.end(1006, 'the stream keeps breaking');
    }
  }

  private event(event: SseEvent): void {
    if (this.closed) return;
    if (event.event === 'close') {
      const close = parseJson(event.data) as { code?: unknown; reason?: unknown } | null | undefined;
      return this.end(
        typeof close?.code === 'number' ? close.code : 1006,
        typeof close?.reason === 'string' ? close.reason : 'closed',
      );
    }
    if (event.id !== undefined) this.lastEventId = event.id;
    if (event.event === 'message') this.handlers.onMessage(parseOp(event.data));
  }

  /** Nothing at all (not even a `: ping`) for three heartbeats: the stream is dead without knowing it; resume. */
  private watch(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => void this.reader?.cancel().catch(() => {}), 3 * this.heartbeatMs);
  }

  private async flush(): Promise<void> {
    if (this.sending || !this.sendUrl) return;
    this.sending = true;
    try {
      while (this.outbox.length > 0 && !this.closed) {
        const batch = this.outbox.splice(0);
        let status: number;
        try {
          const response = await fetch(this.sendUrl, this.post(batch.length === 1 ? batch[0] : batch));
          status = response.status;
          await response.arrayBuffer().catch(() => undefined);
        } catch (error) {
          return this.end(1006, `cannot send: ${(error as Error).message}`);
        }
        if (status === 404) return this.end(1001, 'the session ended');
        if (status === 413) return this.end(1009, 'message too big');
        if (status === 400) return this.end(4400, 'the edge refused what was sent');
        if (status !== 202) return this.end(1006, `POST send answered ${status}`);
      }
    } finally {
      this.sending = false;
    }
  }

  private post(body: unknown): RequestInit {
    return {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: this.abort.signal,
    };
  }

  /** Ends the transport and tells MeshClient. */
  private end(code: number, reason: string): void {
    if (this.closed) return;
    this.shutdown();
    this.handlers.onClose(code, reason, this.opened);
  }

  private shutdown(): void {
    this.closed = true;
    clearTimeout(this.idleTimer);
    this.outbox.length = 0;
    this.abort.abort();
  }
}
