// The edge's HTTP API: /healthz (ready when the uplink is up), /metrics, and POST /v1/publish forwarded over the uplink.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { toRelayError } from '../shared/errors.js';
import { readJsonBody, sendError, sendJson } from '../shared/http.js';
import { packPayloads, parsePublishBody } from '../shared/publish-request.js';
import type { EdgeMetrics } from './metrics.js';
import type { Uplink } from './uplink.js';

export interface EdgeHttpContext {
  id: string;
  uplink: Uplink;
  metrics: EdgeMetrics;
  logger: Logger;
  maxBodyBytes: number;
  maxMessageBytes: number;
  publishHoldMs: number;
}

export function handleEdgeHttp(req: IncomingMessage, res: ServerResponse, context: EdgeHttpContext): void {
  route(req, res, context).catch((error: unknown) => {
    const relayError = toRelayError(error);
    if (relayError.code === 'internal') context.logger.error({ err: error }, 'HTTP request failed');
    sendError(res, relayError);
  });
}

async function route(req: IncomingMessage, res: ServerResponse, context: EdgeHttpContext): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://edge').pathname;
  if (path === '/healthz' && req.method === 'GET') {
    const { uplink } = context;
    const body = { role: 'edge', id: context.id, uplink: { state: uplink.state, core: uplink.coreId || null } };
    if (uplink.connected) sendJson(res, 200, { status: 'ok', ...body });
    else sendJson(res, 503, { status: 'unavailable', reason: 'no uplink to a core', ...body });
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
    const positions = await Promise.all(items.map((item, index) => context.uplink.publish(item.topic, payloads[index]!, context.publishHoldMs)));
    context.metrics.published.inc(positions.length);
    sendJson(res, 200, batch ? positions : positions[0]);
  } else {
    sendJson(res, 404, { error: { code: 'bad_request', message: `no such endpoint: ${req.method} ${path}` } });
  }
}
