// Prometheus metrics of one core, in a registry of its own so several nodes can share a process.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { tunnelMetricsOf, type MetricMaker } from '../shared/tunnel-metrics.js';
import type { EngineStatus } from './engine.js';
import { amplification, type EdgeStatus } from '../shared/mesh-status.js';

/** `edges`: the edges connected to this core with their last reports (core/mesh-view.ts); `engineStatus` is read at
 * each scrape, for the engine's gauges. */
export function createCoreMetrics(
  coreId: string,
  edges: () => EdgeStatus[],
  engineStatus?: () => EngineStatus,
  presenceMembers?: () => number,
) {
  const registry = new Registry();
  registry.setDefaultLabels({ role: 'core', node: coreId });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  return {
    registry,
    presenceMembers: new Gauge({
      name: 'relaymesh_core_presence_members',
      help: "Presence members of this core's edges, summed over topics (a session on two topics counts twice)",
      registers,
      collect() {
        this.set(presenceMembers?.() ?? 0);
      },
    }),
    tunnels: tunnelMetricsOf('core', maker(registers)),
    uplinks: new Gauge({ name: 'relaymesh_core_uplinks', help: 'Edges connected to this core', registers }),
    // Labelled by edge: edges are a handful of known nodes, and these are the figures an operator watches per edge.
    edgeSessions: new Gauge({
      name: 'relaymesh_core_edge_sessions',
      help: 'Client sessions on each connected edge, as it last reported',
      labelNames: ['edge', 'region'],
      registers,
      collect() {
        this.reset();
        for (const edge of edges()) this.set({ edge: edge.id, region: edge.region }, edge.sessions);
      },
    }),
    edgeAmplification: new Gauge({
      name: 'relaymesh_core_edge_amplification',
      help: 'Client deliveries per message each connected edge received, as it last reported',
      labelNames: ['edge'],
      registers,
      collect() {
        this.reset();
        for (const edge of edges()) this.set({ edge: edge.id }, amplification(edge));
      },
    }),
    published: new Counter({
      name: 'relaymesh_core_published_total',
      help: 'Messages sequenced by this core',
      registers,
    }),
    routed: new Counter({
      name: 'relaymesh_core_routed_total',
      help: 'Message frames sent to edges (one per interested edge per message)',
      registers,
    }),
    uplinkMessagesSent: new Counter({
      name: 'relaymesh_core_uplink_messages_sent_total',
      help: 'WebSocket messages sent on uplinks (each holds a batch of frames)',
      labelNames: ['edge'],
      registers,
    }),
    uplinkFramesSent: new Counter({
      name: 'relaymesh_core_uplink_frames_sent_total',
      help: 'Frames sent on uplinks',
      labelNames: ['edge'],
      registers,
    }),
    digestMismatches: new Counter({
      name: 'relaymesh_core_digest_mismatches_total',
      help: 'Edge subscription digests that differed from what the core routes',
      labelNames: ['edge'],
      registers,
    }),
    uplinkBytesSent: new Counter({
      name: 'relaymesh_core_uplink_bytes_sent_total',
      help: 'Payload bytes of WebSocket messages sent on uplinks',
      labelNames: ['edge'],
      registers,
    }),
    // Labelled by reason only: a refused hello names an edge id that nobody vouched for, so it must not mint label values.
    uplinksRefused: new Counter({
      name: 'relaymesh_core_uplinks_refused_total',
      help: 'Uplinks refused because the edge did not prove its identity',
      labelNames: ['reason'],
      registers,
    }),
    replayed: new Counter({
      name: 'relaymesh_core_replayed_total',
      help: 'Messages replayed to edges from history (resubscribes and history requests)',
      registers,
    }),
    replaysRefused: new Counter({
      name: 'relaymesh_core_replays_refused_total',
      help: 'Replays answered recovered: false because they would carry more than limits.maxReplayBytes',
      registers,
    }),
    engineUp: new Gauge({
      name: 'relaymesh_core_engine_up',
      help: 'Whether the engine can sequence and read (0 while Redis is unavailable)',
      registers,
      collect() {
        this.set(engineStatus?.().unavailable === undefined ? 1 : 0);
      },
    }),
    engineErrors: new Gauge({
      name: 'relaymesh_core_engine_errors',
      help: 'Errors the engine met talking to its store since the core started (only grows)',
      registers,
      collect() {
        this.set(engineStatus?.().errors ?? 0);
      },
    }),
  };
}

export type CoreMetrics = ReturnType<typeof createCoreMetrics>;

/** Gauges and counters in the node's registries, for the metrics shared/ defines. */
function maker(registers: Registry[]): MetricMaker {
  return {
    gauge: (name, help, labelNames) => new Gauge({ name, help, labelNames, registers }),
    counter: (name, help, labelNames) => new Counter({ name, help, labelNames, registers }),
  };
}
