// The core's HTTP API: /healthz, /metrics and POST /v1/publish (PROTOCOL.md §4).

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { toRelayError } from '../shared/errors.js';
import { readJsonBody, sendError, sendJson } from '../shared/http.js';
import { packPayloads, parsePublishBody } from '../shared/publish-request.js';
import type { Engine } from './engine.js';
import type { CoreMetrics } from './metrics.js';

export interface CoreHttpContext {
  id: string;
  engine: Engine;
  metrics: CoreMetrics;
  logger: Logger;
  maxBodyBytes: number;
  maxMessageBytes: number;
}

export function handleCoreHttp(req: IncomingMessage, res: ServerResponse, context: CoreHttpContext): void {
  route(req, res, context).catch((error: unknown) => {
    const relayError = toRelayError(error);
    if (relayError.code === 'internal') context.logger.error({ err: error }, 'HTTP request failed');
    sendError(res, relayError);
  });
}

async function route(req: IncomingMessage, res: ServerResponse, context: CoreHttpContext): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://core').pathname;
  if (path === '/healthz' && req.method === 'GET') {
    sendJson(res, 200, { status: 'ok', role: 'core', id: context.id });
  } else if (path === '/metrics' && req.method === 'GET') {
    const text = await context.metrics.registry.metrics();
    res.writeHead(200, { 'content-type': context.metrics.registry.contentType });
    res.end(text);
  } else if (path === '/v1/publish') {
    if (req.method !== 'POST') {
      sendJson(res, 405, { error: { code: 'bad_request', message: 'use POST' } }, { allow: 'POST' });
      return;
    }
    const { items, batch } = parsePublishBody(await readJsonBody(req, context.maxBodyBytes));
    const payloads = packPayloads(items, context.maxMessageBytes, batch);
    const positions = [];
    for (let i = 0; i < items.length; i++) {
      const message = await context.engine.publish(items[i]!.topic, payloads[i]!);
      positions.push({ epoch: message.epoch, offset: message.offset });
    }
    sendJson(res, 200, batch ? positions : positions[0]);
  } else {
    sendJson(res, 404, { error: { code: 'bad_request', message: `no such endpoint: ${req.method} ${path}` } });
  }
}
