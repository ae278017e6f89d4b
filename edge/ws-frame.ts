// Frames one server-to-client WebSocket message (RFC 6455 §5.2): FIN set, unmasked, no extensions.
// Server frames are the same bytes for every client, so a message is framed once and written to many sockets.

const opcodeText = 0x1;
const opcodeBinary = 0x2;

export function frameWsMessage(payload: Uint8Array, binary: boolean): Buffer {
  const frame = frameHead(payload.length, payload.length, binary);
  frame.set(payload, frame.length - payload.length);
  return frame;
}

/**
 * The start of a frame whose payload is `prefix` followed by `restLength` more bytes, queued after it: lets a
 * per-subscriber prefix go in front of bytes shared by every subscriber without copying them.
 */
export function frameWsHead(prefix: Uint8Array, restLength: number, binary: boolean): Buffer {
  const frame = frameHead(prefix.length + restLength, prefix.length, binary);
  frame.set(prefix, frame.length - prefix.length);
  return frame;
}

/** A buffer holding the header of a frame of `length` payload bytes, with room for `room` of them after it. */
function frameHead(length: number, room: number, binary: boolean): Buffer {
  const headerLength = length < 126 ? 2 : length < 0x10000 ? 4 : 10;
  const frame = Buffer.allocUnsafe(headerLength + room);
  frame[0] = 0x80 | (binary ? opcodeBinary : opcodeText);
  if (length < 126) {
    frame[1] = length;
  } else if (length < 0x10000) {
    frame[1] = 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 127;
    frame.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  return frame;
}
