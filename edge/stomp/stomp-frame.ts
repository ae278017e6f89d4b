// STOMP frames as values, and their serialisation (STOMP 1.0–1.2): command line, escaped headers, body, NUL.
// Pure: no sockets. The parser is in stomp-parser.ts.

export type StompVersion = '1.0' | '1.1' | '1.2';
export const stompVersions: readonly StompVersion[] = ['1.0', '1.1', '1.2'];

export type StompHeaders = ReadonlyArray<readonly [string, string]>;

export interface StompFrame {
  command: string;
  /** In the order sent; a repeated header keeps every value, and the first one counts (STOMP 1.2 §Repeated Header Entries). */
  headers: StompHeaders;
  body: Buffer;
}

/** The first value of a header, as STOMP reads repeated headers. */
export function headerOf(frame: StompFrame, name: string): string | undefined {
  for (const [key, value] of frame.headers) if (key === name) return value;
  return undefined;
}

/** CONNECT and CONNECTED headers are never escaped, so that 1.0 peers can read them (STOMP 1.2 §Value Encoding). */
export function escapesHeaders(command: string, version: StompVersion): boolean {
  return version !== '1.0' && command !== 'CONNECT' && command !== 'CONNECTED';
}

const escapes: Record<string, string> = { '\\': '\\\\', '\n': '\\n', ':': '\\c', '\r': '\\r' };

/**
 * A header name or value as it goes on the wire. 1.1 escapes `\`, LF and `:`, 1.2 also CR; 1.0 has no escapes, so
 * line breaks (only ever in our own error texts) become spaces there rather than break the frame.
 */
export function escapeHeader(text: string, command: string, version: StompVersion): string {
  if (!escapesHeaders(command, version)) return text.replace(/[\r\n]/g, ' ');
  return text.replace(version === '1.2' ? /[\\\n:\r]/g : /[\\\n:]/g, (char) => escapes[char]!).replace(/\r/g, ' ');
}

/** The command line and headers up to and including the blank line, as bytes. */
export function frameHead(command: string, headers: StompHeaders, version: StompVersion): Buffer {
  let text = `${command}\n`;
  for (const [name, value] of headers)
    text += `${escapeHeader(name, command, version)}:${escapeHeader(value, command, version)}\n`;
  return Buffer.from(`${text}\n`);
}

const nul = Buffer.from([0]);

/** A whole frame. A body gets a `content-length` header unless the headers carry one. */
export function serializeFrame(
  command: string,
  headers: StompHeaders,
  body: Uint8Array | undefined,
  version: StompVersion,
): Buffer {
  const withLength =
    body && body.length > 0 && !headers.some(([name]) => name === 'content-length')
      ? [...headers, ['content-length', String(body.length)] as const]
      : headers;
  return Buffer.concat([frameHead(command, withLength, version), body ?? Buffer.alloc(0), nul]);
}
