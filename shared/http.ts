// Small HTTP helpers shared by the core's and the edge's APIs: bounded JSON bodies and JSON replies.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { RelayError, httpStatusOf } from './errors.js';
import { parseJson } from './codec.js';

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

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Answers with the error's HTTP status and `{"error": {code, message}}`; the connection closes if the body was not read. */
export function sendError(res: ServerResponse, error: RelayError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, httpStatusOf[error.code], { error: { code: error.code, message: error.message } });
}
