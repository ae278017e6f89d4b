// STOMP MESSAGE frames for fan-out: the part every subscriber shares (destination, message-id, content type and
// length, body, NUL) is built once per message and STOMP version family; only `subscription` differs per client.

import type { EncodedMessage, MessageEncoding } from '../encoded-message.js';
import { payloadBody } from '../payload-mapping.js';
import { frameWsHead } from '../ws-frame.js';
import { escapeHeader, type StompVersion } from './stomp-frame.js';

export const topicPrefix = '/topic/';

export interface SharedMessage {
  /** From `destination` through the terminating NUL. */
  tail: Buffer;
  /** The body is text, so the whole frame is UTF-8 and goes in a WebSocket text frame. */
  text: boolean;
}

/** The `message-id` of a message: its stream position, which `relaymesh-since` takes back to resume after it. */
export function messageId(epoch: string, offset: number): string {
  return `${epoch}:${offset}`;
}

function sharedEncoding(version: StompVersion): MessageEncoding<SharedMessage> {
  return {
    encode(message: EncodedMessage): SharedMessage {
      const { body, contentType, text } = message.encoded(payloadBody);
      const escape = (value: string): string => escapeHeader(value, 'MESSAGE', version);
      const head =
        `destination:${escape(topicPrefix + message.topic)}\nmessage-id:${escape(messageId(message.epoch, message.offset))}\n` +
        `content-type:${escape(contentType)}\ncontent-length:${body.length}\n\n`;
      return { tail: Buffer.concat([Buffer.from(head), body, Buffer.from([0])]), text };
    },
  };
}

// 1.1 and 1.2 escape the same characters in what we put here (topics and epochs hold no CR): one encoding for both.
const escaped = sharedEncoding('1.2');
const plain = sharedEncoding('1.0');

/** The per-subscription start of its MESSAGE frames: the command and its `subscription` header (extra headers may follow). */
export function messageHead(
  subscriptionId: string,
  version: StompVersion,
  extra: ReadonlyArray<readonly [string, string]> = [],
): Buffer {
  let text = `MESSAGE\nsubscription:${escapeHeader(subscriptionId, 'MESSAGE', version)}\n`;
  for (const [name, value] of extra) text += `${name}:${escapeHeader(value, 'MESSAGE', version)}\n`;
  return Buffer.from(text);
}

/** The WebSocket frame parts of one MESSAGE: a per-subscriber head (framed) and the shared tail, queued in that order. */
export function messageFrameParts(message: EncodedMessage, head: Buffer, version: StompVersion): [Buffer, Buffer] {
  const shared = message.encoded(version === '1.0' ? plain : escaped);
  return [frameWsHead(head, shared.tail.length, !shared.text), shared.tail];
}
