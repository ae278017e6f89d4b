// The only serialisation code: msgpack (one Packr, explicit options) and JSON, with every decoded shape checked.
// Client frames, uplink frames and message payloads all pass through here; nothing else calls msgpackr or JSON.parse on wire data.

import { C1, Packr } from 'msgpackr';
import { RelayError } from './errors.js';
import { parseClientOp, type ClientOpParse } from './client-op-parser.js';
import { maxDataDepth } from './plain-data.js';
import type { ClientFormat, ServerOp } from './protocol.js';
import {
  coreFrameFields,
  edgeFrameFields,
  frameProblem,
  type CoreFrame,
  type EdgeFrame,
  type UplinkFrame,
} from './uplink-frames.js';

export type { ClientOpParse } from './client-op-parser.js';

// Plain MessagePack that any client library reads: no records, no bundled strings, no extension types of our own.
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  structuredClone: false,
  bundleStrings: false,
  variableMapSize: true,
  encodeUndefinedAsNil: true,
  int64AsType: 'number',
  useToJSON: false,
});

export function packValue(value: unknown): Buffer {
  return packr.pack(value);
}

/**
 * `bytes` with memory of their own. msgpackr hands out views into large shared buffers (its encoder's blocks, or a
 * whole uplink message when decoding), and a view kept for long (in history, in a cache) keeps all of that alive:
 * a 100-byte payload could hold a megabyte. A fresh ArrayBuffer, not Buffer's pooled slabs, for the same reason.
 */
export function ownBytes(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : new Uint8Array(bytes);
}

/** Decodes one msgpack value; malformed or truncated input becomes a RelayError, never a crash. */
export function unpackValue(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch {
    throw new RelayError('bad_request', 'malformed MessagePack');
  }
}

// ── Uplink ───────────────────────────────────────────────────────────────────

export function encodeFrame(frame: UplinkFrame): Buffer {
  return packr.pack(frame);
}

/** Decodes a WebSocket message from an edge (one or more frames back to back): only frames an edge sends pass. */
export function decodeEdgeFrames(bytes: Uint8Array): EdgeFrame[] {
  return decodeFrames(bytes, edgeFrameFields) as EdgeFrame[];
}

/** Decodes a WebSocket message from a core: only frames a core sends pass. */
export function decodeCoreFrames(bytes: Uint8Array): CoreFrame[] {
  return decodeFrames(bytes, coreFrameFields) as CoreFrame[];
}

// The casts above are what the checks below prove: every field of every frame of that side's table.
function decodeFrames(bytes: Uint8Array, table: typeof edgeFrameFields | typeof coreFrameFields): unknown[] {
  let values: unknown[];
  try {
    values = packr.unpackMultiple(bytes) as unknown[];
  } catch {
    throw new RelayError('bad_request', 'malformed uplink message');
  }
  for (const value of values) {
    const problem = frameProblem(value, table);
    if (problem) throw new RelayError('bad_request', problem);
  }
  return values;
}

/**
 * Checks that a payload from an uplink is exactly one MessagePack value: edges send only what they encoded, but
 * the core does not let one bad edge corrupt a stream every subscriber reads.
 */
export function checkPayload(bytes: Uint8Array): void {
  let values: unknown[];
  try {
    values = packr.unpackMultiple(bytes) as unknown[];
  } catch {
    throw new RelayError('bad_request', 'payload is not MessagePack');
  }
  if (values.length !== 1 || holdsC1(values[0], 0))
    throw new RelayError('bad_request', 'payload is not one MessagePack value');
}

const textDecoder = new TextDecoder();

// ── Client protocol ──────────────────────────────────────────────────────────

/** Decodes one client WebSocket message in the session's format and checks its shape. */
export function decodeClientMessage(raw: Uint8Array | string, isBinary: boolean, format: ClientFormat): ClientOpParse {
  let value: unknown;
  if (format === 'json') {
    if (isBinary) return { kind: 'fatal', reason: 'json clients send text frames' };
    try {
      value = JSON.parse(typeof raw === 'string' ? raw : textDecoder.decode(raw));
    } catch {
      return { kind: 'fatal', reason: 'not valid JSON' };
    }
  } else {
    if (!isBinary || typeof raw === 'string') return { kind: 'fatal', reason: 'msgpack clients send binary frames' };
    try {
      value = packr.unpack(raw);
    } catch {
      return { kind: 'fatal', reason: 'not valid MessagePack' };
    }
    // msgpackr decodes the never-used byte 0xC1 to a marker instead of failing.
    if (holdsC1(value, 0)) return { kind: 'fatal', reason: 'not valid MessagePack (0xC1)' };
  }
  return parseClientOp(value);
}

function holdsC1(value: unknown, depth: number): boolean {
  if (value === C1) return true;
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array || depth > maxDataDepth) return false;
  for (const item of Array.isArray(value) ? value : Object.values(value)) {
    if (holdsC1(item, depth + 1)) return true;
  }
  return false;
}

/** Parses a JSON document from an HTTP body or a file; a RelayError names what was wrong. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RelayError('bad_request', `not valid JSON: ${(error as Error).message}`);
  }
}

/** Any data value as JSON text, binary values inside it as base64 strings (as json clients see them). */
export function jsonText(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value, jsonReplacer));
}

export function encodeServerOp(op: ServerOp, format: ClientFormat): Buffer {
  return format === 'json' ? jsonText(op) : packr.pack(op);
}

const msgpackMsgHead = packr.pack('op');
const msgpackMsgName = packr.pack('msg');
const msgpackKeys = {
  topic: packr.pack('topic'),
  epoch: packr.pack('epoch'),
  offset: packr.pack('offset'),
  data: packr.pack('data'),
};
const fixmap5 = Buffer.from([0x85]);

/**
 * A `msg` op for msgpack clients, built around the payload's msgpack bytes as they came from the core:
 * the payload is never decoded or re-encoded on this path.
 */
export function msgpackMsgOp(topic: string, epoch: string, offset: number, payload: Uint8Array): Buffer {
  return Buffer.concat([
    fixmap5,
    msgpackMsgHead,
    msgpackMsgName,
    msgpackKeys.topic,
    packr.pack(topic),
    msgpackKeys.epoch,
    packr.pack(epoch),
    msgpackKeys.offset,
    packr.pack(offset),
    msgpackKeys.data,
    payload,
  ]);
}

/** A `msg` op for json clients; binary payloads travel as base64 with `enc: "base64"`. */
export function jsonMsgOp(topic: string, epoch: string, offset: number, payload: Uint8Array): Buffer {
  const data = unpackValue(payload);
  return jsonText(
    data instanceof Uint8Array
      ? { op: 'msg', topic, epoch, offset, data: base64Of(data), enc: 'base64' }
      : { op: 'msg', topic, epoch, offset, data },
  );
}

function base64Of(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

// Binary values nested inside a payload become base64 strings for json clients (the original value, not Buffer#toJSON).
function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key];
  if (original instanceof Uint8Array) return base64Of(original);
  return value;
}
