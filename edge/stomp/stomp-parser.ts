// A strict, incremental STOMP 1.0–1.2 frame parser: bytes in (frames may span WebSocket messages, several may share
// one, EOL heart-beats may come between them), frames out. Pure: no sockets; the first violation stops it.

import { escapesHeaders, type StompFrame, type StompVersion } from './stomp-frame.js';

export interface StompParserLimits {
  /** Bytes of the command line and headers, blank line included. */
  maxHeaderBytes: number;
  maxHeaders: number;
  /** Bytes of a body (with or without `content-length`). */
  maxBodyBytes: number;
}

export type StompParseEvent =
  { kind: 'frame'; frame: StompFrame } | { kind: 'heartbeat' } | { kind: 'error'; message: string };

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

type Phase = 'between' | 'cr' | 'head' | 'body' | 'nul' | 'failed';

export class StompParser {
  /** Decides how headers are unescaped; set it once CONNECT has been negotiated (it applies from the next frame). */
  version: StompVersion = '1.0';
  private phase: Phase = 'between';
  private headBytes = 0;
  private lineParts: Buffer[] = [];
  private command = '';
  private headers: Array<[string, string]> = [];
  private contentLength: number | undefined;
  private bodyParts: Buffer[] = [];
  private bodyBytes = 0;

  constructor(readonly limits: StompParserLimits) {}

  /** Stops parsing (the connection is closing): nothing more is reported. */
  stop(): void {
    this.phase = 'failed';
  }

  /** Parses `chunk`, reporting each event as it completes, so a handler can change `version` between frames. */
  push(chunk: Buffer, handle: (event: StompParseEvent) => void): void {
    let i = 0;
    while (i < chunk.length) {
      switch (this.phase) {
        case 'failed':
          return;
        case 'between': {
          const byte = chunk[i]!;
          if (byte === LF) {
            i++;
            handle({ kind: 'heartbeat' });
          } else if (byte === CR) {
            i++;
            this.phase = 'cr';
          } else {
            this.startFrame();
          }
          break;
        }
        case 'cr':
          if (chunk[i] !== LF) return this.fail(handle, 'a CR outside a frame must be followed by LF');
          i++;
          this.phase = 'between';
          handle({ kind: 'heartbeat' });
          break;
        case 'head':
          i = this.readHead(chunk, i, handle);
          break;
        case 'body':
          i = this.readBody(chunk, i, handle);
          break;
        case 'nul':
          if (chunk[i] !== NUL)
            return this.fail(handle, 'the body is longer than its content-length (no NUL after it)');
          i++;
          this.endFrame(handle);
          break;
      }
    }
  }

  private startFrame(): void {
    this.phase = 'head';
    this.headBytes = 0;
    this.lineParts = [];
    this.command = '';
    this.headers = [];
    this.contentLength = undefined;
    this.bodyParts = [];
    this.bodyBytes = 0;
  }

  private readHead(chunk: Buffer, from: number, handle: (event: StompParseEvent) => void): number {
    const newline = chunk.indexOf(LF, from);
    const end = newline < 0 ? chunk.length : newline;
    this.headBytes += end - from + (newline < 0 ? 0 : 1);
    if (this.headBytes > this.limits.maxHeaderBytes) {
      this.fail(handle, `the frame's headers are over ${this.limits.maxHeaderBytes} bytes`);
      return chunk.length;
    }
    this.lineParts.push(chunk.subarray(from, end));
    if (newline < 0) return chunk.length;
    let line = this.lineParts.length === 1 ? this.lineParts[0]! : Buffer.concat(this.lineParts);
    this.lineParts = [];
    // CRLF line ends are STOMP 1.2's; they are taken from every version, since no header may end in a bare CR.
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, -1);
    const problem =
      this.command === '' ? this.readCommand(line) : line.length === 0 ? this.endHead() : this.readHeader(line);
    if (problem) {
      this.fail(handle, problem);
      return chunk.length;
    }
    return newline + 1;
  }

  private readCommand(line: Buffer): string | undefined {
    const command = line.toString('latin1');
    if (!/^[A-Z]{1,32}$/.test(command)) return 'malformed frame: a command is 1 to 32 capital letters';
    this.command = command;
    return undefined;
  }

  private readHeader(line: Buffer): string | undefined {
    if (this.headers.length >= this.limits.maxHeaders) return `more than ${this.limits.maxHeaders} headers`;
    let text: string;
    try {
      text = utf8.decode(line);
    } catch {
      return 'a header is not UTF-8';
    }
    const colon = text.indexOf(':');
    if (colon <= 0) return colon === 0 ? 'a header has an empty name' : 'malformed header: no colon';
    const escaped = escapesHeaders(this.command, this.version);
    const name = escaped ? unescape(text.slice(0, colon), this.version) : text.slice(0, colon);
    const value = escaped ? unescape(text.slice(colon + 1), this.version) : text.slice(colon + 1);
    if (name === undefined || value === undefined)
      return `a header holds an escape STOMP ${this.version} does not define`;
    this.headers.push([name, value]);
    return undefined;
  }

  private endHead(): string | undefined {
    const length = this.headers.find(([name]) => name === 'content-length')?.[1];
    if (length !== undefined) {
      if (!/^\d{1,15}$/.test(length)) return 'content-length must be a non-negative integer';
      this.contentLength = Number(length);
      if (this.contentLength > this.limits.maxBodyBytes)
        return `the frame's body is over ${this.limits.maxBodyBytes} bytes`;
    }
    this.phase = this.contentLength === 0 ? 'nul' : 'body';
    return undefined;
  }

  private readBody(chunk: Buffer, from: number, handle: (event: StompParseEvent) => void): number {
    if (this.contentLength !== undefined) {
      const take = Math.min(this.contentLength - this.bodyBytes, chunk.length - from);
      this.bodyParts.push(chunk.subarray(from, from + take));
      this.bodyBytes += take;
      if (this.bodyBytes === this.contentLength) this.phase = 'nul';
      return from + take;
    }
    const nul = chunk.indexOf(NUL, from);
    const end = nul < 0 ? chunk.length : nul;
    this.bodyBytes += end - from;
    if (this.bodyBytes > this.limits.maxBodyBytes) {
      this.fail(handle, `the frame's body is over ${this.limits.maxBodyBytes} bytes (or its NUL is missing)`);
      return chunk.length;
    }
    this.bodyParts.push(chunk.subarray(from, end));
    if (nul < 0) return chunk.length;
    this.endFrame(handle);
    return nul + 1;
  }

  private endFrame(handle: (event: StompParseEvent) => void): void {
    const body = this.bodyParts.length === 1 ? Buffer.from(this.bodyParts[0]!) : Buffer.concat(this.bodyParts);
    const frame: StompFrame = { command: this.command, headers: this.headers, body };
    this.phase = 'between';
    this.bodyParts = [];
    handle({ kind: 'frame', frame });
  }

  private fail(handle: (event: StompParseEvent) => void, message: string): void {
    this.phase = 'failed';
    handle({ kind: 'error', message });
  }
}

/** Undoes header escaping (1.1: `\n`, `\c`, `\\`; 1.2 also `\r`); undefined for any other escape, a fatal error. */
function unescape(text: string, version: StompVersion): string | undefined {
  if (!text.includes('\\')) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const char = text[i]!;
    if (char !== '\\') {
      out += char;
      continue;
    }
    const next = text[++i];
    if (next === 'n') out += '\n';
    else if (next === 'c') out += ':';
    else if (next === '\\') out += '\\';
    else if (next === 'r' && version === '1.2') out += '\r';
    else return undefined;
  }
  return out;
}
