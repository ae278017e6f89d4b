// How message bodies of the standard protocols (STOMP, MQTT) map to relaymesh `data` and back, in one place, so a
// payload crosses protocols intact: JSON stays JSON, text stays text, binary stays binary (README "Payloads").

import { jsonText, parseJson, unpackValue } from '../shared/codec.js';
import { RelayError } from '../shared/errors.js';
import { plainDataProblem } from '../shared/plain-data.js';
import type { EncodedMessage, MessageEncoding } from './encoded-message.js';

export const contentTypes = {
  json: 'application/json',
  text: 'text/plain;charset=utf-8',
  binary: 'application/octet-stream',
} as const;

export interface PayloadBody {
  body: Buffer;
  contentType: string;
  /** The body is UTF-8 text (JSON or a string): it may travel in a WebSocket text frame. */
  text: boolean;
}

/**
 * What a body without a content type is: STOMP front ends send text without one (`text-or-binary`); MQTT 3.1.1 has
 * no content types at all, so JSON is recognised by parsing (`json-text-or-binary`).
 */
export type UntypedBodies = 'text-or-binary' | 'json-text-or-binary';

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return utf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** A copy: bodies are slices of a parser's buffer, which must not be kept alive by a published message. */
function binary(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function jsonValue(text: string): unknown {
  const value = parseJson(text);
  const problem = plainDataProblem(value);
  if (problem) throw new RelayError('bad_request', `body ${problem}`);
  return value;
}

/**
 * The `data` a body carries. With a content type: JSON types (`application/json`, `…+json`) → the JSON value (the
 * body must parse); `text/*` → a string (must be UTF-8; another declared charset → binary); anything else → binary.
 * Without one, as `untyped` says. Throws a RelayError (bad_request) for a body that contradicts its content type.
 */
export function bodyToData(body: Uint8Array, contentType: string | undefined, untyped: UntypedBodies): unknown {
  const [mediaType = '', ...parameters] = (contentType ?? '').split(';').map((part) => part.trim().toLowerCase());
  if (mediaType === '') {
    const text = utf8Text(body);
    if (text === undefined) return binary(body);
    if (untyped === 'json-text-or-binary') {
      try {
        return jsonValue(text);
      } catch {
        return text;
      }
    }
    return text;
  }
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
    const text = utf8Text(body);
    if (text === undefined) throw new RelayError('bad_request', 'a JSON body must be UTF-8');
    return jsonValue(text);
  }
  if (mediaType.startsWith('text/')) {
    const charset = parameters
      .find((parameter) => parameter.startsWith('charset='))
      ?.slice('charset='.length)
      .replace(/"/g, '');
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii')
      return binary(body);
    const text = utf8Text(body);
    if (text === undefined) throw new RelayError('bad_request', 'a text body must be UTF-8');
    return text;
  }
  return binary(body);
}

/** The body for `data`: binary → its bytes (octet-stream); a string → UTF-8 text; any other value → JSON text. */
export function dataToBody(data: unknown): PayloadBody {
  if (data instanceof Uint8Array)
    return {
      body: Buffer.from(data.buffer, data.byteOffset, data.byteLength),
      contentType: contentTypes.binary,
      text: false,
    };
  if (typeof data === 'string') return { body: Buffer.from(data), contentType: contentTypes.text, text: true };
  return { body: jsonText(data), contentType: contentTypes.json, text: true };
}

/** A fan-out message's body, decoded from its msgpack payload once per message for every adapter that needs it. */
export const payloadBody: MessageEncoding<PayloadBody> = {
  encode(message: EncodedMessage): PayloadBody {
    try {
      return dataToBody(unpackValue(message.payload));
    } catch {
      // The core checks every payload; should one still not decode, the subscriber gets its bytes, not a crash.
      return { body: Buffer.from(message.payload), contentType: contentTypes.binary, text: false };
    }
  },
};
