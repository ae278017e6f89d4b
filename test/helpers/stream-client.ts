// A bare HTTP-streaming client for tests (docs/protocol.md §3): opens a session, reads its event stream with fetch,
// sends ops, and can break the stream and resume it with Last-Event-ID.

import type { ExecutionContext } from 'ava';
import type { Op } from './raw-client.js';

export interface StreamEvent {
  id: number | undefined;
  event: string;
  data: Op;
}

export class StreamClient {
  readonly events: StreamEvent[] = [];
  readonly welcome: Record<string, unknown>;
  private abort: AbortController | undefined;
  private waiters: Array<{ match: (event: StreamEvent) => boolean; resolve: (event: StreamEvent) => void }> = [];

  private constructor(
    private readonly base: string,
    welcome: Record<string, unknown>,
  ) {
    this.welcome = welcome;
  }

  /** POST /v1/session with `connect`; fails on anything but 201. */
  static async open(
    t: ExecutionContext,
    base: string,
    connect: Record<string, unknown> = { op: 'connect' },
  ): Promise<StreamClient> {
    const response = await fetch(`${base}/v1/session`, { method: 'POST', body: JSON.stringify(connect) });
    if (response.status !== 201) throw new Error(`session: ${response.status} ${await response.text()}`);
    const client = new StreamClient(base, (await response.json()) as Record<string, unknown>);
    t.teardown(() => client.abort?.abort());
    return client;
  }

  get lastEventId(): number | undefined {
    return this.events.filter((event) => event.id !== undefined).at(-1)?.id;
  }

  /** Opens (or resumes, after `lastEventId`) the event stream; resolves once the response headers are in. */
  async listen(lastEventId?: number): Promise<void> {
    this.abort = new AbortController();
    const headers: Record<string, string> = lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) };
    const response = await fetch(`${this.base}${String(this.welcome.stream)}`, { headers, signal: this.abort.signal });
    void this.read(response.body!.getReader()).catch(() => {});
  }

  /** Breaks the stream from the client's side. */
  break(): void {
    this.abort?.abort();
  }

  async send(ops: Record<string, unknown> | Array<Record<string, unknown>>): Promise<number> {
    return (await fetch(`${this.base}${String(this.welcome.send)}`, { method: 'POST', body: JSON.stringify(ops) }))
      .status;
  }

  next(match: (event: StreamEvent) => boolean, timeoutMs = 10_000): Promise<StreamEvent> {
    const found = this.events.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(this.events.slice(-5))}`)),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event);
        },
      });
    });
  }

  ops(): Op[] {
    return this.events.filter((event) => event.event === 'message').map((event) => event.data);
  }

  private async read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        this.parse(block);
      }
    }
  }

  private parse(block: string): void {
    let id: number | undefined;
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const [field, ...rest] = line.split(':');
      const value = rest.join(':').replace(/^ /, '');
      if (field === 'id') id = Number(value);
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return;
    const parsed: StreamEvent = { id, event, data: JSON.parse(data.join('\n')) as Op };
    this.events.push(parsed);
    this.waiters = this.waiters.filter((waiter) => {
      if (!waiter.match(parsed)) return true;
      waiter.resolve(parsed);
      return false;
    });
  }
}
