// What an edge serves to browsers besides the protocol: the SDK bundled into one ES module (GET /relaymesh.js)
// and the demo page from web/ (GET /). The bundle is built once per process, on first request.

import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { HttpRoutes } from '../shared/http.js';

const sdkEntry = fileURLToPath(new URL('../client/mesh-client.ts', import.meta.url));
const webFolder = new URL('../web/', import.meta.url);

/** The demo page's files, by the path they are served at. */
const webFiles: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/demo.js': { file: 'demo.js', type: 'text/javascript; charset=utf-8' },
  '/demo.css': { file: 'demo.css', type: 'text/css; charset=utf-8' },
};

let bundle: Promise<string> | undefined;

/** The SDK as one minified ES module for browsers; built once, and built again only if a build failed. */
export function sdkBundle(): Promise<string> {
  bundle ??= buildBundle().catch((error: unknown) => {
    bundle = undefined;
    throw error;
  });
  return bundle;
}

async function buildBundle(): Promise<string> {
  // Loaded on first use, so an edge that never serves a browser never loads esbuild.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [sdkEntry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

export function staticRoutes(): HttpRoutes {
  const routes: HttpRoutes = {
    '/relaymesh.js': {
      GET: async (_req, res) => {
        // Public code without credentials: any page may load it; the origin check happens when it connects.
        send(res, 'text/javascript; charset=utf-8', await sdkBundle(), { 'access-control-allow-origin': '*' });
      },
    },
  };
  for (const [path, { file, type }] of Object.entries(webFiles)) {
    routes[path] = { GET: async (_req, res) => send(res, type, await readFile(new URL(file, webFolder))) };
  }
  return routes;
}

function send(res: ServerResponse, type: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  res.writeHead(200, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-cache',
    ...headers,
  });
  res.end(body);
}
