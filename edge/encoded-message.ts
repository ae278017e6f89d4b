// One message as it fans out on an edge: encoded and framed at most once per client format (and once per protocol
// adapter encoding), then the same bytes are queued to every subscriber of that format.

import { jsonMsgOp, msgpackMsgOp } from '../shared/codec.js';
import type { ClientFormat } from '../shared/protocol.js';
import { frameWsMessage } from './ws-frame.js';

/**
 * An adapter's encoding of a message that does not depend on the subscriber (e.g. a STOMP MESSAGE frame's shared
 * part): computed on the first subscriber that needs it, then reused. The encoding object itself is the cache key.
 */
export interface MessageEncoding<T> {
  encode(message: EncodedMessage): T;
}

export class EncodedMessage {
  private jsonText: Buffer | undefined;
  private jsonFrame: Buffer | undefined;
  private msgpackFrame: Buffer | undefined;
  /** Adapter encodings; absent until one is asked for, so native-only fan-out pays nothing. */
  private encodings: Map<MessageEncoding<unknown>, unknown> | undefined;

  constructor(
    readonly topic: string,
    readonly epoch: string,
    readonly offset: number,
    /** The payload's msgpack bytes, as the core sent them. */
    readonly payload: Uint8Array,
  ) {}

  /** The `msg` op as JSON text (for HTTP streaming, which frames it per session). */
  json(): Buffer {
    return (this.jsonText ??= jsonMsgOp(this.topic, this.epoch, this.offset, this.payload));
  }

  /** The `msg` op as a complete WebSocket frame for clients of `format`. */
  wsFrame(format: ClientFormat): Buffer {
    if (format === 'json') return (this.jsonFrame ??= frameWsMessage(this.json(), false));
    return (this.msgpackFrame ??= frameWsMessage(
      msgpackMsgOp(this.topic, this.epoch, this.offset, this.payload),
      true,
    ));
  }

  /** This message in an adapter's encoding, computed once per message. */
  encoded<T>(encoding: MessageEncoding<T>): T {
    const encodings = (this.encodings ??= new Map());
    if (encodings.has(encoding)) return encodings.get(encoding) as T;
    const value = encoding.encode(this);
    encodings.set(encoding, value);
    return value;
  }
}
