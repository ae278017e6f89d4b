// S3, latency: publish→delivery at fixed delivery rates (open loop: each message carries its intended send time,
// so a late publisher cannot hide queueing), p50/p99/p99.9 from probe subscribers, rising until saturation.

import hdr from 'hdr-histogram-js';
import { startCandidate } from '../candidate.js';
import { combineLoads, startLoad, type Load } from '../load.js';
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
  /** An outside server's version (NATS). */
  version?: string;
}

const topic = 'bench.latency';
const probes = 4;
const stepMs = 3000;

export async function runLatency(
  kind: CandidateKind,
  subscribers: number,
  rates: number[],
  payloadBytes: number,
): Promise<LatencyRow[]> {
  const candidate = await startCandidate(kind);
  const rows: LatencyRow[] = [];
  try {
    // Probes spread over the fan-out order (in the middle of each quarter of the subscribers): a server writes its
    // subscribers one after another, so a probe's place in that order is part of its latency.
    const loaded = subscribers - probes;
    const parts: Load[] = [];
    const probeClients: Probe[] = [];
    let opened = 0;
    for (let i = 0; i <= probes; i++) {
      const upTo = i < probes ? Math.floor((loaded * (i + 0.5)) / probes) : loaded;
      if (upTo > opened) parts.push(await startLoad(kind, candidate.url, topic, upTo - opened));
      opened = upTo;
      if (i < probes) probeClients.push(await Probe.open(kind, candidate.url, topic));
    }
    const load = combineLoads(kind, parts);
    const publisher = await Publisher.open(kind, candidate.publisherUrl);
    const pad = padFor(payloadBytes);
    let seq = 0;
    try {
      for (const rate of rates) {
        for (const probe of probeClients) probe.histogram.reset();
        const messages = Math.max(10, Math.round((rate / subscribers) * (stepMs / 1000)));
        const interval = stepMs / messages;
        const framesBefore = (await load.counts()).frames;
        const started = await publisher.publishPaced(topic, messages, interval, pad, seq);
        seq += messages;
        const expected = framesBefore + messages * loaded;
        let saturated = false;
        try {
          await load.waitForFrames(expected, stepMs * 3);
          await Promise.all(probeClients.map((probe) => probe.until(seq)));
        } catch {
          saturated = true;
        }
        const elapsed = performance.now() - started;
        const merged = hdr.build({
          lowestDiscernibleValue: 1,
          highestTrackableValue: 60_000_000,
          numberOfSignificantValueDigits: 3,
        });
        for (const probe of probeClients) merged.add(probe.histogram);
        const delivered = (await load.counts()).frames - framesBefore + messages * probes;
        rows.push({
          candidate: kind,
          subscribers,
          rate,
          achieved: delivered / (Math.max(elapsed, stepMs) / 1000),
          p50Ms: merged.getValueAtPercentile(50) / 1000,
          p99Ms: merged.getValueAtPercentile(99) / 1000,
          p999Ms: merged.getValueAtPercentile(99.9) / 1000,
          ...(candidate.version ? { version: candidate.version } : {}),
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
