// S2, fan-out cost: server CPU time per delivered message, with K messages in flight (the publisher waits until
// a probe subscriber has message n-K before sending message n).

import { withTraffic } from '../traffic.js';
import type { CandidateKind } from '../wires.js';

export interface FanoutCase {
  payloadBytes: number;
  inFlight: number;
}

export interface FanoutRow extends FanoutCase {
  candidate: CandidateKind;
  subscribers: number;
  deliveries: number;
  /** CPU of the process clients connect to (relaymesh: the edge), per delivery. */
  serverMicrosPerDelivery: number;
  /** relaymesh: the core's share, per delivery. */
  coreMicrosPerDelivery?: number;
  deliveriesPerSecond: number;
}

const topic = 'bench.fanout';
/** Deliveries per case: enough to dwarf setup noise, few enough to keep a run short. */
const deliveriesPerCase = 500_000;

export function padFor(payloadBytes: number): string {
  return 'x'.repeat(Math.max(0, payloadBytes - 40));
}

export async function runFanout(kind: CandidateKind, subscribers: number, cases: FanoutCase[]): Promise<FanoutRow[]> {
  return withTraffic(kind, topic, subscribers - 1, async ({ candidate, load, probe, publisher }) => {
    const rows: FanoutRow[] = [];
    let seq = 0;
    for (const { payloadBytes, inFlight } of cases) {
      const messages = Math.max(20, Math.round(deliveriesPerCase / subscribers));
      const pad = padFor(payloadBytes);
      const framesBefore = (await load.counts()).frames;
      const before = await candidate.stats();
      const started = performance.now();
      for (let i = 0; i < messages; i++) {
        seq++;
        await probe.until(seq - inFlight);
        publisher.publish(topic, { seq, t: performance.now() }, pad);
      }
      await load.waitForFrames(framesBefore + messages * (subscribers - 1), 300_000);
      await probe.until(seq);
      const elapsedMs = performance.now() - started;
      const after = await candidate.stats();
      const deliveries = messages * subscribers;
      rows.push({
        candidate: kind,
        subscribers,
        payloadBytes,
        inFlight,
        deliveries,
        serverMicrosPerDelivery: (after.server.cpuMicros - before.server.cpuMicros) / deliveries,
        ...(after.core && before.core
          ? { coreMicrosPerDelivery: (after.core.cpuMicros - before.core.cpuMicros) / deliveries }
          : {}),
        deliveriesPerSecond: deliveries / (elapsedMs / 1000),
      });
    }
    return rows;
  });
}
