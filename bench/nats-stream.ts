// Reads what a NATS server sends a client, in pieces of any size (one WebSocket frame may hold many deliveries, or part
// of one): counts MSG deliveries by skipping the payload size their line gives, decodes a payload only for onMessage,
// answers PING with PONG, and hands the other lines (INFO, PONG, +OK, -ERR) to onLine.

import type { MessageStream } from './raw-ws-client.js';

const lf = 0x0a;
const cr = 0x0d;
const digit0 = 0x30;

export class NatsStream implements MessageStream {
  /** MSG deliveries read in full. */
  messages = 0;
  onMessage: ((payload: Buffer) => void) | undefined;
  onLine: ((line: string) => void) | undefined;
  /** The start of a control line that a piece ended inside. */
  private partial: Buffer | undefined;
  /** Bytes of the current delivery's payload, and its closing CRLF, still to come. */
  private remaining = 0;
  private payload: Buffer[] | undefined;

  constructor(private readonly send: (text: string) => void) {}

  push(chunk: Buffer): number {
    const before = this.messages;
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - at);
        this.payload?.push(chunk.subarray(at, at + take));
        this.remaining -= take;
        at += take;
        if (this.remaining === 0) this.delivered();
        continue;
      }
      const end = chunk.indexOf(lf, at);
      if (end < 0) {
        // Copied: a line is short, and the piece it came in need not outlive it.
        const rest = Buffer.from(chunk.subarray(at));
        this.partial = this.partial ? Buffer.concat([this.partial, rest]) : rest;
        break;
      }
      const line = this.partial ? Buffer.concat([this.partial, chunk.subarray(at, end)]) : chunk.subarray(at, end);
      this.partial = undefined;
      at = end + 1;
      this.readLine(line);
    }
    return this.messages - before;
  }

  /** `line` without its LF. MSG (and HMSG) lines end with the payload's size in bytes, read here without a string. */
  private readLine(line: Buffer): void {
    const first = line[0];
    if ((first === 0x4d && line[1] === 0x53) || (first === 0x48 && line[1] === 0x4d)) {
      let i = line.length - 1;
      if (line[i] === cr) i--;
      let size = 0;
      for (let scale = 1; i >= 0 && line[i]! >= digit0 && line[i]! <= digit0 + 9; i--, scale *= 10)
        size += (line[i]! - digit0) * scale;
      this.remaining = size + 2;
      this.payload = this.onMessage ? [] : undefined;
      return;
    }
    const text = line.toString('latin1').trimEnd();
    if (text === 'PING') this.send('PONG\r\n');
    else this.onLine?.(text);
  }

  private delivered(): void {
    this.messages++;
    if (!this.payload) return;
    const all = Buffer.concat(this.payload);
    this.payload = undefined;
    this.onMessage?.(all.subarray(0, all.length - 2));
  }
}
