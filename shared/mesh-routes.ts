// The mesh's HTTP routes, the same on cores and edges: GET /v1/locate (public) and GET /v1/mesh (behind the
// publish keys when there are some, as it shows internal URLs and load; `relaymesh status --key`).

import type { HttpRoutes } from './http.js';
import { sendJson } from './http.js';
import { answerLocate, type LocateConfig } from './locate.js';
import type { EdgeStatus, MeshSnapshot } from './mesh-status.js';
import type { PublishKeys } from './publish-keys.js';

export interface MeshRoutesContext {
  view: { edges(): EdgeStatus[]; snapshot(): MeshSnapshot };
  /** The answering node's region: where a client that names none is placed. */
  region: string;
  locate: LocateConfig;
  publishKeys: PublishKeys;
}

export function meshRoutes({ view, region, locate, publishKeys }: MeshRoutesContext): HttpRoutes {
  return {
    '/v1/locate': { GET: (req, res) => answerLocate(req, res, view.edges(), region, locate) },
    '/v1/mesh': {
      GET: (req, res) => {
        publishKeys.check(req);
        sendJson(res, 200, view.snapshot(), { 'cache-control': 'no-store' });
      },
    },
  };
}
