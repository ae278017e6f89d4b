// `relaymesh status [--url U] [--json] [--interval S] [--count N]`: a live view of the mesh from any node's
// GET /v1/mesh (a core sees its edges; an edge sees what its core last told it), refreshed in place.

import type { CommandModule } from 'yargs';
import { setTimeout as delay } from 'node:timers/promises';
import type { MeshSnapshot } from '../../shared/mesh-status.js';
import { defaultUrl } from '../default-url.js';
import { fail } from '../exit.js';
import { ratesBetween, renderStatus } from '../status-view.js';
import { httpBaseOf } from '../../shared/protocol.js';

interface StatusArgs {
  url?: string;
  json: boolean;
  interval: number;
  count?: number;
  key?: string;
}

// Cursor home and clear to the end of the screen: the view redraws in place instead of scrolling.
const redraw = '\x1b[H\x1b[J';

export const statusCommand: CommandModule<object, StatusArgs> = {
  command: 'status',
  describe: 'Show the mesh live: cores, edges by region, uplinks, clients, topics, messages/s, amplification',
  builder: (y) =>
    y
      .option('url', {
        type: 'string',
        describe: 'any core or edge (ws:// or http://); default: the first core of ./topology.json',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print the mesh once as JSON and exit' })
      .option('interval', { type: 'number', default: 1, describe: 'seconds between refreshes' })
      .option('count', { type: 'number', describe: 'stop after this many refreshes (default: until Ctrl-C)' })
      .option('key', {
        type: 'string',
        describe: 'a publish key, when the mesh has some (default: $RELAYMESH_PUBLISH_KEY)',
      }) as never,
  handler: async (args) => {
    const base = httpBaseOf(args.url ?? (await defaultUrl('cores')));
    const key = args.key ?? process.env.RELAYMESH_PUBLISH_KEY;
    const fetchMesh = (): Promise<MeshSnapshot> => fetchMeshFrom(base, key);
    if (args.json) {
      process.stdout.write(`${JSON.stringify(await fetchMesh(), null, 2)}\n`);
      return;
    }
    if (!(args.interval > 0)) fail('relaymesh status: --interval must be a positive number of seconds');
    const live = process.stdout.isTTY;
    let previous: MeshSnapshot | undefined;
    for (let shown = 0; args.count === undefined || shown < args.count; shown++) {
      if (shown > 0) await delay(args.interval * 1000);
      const snapshot = await fetchMesh();
      const view = renderStatus(snapshot, ratesBetween(previous, snapshot));
      process.stdout.write(live ? `${redraw}${view}\n` : `${view}\n\n`);
      previous = snapshot;
    }
  },
};

async function fetchMeshFrom(base: string, key: string | undefined): Promise<MeshSnapshot> {
  let response: Response;
  try {
    response = await fetch(`${base}/v1/mesh`, {
      signal: AbortSignal.timeout(5000),
      headers: key ? { authorization: `Bearer ${key}` } : {},
    });
  } catch (error) {
    fail(`relaymesh status: cannot reach ${base}: ${String((error as Error).cause ?? (error as Error).message)}`);
  }
  if (!response.ok) fail(`relaymesh status: ${base}/v1/mesh answered ${response.status} ${await response.text()}`);
  return (await response.json()) as MeshSnapshot;
}
