// S4, WAN savings: what crosses the central node's link per published message — relaymesh's core feeding two
// edges, against one central server that holds every client itself.

import { startCandidate } from '../candidate.js';
import { startLoad } from '../load.js';
import { Probe, Publisher } from '../probe.js';
import type { CandidateKind } from '../wires.js';
import { padFor } from './fanout.js';

export interface WanRow {
  candidate: CandidateKind;
  subscribers: number;
  payloadBytes: number;
  /** Bytes leaving the central node per published message (relaymesh: the core's uplinks). */
  bytesPerMessage: number;
  /** WebSocket messages leaving the central node per published message. */
  messagesPerMessage: number;
}

const topic = 'bench.wan';
const messages = 200;

export async function runWan(kind: CandidateKind, subscribers: number, payloadBytes: number): Promise<WanRow> {
  const relaymesh = kind === 'relaymesh';
  const candidate = await startCandidate(kind, relaymesh ? 2 : 1);
  try {
    const loads = await Promise.all(
      candidate.urls.map((url) => startLoad(kind, url, topic, Math.floor(subscribers / candidate.urls.length))),
    );
    const probe = await Probe.open(kind, candidate.url, topic);
    const publisher = await Publisher.open(kind, candidate.url);
    try {
      const counted = async (): Promise<{ bytes: number; frames: number }> => {
        if (relaymesh) {
          const { core } = await candidate.stats();
          return { bytes: core!.uplinkBytesSent!, frames: core!.uplinkFramesSent! };
        }
        const all = await Promise.all(loads.map((load) => load.counts()));
        return { bytes: all.reduce((sum, c) => sum + c.bytes, 0), frames: all.reduce((sum, c) => sum + c.frames, 0) };
      };
      const before = await counted();
      const pad = padFor(payloadBytes);
      for (let seq = 1; seq <= messages; seq++) {
        await probe.until(seq - 4);
        publisher.publish(topic, { seq, t: performance.now() }, pad);
      }
      await probe.until(messages);
      await Promise.all(
        loads.map(async (load) =>
          load.waitForFrames(messages * Math.floor(subscribers / candidate.urls.length), 120_000),
        ),
      );
      const after = await counted();
      // relaymesh batches frames into WebSocket messages; count frames, the unit that would otherwise be one per client.
      return {
        candidate: kind,
        subscribers,
        payloadBytes,
        bytesPerMessage: (after.bytes - before.bytes) / messages,
        messagesPerMessage: (after.frames - before.frames) / messages,
      };
    } finally {
      probe.close();
      publisher.close();
      await Promise.all(loads.map((load) => load.stop()));
    }
  } finally {
    candidate.stop();
  }
}
