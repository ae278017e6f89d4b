// Where commands go without --url: `pub` and `sub` to the first edge of ./topology.json, `status` to its first core
// (it sees all its edges); without a topology file, to the default local mesh.

import { readFile } from 'node:fs/promises';

const localMesh = { edges: 'ws://127.0.0.1:8401', cores: 'ws://127.0.0.1:7400' };

/**
 * Only the URL is read, not the whole topology checked: a client needs no node's secrets or certificates. A file
 * that is there but does not name one is an error (pass --url), never a silent fall-back to localhost.
 */
export async function defaultUrl(role: 'edges' | 'cores', topologyFile = 'topology.json'): Promise<string> {
  let source: string;
  try {
    source = await readFile(topologyFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return localMesh[role];
    throw new Error(`cannot read ${topologyFile} (${(error as Error).message}); pass --url`);
  }
  let url: unknown;
  try {
    url = (JSON.parse(source.replace(/^\uFEFF/, '')) as Record<string, Array<{ url?: unknown }> | undefined>)[role]?.[0]
      ?.url;
  } catch (error) {
    throw new Error(
      `${topologyFile} is not valid JSON (${(error as Error).message}); pass --url, or check it with relaymesh check`,
    );
  }
  if (typeof url !== 'string') throw new Error(`${topologyFile} names no ${role.slice(0, -1)} url; pass --url`);
  return url;
}
