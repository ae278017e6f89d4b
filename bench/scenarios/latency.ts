// S3, latency: publish→delivery at fixed delivery rates (open loop: each message carries its intended send time,
// so a late publisher cannot hide queueing), p50/p99/p99.9 from probe subscribers, rising until saturation.

import hdr from 'hdr-histogram-js';
import { startCandidate } from '../candidate.js';
import { startLoad } from '../load.js';
import { Probe, Publisher } from '../probe.js';
import type { CandidateKind } from '../wires.js';
import { padFor } from './fanout.js';

export interface LatencyRow {
  candidate: CandidateKind;
  subscribers: number;
  /** Deliveries per second asked for. */
  rate: number;
  /** Deliveries per second that arrived over the step. */
  achieved: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

const topic = 'bench.latency';
const probes = 4;
const stepMs = 3000;

export async function runLatency(kind: CandidateKind, subscribers: number, rates: number[], payloadBytes: number): Promise<LatencyRow[]> {
  const candidate = await startCandidate(kind);
  const rows: LatencyRow[] = [];
  try {
    const load = await startLoad(kind, candidate.url, topic, subscribers - probes);
    const probeClients = await Promise.all(Array.from({ length: probes }, () => Probe.open(kind, candidate.url, topic)));
    const publisher = await Publisher.open(kind, candidate.url);
    const pad = padFor(payloadBytes);
    let seq = 0;
    try {
      for (const rate of rates) {
        for (const probe of probeClients) probe.histogram.reset();
        const messages = Math.max(10, Math.round((rate / subscribers) * (stepMs / 1000)));
        const interval = stepMs / messages;
        const framesBefore = (await load.counts()).frames;
        const started = performance.now();
        for (let i = 0; i < messages; i++) {
          const intended = started + i * interval;
          const wait = intended - performance.now();
          if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
          publisher.publish(topic, { seq: ++seq, t: intended }, pad);
        }
        const expected = framesBefore + messages * (subscribers - probes);
        let saturated = false;
        try {
          await load.waitForFrames(expected, stepMs * 3);
          await Promise.all(probeClients.map((probe) => probe.until(seq)));
        } catch {
          saturated = true;
        }
        const elapsed = performance.now() - started;
        const merged = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
        for (const probe of probeClients) merged.add(probe.histogram);
        const delivered = (await load.counts()).frames - framesBefore + messages * probes;
        rows.push({
          candidate: kind, subscribers, rate,
          achieved: delivered / (elapsed / 1000),
          p50Ms: merged.getValueAtPercentile(50) / 1000,
          p99Ms: merged.getValueAtPercentile(99) / 1000,
          p999Ms: merged.getValueAtPercentile(99.9) / 1000,
        });
        if (saturated || merged.getValueAtPercentile(99) > 1_000_000) break;
      }
    } finally {
      for (const probe of probeClients) probe.close();
      publisher.close();
      await load.stop();
    }
  } finally {
    candidate.stop();
  }
  return rows;
}
