// S9, WAN copies: what the core sends toward a region of 3 edges per published message, with the edges straight on
// the core (one copy each) and behind a hub (one copy for the region). Both regions hang off one core, each subscribed
// to a topic of its own, so the core's count per uplink tells them apart; the publisher is on an edge of its own.

import { startLoad, type Load } from './load.js';
import { Probe, Publisher } from './probe.js';
import { padFor } from './scenarios/fanout.js';
import { startTierMesh, type TierNode } from './tier-mesh.js';
import type { UplinkCount } from './tier-node-process.js';
import { median } from './report-format.js';

export interface TierWanRow {
  kind: 'wan';
  /** The region's 3 edges behind a hub, or each straight on the core. */
  hub: boolean;
  edges: number;
  /** Subscribers over the region's edges. */
  subscribers: number;
  payloadBytes: number;
  /** Payload bytes of the WebSocket messages the core sent toward the region, per published message. */
  bytesPerMessage: number;
  framesPerMessage: number;
  /** One copy: what one edge straight on the core received per message (the median of the 3). */
  copyBytes: number;
}

export interface TierWanSizes {
  subscribersPerEdge: number;
  payloads: number[];
  messages: number;
}

const edges = 3;
const inFlight = 4;
const regions = [
  { hub: false, topic: 'bench.tiers.direct', edges: ['direct-1', 'direct-2', 'direct-3'] },
  { hub: true, topic: 'bench.tiers.hub', edges: ['behind-1', 'behind-2', 'behind-3'] },
];

export async function tiersWan(size: TierWanSizes, progress: (line: string) => void): Promise<TierWanRow[]> {
  const nodes: TierNode[] = [
    { id: 'central', role: 'core' },
    { id: 'publisher', role: 'edge', upstream: 'central' },
    { id: 'hub', role: 'hub', upstream: 'central' },
    ...regions[0]!.edges.map((id): TierNode => ({ id, role: 'edge', upstream: 'central' })),
    ...regions[1]!.edges.map((id): TierNode => ({ id, role: 'edge', upstream: 'hub' })),
  ];
  progress(`S9 tiers: WAN copies, ${edges} edges × ${size.subscribersPerEdge} subscribers, without and with a hub`);
  const mesh = await startTierMesh(nodes);
  const loads: Load[] = [];
  const probes: Probe[] = [];
  let publisher: Publisher | undefined;
  try {
    for (const region of regions) {
      for (const id of region.edges)
        loads.push(await startLoad('relaymesh', mesh.url(id), region.topic, size.subscribersPerEdge));
      probes.push(await Probe.open('relaymesh', mesh.url(region.edges[0]!), region.topic));
    }
    publisher = await Publisher.open('relaymesh', mesh.url('publisher'));
    const rows: TierWanRow[] = [];
    const seqs = regions.map(() => 0);
    for (const payloadBytes of size.payloads) {
      const pad = padFor(payloadBytes);
      const sent = new Map<string, UplinkCount>();
      for (const [index, region] of regions.entries()) {
        const probe = probes[index]!;
        const regionLoads = loads.slice(index * edges, (index + 1) * edges);
        const framesBefore = await Promise.all(regionLoads.map(async (load) => (await load.counts()).frames));
        const before = await mesh.uplinks();
        for (let i = 0; i < size.messages; i++) {
          const seq = ++seqs[index]!;
          await probe.until(seq - inFlight);
          publisher.publish(region.topic, { seq, t: performance.now() }, pad);
        }
        await probe.until(seqs[index]!);
        await Promise.all(
          regionLoads.map((load, i) =>
            load.waitForFrames(framesBefore[i]! + size.messages * size.subscribersPerEdge, 120_000),
          ),
        );
        const after = await mesh.uplinks();
        const delta = (id: string): UplinkCount => ({
          bytes: (after[id]?.bytes ?? 0) - (before[id]?.bytes ?? 0),
          frames: (after[id]?.frames ?? 0) - (before[id]?.frames ?? 0),
        });
        // Toward the region: each edge's uplink, or the hub's alone.
        const uplinks = region.hub ? ['hub'] : region.edges;
        for (const id of uplinks) sent.set(id, delta(id));
      }
      const copyBytes = median(regions[0]!.edges.map((id) => sent.get(id)!.bytes)) / size.messages;
      for (const region of regions) {
        const uplinks = region.hub ? ['hub'] : region.edges;
        const total = (field: keyof UplinkCount): number =>
          uplinks.reduce((sum, id) => sum + sent.get(id)![field], 0) / size.messages;
        rows.push({
          kind: 'wan',
          hub: region.hub,
          edges,
          subscribers: edges * size.subscribersPerEdge,
          payloadBytes,
          bytesPerMessage: total('bytes'),
          framesPerMessage: total('frames'),
          copyBytes,
        });
      }
    }
    return rows;
  } finally {
    for (const probe of probes) probe.close();
    publisher?.close();
    await Promise.all(loads.map((load) => load.stop()));
    await mesh.stop();
  }
}
