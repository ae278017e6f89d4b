// S2, fan-out cost: server CPU time per delivered message, with K messages in flight (the publisher waits until
// a probe subscriber has message n-K before sending message n).

import { withTraffic, type Traffic } from '../traffic.js';
import type { CandidateKind } from '../wires.js';

export interface FanoutCase {
  payloadBytes: number;
  inFlight: number;
}

export interface FanoutRow extends FanoutCase {
  candidate: CandidateKind;
  subscribers: number;
  deliveries: number;
  /** CPU of the process clients connect to (relaymesh: the edge; NATS: the leaf node), per delivery. */
  serverMicrosPerDelivery: number;
  /** relaymesh: the core's share, per delivery; NATS: the hub's. */
  coreMicrosPerDelivery?: number;
  deliveriesPerSecond: number;
  /** An outside server's version (NATS). */
  version?: string;
}

const topic = 'bench.fanout';
/** Deliveries per case: enough to dwarf setup noise, few enough to keep a run short. */
const deliveriesPerCase = 500_000;

export function padFor(payloadBytes: number): string {
  return 'x'.repeat(Math.max(0, payloadBytes - 40));
}

/** What one case cost: the candidate's CPU per delivery, and how many messages it published. */
export interface FanoutCost {
  messages: number;
  deliveries: number;
  serverMicrosPerDelivery: number;
  coreMicrosPerDelivery?: number;
  deliveriesPerSecond: number;
}

/**
 * One case on traffic already open: messages published with `inFlight` outstanding until about 500,000 deliveries.
 * `subscribers` counts every receiver (whatever the load counts, and the probe); `afterSeq`: the last stamp sent.
 */
export async function measureCase(
  { candidate, load, probe, publisher, topic }: Traffic,
  subscribers: number,
  { payloadBytes, inFlight }: FanoutCase,
  afterSeq: number,
): Promise<FanoutCost> {
  const messages = Math.max(20, Math.round(deliveriesPerCase / subscribers));
  const pad = padFor(payloadBytes);
  const framesBefore = (await load.counts()).frames;
  const before = await candidate.stats();
  const started = performance.now();
  let seq = afterSeq;
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
  return {
    messages,
    deliveries,
    serverMicrosPerDelivery: (after.server.cpuMicros - before.server.cpuMicros) / deliveries,
    ...(after.core && before.core
      ? { coreMicrosPerDelivery: (after.core.cpuMicros - before.core.cpuMicros) / deliveries }
      : {}),
    deliveriesPerSecond: deliveries / (elapsedMs / 1000),
  };
}

export async function runFanout(kind: CandidateKind, subscribers: number, cases: FanoutCase[]): Promise<FanoutRow[]> {
  return withTraffic(kind, topic, subscribers - 1, async (traffic) => {
    const rows: FanoutRow[] = [];
    let seq = 0;
    for (const fanoutCase of cases) {
      const { messages, ...cost } = await measureCase(traffic, subscribers, fanoutCase, seq);
      seq += messages;
      const { version } = traffic.candidate;
      rows.push({ candidate: kind, subscribers, ...fanoutCase, ...cost, ...(version ? { version } : {}) });
    }
    return rows;
  });
}
