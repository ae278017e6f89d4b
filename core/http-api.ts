// The core's HTTP API: /healthz, /metrics, /v1/locate, POST /v1/publish (PROTOCOL.md §4), and /v1/mesh for `relaymesh status`.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { metricsHandler, readJsonBody, routeHttp, sendJson } from '../shared/http.js';
import type { PublishKeys } from '../shared/publish-keys.js';
import { packPayloads, parsePublishBody } from '../shared/publish-request.js';
import type { LocateConfig } from '../shared/locate.js';
import { meshRoutes } from '../shared/mesh-routes.js';
import type { Engine } from './engine.js';
import type { CoreMeshView } from './mesh-view.js';
import type { CoreMetrics } from './metrics.js';

export interface CoreHttpContext {
  id: string;
  engine: Engine;
  metrics: CoreMetrics;
  logger: Logger;
  maxBodyBytes: number;
  maxMessageBytes: number;
  publishKeys: PublishKeys;
  region: string;
  locate: LocateConfig;
  view: CoreMeshView;
}

export function coreHttpHandler(context: CoreHttpContext): (req: IncomingMessage, res: ServerResponse) => void {
  return routeHttp({
    '/healthz': { GET: (_req, res) => health(res, context) },
    '/metrics': { GET: metricsHandler(context.metrics.registry) },
    '/v1/publish': { POST: (req, res) => publish(req, res, context) },
    ...meshRoutes(context),
  }, context.logger);
}

/** 503 with the reason while the engine cannot serve (Redis unavailable): edges should not be sent here. */
function health(res: ServerResponse, context: CoreHttpContext): void {
  const reason = context.engine.status().unavailable;
  if (reason === undefined) sendJson(res, 200, { status: 'ok', role: 'core', id: context.id });
  else sendJson(res, 503, { status: 'unavailable', role: 'core', id: context.id, reason });
}

async function publish(req: IncomingMessage, res: ServerResponse, context: CoreHttpContext): Promise<void> {
  context.publishKeys.check(req);
  const { items, batch } = parsePublishBody(await readJsonBody(req, context.maxBodyBytes));
  const payloads = packPayloads(items, context.maxMessageBytes, batch);
  const positions = [];
  for (let i = 0; i < items.length; i++) {
    const message = await context.engine.publish(items[i]!.topic, payloads[i]!);
    positions.push({ epoch: message.epoch, offset: message.offset });
  }
  sendJson(res, 200, batch ? positions : positions[0]);
}
