// One message as it fans out on an edge: encoded and framed at most once per client format,
// then the same bytes are queued to every subscriber of that format.

import { jsonMsgOp, msgpackMsgOp } from '../shared/codec.js';
import type { ClientFormat } from '../shared/protocol.js';
import { frameWsMessage } from './ws-frame.js';

export class EncodedMessage {
  private jsonText: Buffer | undefined;
  private jsonFrame: Buffer | undefined;
  private msgpackFrame: Buffer | undefined;

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
    return (this.msgpackFrame ??= frameWsMessage(msgpackMsgOp(this.topic, this.epoch, this.offset, this.payload), true));
  }
}
