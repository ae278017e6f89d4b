// Small HTTP helpers shared by the core's and the edge's APIs: bounded JSON bodies and JSON replies.

import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { RelayError, httpStatusOf, toRelayError } from './errors.js';
import { parseJson } from './codec.js';
import type { OriginPolicy } from './origins.js';
import type { PublishKeys } from './publish-keys.js';

/** Reads a request body as JSON; over `limit` bytes is `too_large`, unparsable is `bad_request`. */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw new RelayError('too_large', `body over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new RelayError('too_large', `body over ${limit} bytes`);
    chunks.push(chunk);
  }
  return parseJson(Buffer.concat(chunks).toString('utf8'));
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/**
 * Answers with the error's HTTP status and `{"error": {code, message}}`. When the request body was not read to its
 * end (refused as too large, say), the connection closes after the answer: keeping it alive would make Node read and
 * discard whatever the client still sends.
 */
function sendError(res: ServerResponse, error: RelayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(
    res,
    httpStatusOf[error.code],
    { error: { code: error.code, message: error.message } },
    res.req.complete ? {} : { connection: 'close' },
  );
}

/** The request's path; '' for a request target that is not a URL path (which must not throw out of a handler). */
export function pathOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://node').pathname;
  } catch {
    return '';
  }
}

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Answers an upgrade request with `status` and no body, and closes: refused before any WebSocket exists. */
export function refuseUpgrade(socket: Duplex, status: number): void {
  if (socket.destroyed) return;
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
}

/** One function for every upgraded socket rather than a closure each (sockets are an edge's bulk). */
function ignoreError(): void {}

/** An upgrade that became a WebSocket: `ws` handles its socket's errors from now on, so the guard's listener goes. */
export function upgraded(socket: Duplex): void {
  socket.off('error', ignoreError);
}

/** An upgrade handler that cannot take the process down: a bug costs that one socket. */
export function guardUpgrade(
  handler: UpgradeHandler,
  logger: { error(details: object, message: string): void },
): UpgradeHandler {
  return (req, socket, head) => {
    // A peer that resets while it is refused (or upgraded) must not raise an unhandled 'error'; 'close' follows.
    socket.on('error', ignoreError);
    try {
      handler(req, socket, head);
    } catch (error) {
      logger.error({ err: error }, 'upgrade failed');
      socket.destroy();
    }
  };
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;
/** Handlers by path, then by method. */
export type HttpRoutes = Record<string, Partial<Record<'GET' | 'POST' | 'OPTIONS', HttpHandler>>>;

/**
 * One request handler for a node's HTTP API: 404 for unknown paths, 405 for unknown methods, and any error as its
 * protocol code (an unexpected one is logged and answered `internal`).
 */
export function routeHttp(
  routes: HttpRoutes,
  logger: { error(details: object, message: string): void },
  origins?: OriginPolicy,
  /** Paths the table does not name (say, with ids in them): answers and returns a promise, or returns false. */
  fallback?: (req: IncomingMessage, res: ServerResponse, path: string) => Promise<void> | false,
  /** Paths served to every origin. */
  publicPaths: ReadonlySet<string> = new Set(),
): (req: IncomingMessage, res: ServerResponse) => void {
  const fail = (res: ServerResponse, error: unknown): void => {
    const relayError = toRelayError(error);
    if (relayError.code === 'internal') logger.error({ err: error }, 'HTTP request failed');
    sendError(res, relayError);
  };
  return (req, res) => {
    const path = pathOf(req);
    const methods = Object.hasOwn(routes, path) ? routes[path]! : undefined;
    // Public files (the SDK script, the demo page) go to any page; everything that acts goes only to allowed origins.
    if (!(methods && publicPaths.has(path)) && origins?.cors(req, res)) return;
    if (!methods) {
      const handled = fallback?.(req, res, path);
      if (handled) handled.catch((error: unknown) => fail(res, error));
      else sendJson(res, 404, { error: { code: 'bad_request', message: `no such endpoint: ${path}` } });
      return;
    }
    const handler = methods[req.method as keyof typeof methods];
    if (!handler) {
      return sendJson(
        res,
        405,
        { error: { code: 'bad_request', message: `use ${Object.keys(methods).join(' or ')}` } },
        { allow: Object.keys(methods).join(', ') },
      );
    }
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((error: unknown) => fail(res, error));
  };
}

/**
 * `GET /metrics` from a Prometheus registry, behind the publish keys when there are some (as /v1/mesh: the same load
 * and internal figures); Prometheus sends one with `authorization: {credentials: <key>}` in its scrape config.
 */
export function metricsHandler(
  registry: { metrics(): Promise<string>; contentType: string },
  publishKeys: PublishKeys,
): HttpHandler {
  return async (req, res) => {
    publishKeys.check(req);
    const text = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(text);
  };
}
