// Cores on a Redis engine for tests: each with its own connections to one redis-server, under a key prefix of the
// test's own, closed in teardown.

import { randomUUID } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import { RedisEngine } from '../../core/redis-engine.js';
import { startCore, type CoreHandle, type CoreOptions } from '../../core/start-core.js';
import { silentLogger } from './mesh.js';

export const uniquePrefix = (): string => `test:${randomUUID()}:`;

/** Starts a core on a Redis engine; waits for Redis unless `waitForRedis` is false (to test a core started without it). */
export async function startRedisCore(
  t: ExecutionContext,
  id: string,
  redisUrl: string,
  keyPrefix: string,
  options: Partial<CoreOptions> = {},
  waitForRedis = true,
): Promise<CoreHandle> {
  const engine = new RedisEngine({
    url: redisUrl,
    keyPrefix,
    maxMessages: 10_000,
    maxAgeMs: 600_000,
    logger: silentLogger,
  });
  const core = await startCore({ id, engine, logger: silentLogger, ...options });
  t.teardown(() => core.close());
  if (waitForRedis) await engine.whenAvailable(10_000);
  return core;
}

export function redisEngineOf(core: CoreHandle): RedisEngine {
  if (!(core.engine instanceof RedisEngine)) throw new Error(`core ${core.id} does not run the Redis engine`);
  return core.engine;
}
