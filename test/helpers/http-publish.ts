// Publishing over a node's HTTP API (POST /v1/publish) in tests, answering the position or a PublishError.

import { request } from 'node:http';

/** Publishes over a core's HTTP API on a fresh connection each time: a pooled one could be a restarted core's dead socket. */
export function publisher(core: { url: string }) {
  return (topic: string, data: unknown): Promise<{ epoch: string; offset: number }> => new Promise((resolve, reject) => {
    const body = JSON.stringify({ topic, data });
    const req = request(`${core.url.replace(/^ws/, 'http')}/v1/publish`, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text) as { epoch: string; offset: number }) : reject(new PublishError(res.statusCode ?? 0, text))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export class PublishError extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`publish: ${status} ${body}`);
  }
}
