// What an edge serves to browsers besides the protocol: the SDK bundled into one ES module (GET /relaymesh.js) and
// the demo page (GET /). Both are built with the package (`npm run build` into dist/web/), so an edge never bundles.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { RelayError } from '../shared/errors.js';
import type { HttpRoutes } from '../shared/http.js';

/**
 * Where the built files are: beside this module's folder when it runs compiled (dist/edge/ → dist/web/), in dist/web/
 * of the checkout when it runs from source (the tests, through tsx).
 */
const webFolder = [new URL('../web/', import.meta.url), new URL('../dist/web/', import.meta.url)].find((folder) =>
  existsSync(new URL('relaymesh.js', folder)),
);

/** The files served, by the path they are served at; the SDK goes to any page (public code, no credentials). */
const webFiles: Readonly<Record<string, { file: string; type: string; anyOrigin?: true }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/demo.js': { file: 'demo.js', type: 'text/javascript; charset=utf-8' },
  '/demo.css': { file: 'demo.css', type: 'text/css; charset=utf-8' },
  '/relaymesh.js': { file: 'relaymesh.js', type: 'text/javascript; charset=utf-8', anyOrigin: true },
};

export function staticRoutes(): HttpRoutes {
  const routes: HttpRoutes = {};
  for (const [path, { file, type, anyOrigin }] of Object.entries(webFiles)) {
    routes[path] = {
      GET: async (_req, res) => {
        if (!webFolder) throw new RelayError('unavailable', 'the browser files are not built: run npm run build');
        send(
          res,
          type,
          await readFile(new URL(file, webFolder)),
          anyOrigin ? { 'access-control-allow-origin': '*' } : {},
        );
      },
    };
  }
  return routes;
}

function send(res: ServerResponse, type: string, body: Buffer, headers: Record<string, string>): void {
  res.writeHead(200, { 'content-type': type, 'content-length': body.length, 'cache-control': 'no-cache', ...headers });
  res.end(body);
}
