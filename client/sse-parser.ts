// A small `text/event-stream` parser: bytes in (split anywhere, even inside a UTF-8 sequence or a CRLF), events out.

export interface SseEvent {
  /** The `event:` field; 'message' when absent. */
  event: string;
  data: string;
  /** The `id:` field of this event, if it had one. */
  id: string | undefined;
}

export class SseParser {
  private readonly decoder = new TextDecoder();
  private buffer = '';
  /** The last chunk ended with '\r': a '\n' starting the next one belongs to it. */
  private skipLf = false;
  private event = '';
  private data: string[] = [];
  private id: string | undefined;

  constructor(private readonly onEvent: (event: SseEvent) => void) {}

  push(chunk: Uint8Array): void {
    let text = this.decoder.decode(chunk, { stream: true });
    if (this.skipLf && text.startsWith('\n')) text = text.slice(1);
    if (text.length > 0) this.skipLf = false;
    this.buffer += text;
    let start = 0;
    for (;;) {
      const match = /\r\n|\r|\n/g;
      match.lastIndex = start;
      const found = match.exec(this.buffer);
      if (!found) break;
      if (found[0] === '\r' && found.index === this.buffer.length - 1) this.skipLf = true;
      this.line(this.buffer.slice(start, found.index));
      start = found.index + found[0].length;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
  }

  private dispatch(): void {
    const event: SseEvent = { event: this.event || 'message', data: this.data.join('\n'), id: this.id };
    const hadData = this.data.length > 0;
    this.event = '';
    this.data = [];
    this.id = undefined;
    if (hadData) this.onEvent(event);
  }
}
