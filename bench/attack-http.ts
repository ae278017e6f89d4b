// Plain HTTP requests for the attack run (publishes through the core, HTTP-streaming sessions on the edge), from a
// chosen source address, over kept-alive connections so that thousands of requests do not exhaust ephemeral ports.

import { Agent, request } from 'node:http';

export interface HttpAnswer {
  status: number;
  text: string;
}

// One pool; Node keys its kept-alive sockets by host, port and local address.
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One request with a JSON body; rejects on a network error or after `timeoutMs` (default 30 s). */
export function httpJson(
  method: 'GET' | 'POST',
  url: string,
  body?: string,
  localAddress?: string,
  timeoutMs = 30_000,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method,
        agent,
        localAddress,
        headers:
          body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** POST /v1/publish on a node's HTTP base: one message, or a batch when `items` is an array. */
export function publish(httpBase: string, items: unknown): Promise<HttpAnswer> {
  return httpJson('POST', `${httpBase}/v1/publish`, JSON.stringify(items));
}

/** Ends the pool's idle sockets, so a finished process is not kept alive by them. */
export function closeHttp(): void {
  agent.destroy();
}
