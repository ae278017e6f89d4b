// The edge's HTTP API: /healthz (ready when the uplink is up), /metrics, /v1/locate, /v1/mesh, POST /v1/publish forwarded over the uplink,
// GET /v1/presence answered by the core, and for browsers the SDK bundle and the demo page.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { metricsHandler, routeHttp, sendJson } from '../shared/http.js';
import type { OriginPolicy } from '../shared/origins.js';
import type { PublishKeys } from '../shared/publish-keys.js';
import { RelayError } from '../shared/errors.js';
import type { Position } from '../shared/protocol.js';
import { publishHandler, type PublishItem } from '../shared/publish-request.js';
import type { AddressShares } from './address-shares.js';
import type { LocateConfig } from '../shared/locate.js';
import { meshRoutes } from '../shared/mesh-routes.js';
import { presenceRoute } from '../shared/presence-route.js';
import type { EdgePresence } from './presence.js';
import type { EdgeMeshView } from './mesh-view.js';
import type { EdgeMetrics } from './metrics.js';
import { staticRoutes } from './static-assets.js';
import type { StreamListener } from './stream-listener.js';
import type { Uplink } from './uplink.js';

export interface EdgeHttpContext {
  id: string;
  uplink: Uplink;
  metrics: EdgeMetrics;
  /** Where /metrics comes from: the edge's registry, or its workers' together. */
  metricsRegistry: { metrics(): Promise<string>; contentType: string };
  /** Why the hub this edge sits behind cannot reach its core now (see EdgeOptions.upstreamProblem). */
  upstreamProblem(): string | undefined;
  logger: Logger;
  draining(): boolean;
  /** Why a new client would be refused now (counted), or undefined: for POST /v1/session, as for upgrades. */
  refusal(): 'draining' | 'capacity' | undefined;
  maxBodyBytes: number;
  maxMessageBytes: number;
  publishHoldMs: number;
  publishKeys: PublishKeys;
  /** The per-address share of publish bytes waiting for the core, shared with the sessions. */
  shares: AddressShares;
  origins: OriginPolicy;
  /** The HTTP streaming emulation's dynamic paths (/v1/session…). */
  streams: StreamListener;
  region: string;
  locate: LocateConfig;
  view: EdgeMeshView;
  presence: EdgePresence;
}

export function edgeHttpHandler(context: EdgeHttpContext): (req: IncomingMessage, res: ServerResponse) => void {
  const assets = staticRoutes();
  return routeHttp(
    {
      '/healthz': { GET: (_req, res) => health(res, context) },
      '/metrics': { GET: metricsHandler(context.metricsRegistry, context.publishKeys) },
      '/v1/publish': {
        POST: publishHandler({
          ...context,
          sequence: (items, payloads, req) =>
            publishOverUplink(context, items, payloads, req.socket.remoteAddress ?? ''),
        }),
      },
      ...meshRoutes(context),
      ...presenceRoute(context.publishKeys, (topic, req) =>
        context.presence.query(topic, req.socket.remoteAddress ?? ''),
      ),
      // The browser SDK bundle (/relaymesh.js) and the demo page (/).
      ...assets,
      // Locate names public URLs only, so any page may ask it (it answers CORS itself).
    },
    context.logger,
    context.origins,
    (req, res, path) => context.streams.handle(req, res, path, context.refusal),
    new Set([...Object.keys(assets), '/v1/locate']),
  );
}

/** Sent in order on the one uplink, so a batch gets consecutive offsets per topic; within the address's share. */
async function publishOverUplink(
  context: EdgeHttpContext,
  items: PublishItem[],
  payloads: Buffer[],
  address: string,
): Promise<Position[]> {
  const bytes = payloads.reduce((sum, payload) => sum + payload.length, 0);
  if (!context.shares.takePublish(address, bytes)) {
    throw new RelayError(
      'rate_limited',
      'publishes from this address waiting for the core are over its share; retry once they are answered',
    );
  }
  try {
    return await Promise.all(
      items.map((item, index) => context.uplink.publish(item.topic, payloads[index]!, context.publishHoldMs)),
    );
  } finally {
    context.shares.releasePublish(address, bytes);
  }
}

function health(res: ServerResponse, { id, uplink, draining, upstreamProblem }: EdgeHttpContext): void {
  const upstream = upstreamProblem();
  const body = {
    role: 'edge',
    id,
    uplink: {
      state: uplink.state,
      core: uplink.coreId || null,
      ...(uplink.problem ? { problem: uplink.problem } : {}),
      ...(uplink.tunnelLinkState ? { tunnelLink: uplink.tunnelLinkState } : {}),
    },
  };
  if (draining()) sendJson(res, 503, { status: 'unavailable', reason: 'draining', ...body });
  else if (!uplink.connected) sendJson(res, 503, { status: 'unavailable', reason: 'no uplink to a core', ...body });
  else if (upstream) sendJson(res, 503, { status: 'unavailable', reason: upstream, ...body });
  else sendJson(res, 200, { status: 'ok', ...body });
}
