// S6, engines: what sequencing costs in the in-memory engine and in the Redis engine (against a redis-server this
// scenario starts): publishes per second and publish→onMessage latency, with a fixed number of publishes in flight.

import { performance } from 'node:perf_hooks';
import hdr from 'hdr-histogram-js';
import { pino } from 'pino';
import type { Engine } from '../../core/engine.js';
import { MemoryEngine } from '../../core/memory-engine.js';
import { RedisEngine } from '../../core/redis-engine.js';
import { RedisServer } from '../../test/helpers/redis-server.js';

export type EngineKind = 'memory' | 'redis';

export interface EngineRow {
  engine: EngineKind;
  inFlight: number;
  payloadBytes: number;
  messages: number;
  publishesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

const topic = 'bench.engine';
const history = { maxMessages: 1000, maxAgeMs: 300_000 };

export async function runEngines(
  inFlights: number[],
  messages: number,
  payloadBytes: number,
  progress: (line: string) => void,
): Promise<EngineRow[]> {
  const redis = await RedisServer.launch();
  const rows: EngineRow[] = [];
  try {
    for (const kind of ['memory', 'redis'] as const) {
      for (const inFlight of inFlights) {
        progress(`S6 engine: ${kind}, ${inFlight} in flight, ${messages} messages`);
        const engine =
          kind === 'memory'
            ? new MemoryEngine(history)
            : new RedisEngine({
                url: redis.url,
                keyPrefix: `bench:${kind}:${inFlight}:`,
                ...history,
                logger: pino({ level: 'silent' }),
              });
        try {
          if (engine instanceof RedisEngine) await engine.whenAvailable(10_000);
          rows.push(await measure(kind, engine, inFlight, messages, payloadBytes));
        } finally {
          await engine.close();
        }
      }
    }
  } finally {
    await redis.stop();
  }
  return rows;
}

/** Keeps `inFlight` publishes outstanding; a message counts as done when the engine's listener hears it (as the router would). */
async function measure(
  kind: EngineKind,
  engine: Engine,
  inFlight: number,
  messages: number,
  payloadBytes: number,
): Promise<EngineRow> {
  const payload = Buffer.alloc(payloadBytes, 0x61);
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const sentAt = new Map<number, number>();
  let heard = 0;
  let done: () => void = () => undefined;
  const allHeard = new Promise<void>((resolve) => {
    done = resolve;
  });
  engine.onMessage((message) => {
    const started = sentAt.get(message.offset);
    if (started === undefined) return;
    sentAt.delete(message.offset);
    histogram.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
    if (++heard === messages) done();
  });
  engine.watch(topic);
  await engine.ready(topic);
  const base = (await engine.position(topic)).offset;
  let next = 0;
  const started = performance.now();
  // Offsets are given in the order publishes reach the engine, and each publisher waits for its own, so the i-th
  // publish overall gets offset base + i: the send time is stored under it before the answer comes.
  const worker = async (): Promise<void> => {
    while (next < messages) {
      const index = ++next;
      sentAt.set(base + index, performance.now());
      await engine.publish(topic, payload);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  await allHeard;
  const elapsed = performance.now() - started;
  engine.unwatch(topic);
  return {
    engine: kind,
    inFlight,
    payloadBytes,
    messages,
    publishesPerSecond: messages / (elapsed / 1000),
    p50Ms: histogram.getValueAtPercentile(50) / 1000,
    p99Ms: histogram.getValueAtPercentile(99) / 1000,
  };
}
