// Cores on a Redis engine for tests: each with its own connections to one redis-server, under a key prefix of the
// test's own, closed in teardown; and a publisher over a core's HTTP API.

import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import type { ExecutionContext } from 'ava';
import { RedisEngine } from '../../core/redis-engine.js';
import { startCore, type CoreHandle, type CoreOptions } from '../../core/start-core.js';
import { silentLogger } from './mesh.js';

export const fastUplink = { heartbeatMs: 200, reconnectBaseMs: 10, reconnectMaxMs: 100, failbackMs: 100 };

export const uniquePrefix = (): string => `test:${randomUUID()}:`;

/** Starts a core on a Redis engine; waits for Redis unless `waitForRedis` is false (to test a core started without it). */
export async function startRedisCore(t: ExecutionContext, id: string, redisUrl: string, keyPrefix: string, options: Partial<CoreOptions> = {}, waitForRedis = true): Promise<CoreHandle> {
  const engine = new RedisEngine({ url: redisUrl, keyPrefix, maxMessages: 10_000, maxAgeMs: 600_000, logger: silentLogger });
  const core = await startCore({ id, engine, logger: silentLogger, ...options });
  t.teardown(() => core.close());
  if (waitForRedis) await engine.whenAvailable(10_000);
  return core;
}

export function redisEngineOf(core: CoreHandle): RedisEngine {
  if (!(core.engine instanceof RedisEngine)) throw new Error(`core ${core.id} does not run the Redis engine`);
  return core.engine;
}

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
