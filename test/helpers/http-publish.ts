// Publishing over a node's HTTP API (POST /v1/publish) in tests, answering the position(s) or a PublishError.

import { request } from 'node:http';

export interface Published {
  epoch: string;
  offset: number;
}

/**
 * Posts `body` (one {topic, data} or an array of them) to a node (`{url}` as its handle has it, or an http/ws base),
 * on a fresh connection each time: a pooled one could be a restarted node's dead socket.
 */
export function publishBody<T = Published>(node: { url: string } | string, body: unknown): Promise<T> {
  const base = (typeof node === 'string' ? node : node.url).replace(/^ws/, 'http');
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body);
    const req = request(
      `${base}/v1/publish`,
      {
        method: 'POST',
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        let answer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          answer += chunk;
        });
        res.on('end', () =>
          res.statusCode === 200
            ? resolve(JSON.parse(answer) as T)
            : reject(new PublishError(res.statusCode ?? 0, answer)),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}

/** Publishes one message to a node; its position. */
export function publish(node: { url: string } | string, topic: string, data: unknown): Promise<Published> {
  return publishBody(node, { topic, data });
}

/** Publishes to one node again and again. */
export function publisher(node: { url: string } | string): (topic: string, data: unknown) => Promise<Published> {
  return (topic, data) => publish(node, topic, data);
}

export class PublishError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`publish: ${status} ${body}`);
  }
}
