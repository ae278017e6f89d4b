// Outbound MQTT PUBLISH packets for fan-out: encoded once per message and protocol level, then framed per
// subscriber with only what differs (QoS 1 packet id, retain flag) written into a small head; the payload is shared.

import type { EncodedMessage, MessageEncoding } from '../encoded-message.js';
import { payloadBody } from '../payload-mapping.js';
import { frameWsHead, frameWsMessage } from '../ws-frame.js';
import { encodePacket, readFixedHeader, type MqttVersion } from './mqtt-codec.js';
import { topicToMqtt } from './mqtt-topics.js';

export interface SharedPublish {
  /** Fixed header, topic and (QoS 1) a packet id to overwrite; copied into each subscriber's frame. */
  head: Buffer;
  /** Properties (MQTT 5) and payload, the same bytes for every subscriber. */
  tail: Buffer;
  /** The whole QoS 0 packet as one WebSocket frame, for the common case of nothing to change. */
  frame: Buffer | undefined;
  /** Payload length, to tell an empty (retained-clearing) message. */
  payloadBytes: number;
}

const retainFlag = 0x01;

function publishEncoding(version: MqttVersion, qos: 0 | 1): MessageEncoding<SharedPublish | null> {
  return {
    encode(message: EncodedMessage): SharedPublish | null {
      const topic = topicToMqtt(message.topic);
      if (topic === undefined) return null;
      const { body, contentType, text } = message.encoded(payloadBody);
      // MQTT 5 subscribers learn what the payload is, so JSON, text and binary keep their kind across protocols.
      const properties = version === 5 ? { contentType, payloadFormatIndicator: text } : undefined;
      const packet = encodePacket(
        {
          cmd: 'publish',
          topic,
          payload: body,
          qos,
          dup: false,
          retain: false,
          messageId: qos === 1 ? 1 : undefined,
          properties,
        },
        version,
      );
      const header = readFixedHeader(packet);
      if (typeof header === 'string') throw new Error('mqtt-packet produced a malformed PUBLISH');
      const split = header.headerBytes + 2 + Buffer.byteLength(topic) + (qos === 1 ? 2 : 0);
      return {
        head: packet.subarray(0, split),
        tail: packet.subarray(split),
        frame: qos === 0 ? frameWsMessage(packet, true) : undefined,
        payloadBytes: body.length,
      };
    },
  };
}

const encodings: Record<MqttVersion, Record<0 | 1, MessageEncoding<SharedPublish | null>>> = {
  4: { 0: publishEncoding(4, 0), 1: publishEncoding(4, 1) },
  5: { 0: publishEncoding(5, 0), 1: publishEncoding(5, 1) },
};

/** A message as a PUBLISH for clients of `version` at `qos`, or null when MQTT cannot name its topic. */
export function sharedPublish(message: EncodedMessage, version: MqttVersion, qos: 0 | 1): SharedPublish | null {
  return message.encoded(encodings[version][qos]);
}

/**
 * The WebSocket frame parts of one subscriber's PUBLISH, queued in order: the shared packet alone when nothing
 * differs, else a framed copy of the head (with the retain flag and packet id set) followed by the shared tail.
 */
export function publishFrames(shared: SharedPublish, packetId: number | undefined, retain: boolean): Buffer[] {
  if (shared.frame && !retain) return [shared.frame];
  const frame = frameWsHead(shared.head, shared.tail.length, true);
  const headStart = frame.length - shared.head.length;
  if (retain) frame[headStart] = frame[headStart]! | retainFlag;
  if (packetId !== undefined) frame.writeUInt16BE(packetId, frame.length - 2);
  return [frame, shared.tail];
}

/** Bytes of the whole MQTT packet (for a client's maximum packet size). */
export function publishBytes(shared: SharedPublish): number {
  return shared.head.length + shared.tail.length;
}
