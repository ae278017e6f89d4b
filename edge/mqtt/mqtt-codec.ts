// MQTT 3.1.1 and 5 packets on a byte stream, knowing nothing about sockets: bytes in (a packet may span WebSocket
// messages, or several may share one) → packets or a protocol error, within a size limit; packets out → bytes.
// Parsing and serialising are mqtt-packet's (the parser of mqtt.js and Aedes); this module frames and bounds it.

import { generate, parser, type Packet, type Parser } from 'mqtt-packet';

/** MQTT 3.1.1 is protocol level 4, MQTT 5 is level 5. */
export type MqttVersion = 4 | 5;

export interface DecodeProblem {
  /** `too_large`: the packet is over the limit (MQTT 5 reason 0x95); `malformed`: anything else (0x81). */
  kind: 'malformed' | 'too_large';
  message: string;
}

interface FixedHeader {
  /** Bytes of the fixed header: the type byte and the remaining length. */
  headerBytes: number;
  remaining: number;
}

/** A packet type byte and at most four bytes of remaining length. */
const maxFixedHeaderBytes = 5;
/** The remaining length is a variable byte integer of at most four bytes (MQTT 3.1.1 §2.2.3, 5 §1.5.5). */
const maxLengthBytes = 4;

/** Flags that MQTT fixes for each packet type (PUBLISH's are its own; AUTH is MQTT 5's, 15). */
const requiredFlags = [undefined, 0, 0, undefined, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0] as const;

/**
 * What is wrong with a packet's first byte, checked as soon as it arrives so that garbage is refused at once
 * rather than after the body it announces: a reserved type, fixed flags that differ, QoS 3, or (as the first packet
 * of a connection) anything but CONNECT.
 */
function firstByteProblem(byte: number, first: boolean): string | undefined {
  const type = byte >> 4;
  if (first && type !== 1) return 'the first packet must be CONNECT';
  if (type === 0) return 'reserved packet type 0';
  const flags = requiredFlags[type];
  if (flags !== undefined && (byte & 0x0f) !== flags) return `bad fixed-header flags for packet type ${type}`;
  if (type === 3 && (byte & 0x06) === 0x06) return 'a PUBLISH with QoS 3';
  return undefined;
}

/** The fixed header at the start of `bytes`: 'partial' until it is all there, 'malformed' for a length over 4 bytes. */
export function readFixedHeader(bytes: Buffer): FixedHeader | 'partial' | 'malformed' {
  let remaining = 0;
  let multiplier = 1;
  for (let i = 1; i <= maxLengthBytes; i++) {
    if (i >= bytes.length) return 'partial';
    const byte = bytes[i]!;
    remaining += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return { headerBytes: i + 1, remaining };
    multiplier *= 0x80;
  }
  return 'malformed';
}

export class MqttDecoder {
  /** The largest whole packet (fixed header included) accepted; may be raised once the client is connected. */
  maxPacketBytes: number;
  /** Bytes received and not yet decoded, as they came: joined once per packet, never once per message. */
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  private readonly parser: Parser;
  private parsed: Packet | undefined;
  private parseError: Error | undefined;
  private stopped = false;
  /** A packet (the CONNECT) has been decoded. */
  private started = false;

  constructor(maxPacketBytes: number) {
    this.maxPacketBytes = maxPacketBytes;
    // The parser learns the protocol level from CONNECT and parses every later packet for it.
    this.parser = parser({ protocolVersion: 4 });
    this.parser.on('packet', (packet: Packet) => (this.parsed = packet));
    this.parser.on('error', (error: Error) => (this.parseError = error));
  }

  /**
   * Feeds bytes from the client and hands each complete packet to `onPacket`, in order. On bad input it stops for
   * good and returns what was wrong; later calls do nothing. `onPacket` may call `stop()`.
   */
  push(data: Buffer, onPacket: (packet: Packet) => void): DecodeProblem | undefined {
    if (this.stopped) return undefined;
    if (data.length > 0) {
      this.chunks.push(data);
      this.bufferedBytes += data.length;
    }
    while (!this.stopped && this.bufferedBytes > 0) {
      const head = this.head(maxFixedHeaderBytes);
      const typeProblem = firstByteProblem(head[0]!, !this.started);
      if (typeProblem) return this.fail('malformed', typeProblem);
      const header = readFixedHeader(head);
      if (header === 'malformed') return this.fail('malformed', 'malformed remaining length');
      if (header === 'partial') break;
      const total = header.headerBytes + header.remaining;
      // Checked before the body arrives, so an announced giant is refused without being buffered.
      if (total > this.maxPacketBytes)
        return this.fail('too_large', `a packet of ${total} bytes is over the limit of ${this.maxPacketBytes}`);
      if (this.bufferedBytes < total) break;
      const packet = this.parse(this.take(total));
      if (typeof packet === 'string') return this.fail('malformed', packet);
      this.started = true;
      onPacket(packet);
    }
    return undefined;
  }

  stop(): void {
    this.stopped = true;
    this.chunks = [];
    this.bufferedBytes = 0;
  }

  /** The first `n` buffered bytes (fewer if fewer are buffered), joining only the small chunks they span. */
  private head(n: number): Buffer {
    while (this.chunks[0]!.length < n && this.chunks.length > 1)
      this.chunks.splice(0, 2, Buffer.concat([this.chunks[0]!, this.chunks[1]!]));
    return this.chunks[0]!;
  }

  /** Removes and returns the first `total` bytes (all buffered), joining the chunks once. */
  private take(total: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bufferedBytes);
    // What is left is the start of the next packet: a copy, so the message it came in can be freed.
    const rest = all.length > total ? Buffer.from(all.subarray(total)) : undefined;
    this.chunks = rest ? [rest] : [];
    this.bufferedBytes = rest?.length ?? 0;
    return all.subarray(0, total);
  }

  /** One whole packet's bytes → the packet, or why it is malformed. */
  private parse(bytes: Buffer): Packet | string {
    this.parsed = undefined;
    this.parseError = undefined;
    try {
      this.parser.parse(bytes);
    } catch (error) {
      // mqtt-packet reads past a short packet with a RangeError rather than an 'error' event.
      return `malformed packet (${(error as Error).message})`;
    }
    // Set by the parser's events during parse(), which the compiler cannot see.
    const error = this.parseError as Error | undefined;
    const packet = this.parsed as Packet | undefined;
    if (error) return `malformed packet (${error.message})`;
    return packet ?? 'malformed packet (incomplete)';
  }

  private fail(kind: DecodeProblem['kind'], message: string): DecodeProblem {
    this.stop();
    return { kind, message };
  }
}

/** A packet's bytes for a client of `version`. */
export function encodePacket(packet: Packet, version: MqttVersion): Buffer {
  return generate(packet, { protocolVersion: version });
}
