// `POST /v1/publish` (docs/protocol.md §4), the same on cores and edges but for how messages are sequenced: the publish
// key, a body of one {topic, data} or an array of them, and the position(s) as the answer.

import type { IncomingMessage } from 'node:http';
import { packValue } from './codec.js';
import { RelayError } from './errors.js';
import { readJsonBody, sendJson, type HttpHandler } from './http.js';
import type { Position } from './protocol.js';
import type { PublishKeys } from './publish-keys.js';
import { plainDataProblem } from './plain-data.js';
import { topicProblem } from './topics.js';

export interface PublishItem {
  topic: string;
  data: unknown;
}

/** Most items one request may carry, so one request cannot monopolise a node. */
export const maxPublishBatch = 1000;

export function parsePublishBody(body: unknown): { items: PublishItem[]; batch: boolean } {
  const batch = Array.isArray(body);
  const list: unknown[] = batch ? (body as unknown[]) : [body];
  if (list.length === 0) throw new RelayError('bad_request', 'empty batch');
  if (list.length > maxPublishBatch)
    throw new RelayError('too_large', `more than ${maxPublishBatch} messages in one request`);
  const items = list.map((item, index) => {
    const where = batch ? `item ${index}: ` : '';
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw new RelayError('bad_request', `${where}expected an object {"topic", "data"}`);
    const { topic, data } = item as Record<string, unknown>;
    const problem = topicProblem(topic);
    if (problem)
      throw new RelayError(typeof topic === 'string' ? 'invalid_topic' : 'bad_request', `${where}topic ${problem}`);
    if (data === undefined) throw new RelayError('bad_request', `${where}"data" is required`);
    const dataProblem = plainDataProblem(data);
    if (dataProblem) throw new RelayError('bad_request', `${where}"data" ${dataProblem}`);
    return { topic: topic as string, data };
  });
  return { items, batch };
}

/** Each item's data as the msgpack payload the core stores; data over `maxBytes` is `too_large`. */
export function packPayloads(items: PublishItem[], maxBytes: number, batch: boolean): Buffer[] {
  return items.map((item, index) => {
    const payload = packValue(item.data);
    if (payload.length > maxBytes)
      throw new RelayError('too_large', `${batch ? `item ${index}: ` : ''}data over ${maxBytes} bytes`);
    return payload;
  });
}

export interface PublishHandlerOptions {
  publishKeys: PublishKeys;
  maxBodyBytes: number;
  maxMessageBytes: number;
  /** Sequences the checked items, in order, and gives their positions (a core: its engine; an edge: its uplink). */
  sequence(items: PublishItem[], payloads: Buffer[], req: IncomingMessage): Promise<Position[]>;
}

export function publishHandler(options: PublishHandlerOptions): HttpHandler {
  return async (req, res) => {
    options.publishKeys.check(req);
    const { items, batch } = parsePublishBody(await readJsonBody(req, options.maxBodyBytes));
    const positions = await options.sequence(items, packPayloads(items, options.maxMessageBytes, batch), req);
    sendJson(res, 200, batch ? positions : positions[0]);
  };
}
