// The core's HTTP API: /healthz, /metrics, /v1/locate, POST /v1/publish (docs/protocol.md §4), GET /v1/presence (§9),
// and /v1/mesh for `relaymesh status`.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { metricsHandler, routeHttp, sendJson } from '../shared/http.js';
import type { PublishKeys } from '../shared/publish-keys.js';
import type { Position } from '../shared/protocol.js';
import { publishHandler, type PublishItem } from '../shared/publish-request.js';
import type { LocateConfig } from '../shared/locate.js';
import { meshRoutes } from '../shared/mesh-routes.js';
import type { Engine } from './engine.js';
import type { CoreMeshView } from './mesh-view.js';
import { presenceRoute } from '../shared/presence-route.js';
import type { PresenceBook } from './presence-book.js';
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
  presence: PresenceBook;
}

export function coreHttpHandler(context: CoreHttpContext): (req: IncomingMessage, res: ServerResponse) => void {
  return routeHttp(
    {
      '/healthz': { GET: (_req, res) => health(res, context) },
      '/metrics': { GET: metricsHandler(context.metrics.registry, context.publishKeys) },
      '/v1/publish': {
        POST: publishHandler({
          ...context,
          sequence: (items, payloads) => sequenceInOrder(context.engine, items, payloads),
        }),
      },
      ...meshRoutes(context),
      ...presenceRoute(context.publishKeys, (topic) => context.presence.query(topic)),
    },
    context.logger,
  );
}

/** 503 with the reason while the engine cannot serve (Redis unavailable): edges should not be sent here. */
function health(res: ServerResponse, context: CoreHttpContext): void {
  const reason = context.engine.status().unavailable;
  if (reason === undefined) sendJson(res, 200, { status: 'ok', role: 'core', id: context.id });
  else sendJson(res, 503, { status: 'unavailable', role: 'core', id: context.id, reason });
}

/** One item after the other: a failed one stops the rest, so what was sequenced is a prefix of the batch. */
async function sequenceInOrder(engine: Engine, items: PublishItem[], payloads: Buffer[]): Promise<Position[]> {
  const positions: Position[] = [];
  for (let i = 0; i < items.length; i++) {
    const { epoch, offset } = await engine.publish(items[i]!.topic, payloads[i]!);
    positions.push({ epoch, offset });
  }
  return positions;
}
