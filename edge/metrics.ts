// Prometheus metrics of one edge, in a registry of its own so several nodes can share a process.

import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface EdgeGauges {
  sessions(): number;
  topics(): number;
  patterns(): number;
  deliveries(): number;
  uplinkConnected(): boolean;
}

export function createEdgeMetrics(edgeId: string, gauges: EdgeGauges) {
  const registry = new Registry();
  registry.setDefaultLabels({ role: 'edge', node: edgeId });
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  let deliveriesReported = 0;
  return {
    registry,
    sessions: new Gauge({ name: 'relaymesh_edge_sessions', help: 'Client sessions open on this edge', registers, collect() { this.set(gauges.sessions()); } }),
    topics: new Gauge({ name: 'relaymesh_edge_topics', help: 'Topics this edge is subscribed to on its uplink', registers, collect() { this.set(gauges.topics()); } }),
    patterns: new Gauge({ name: 'relaymesh_edge_patterns', help: 'Patterns this edge is subscribed to on its uplink', registers, collect() { this.set(gauges.patterns()); } }),
    uplinkUp: new Gauge({ name: 'relaymesh_edge_uplink_up', help: '1 while the uplink to a core is connected', registers, collect() { this.set(gauges.uplinkConnected() ? 1 : 0); } }),
    // Counted in a plain number on the hot path and read here, so the fan-out does not pay for the metric.
    deliveries: new Counter({
      name: 'relaymesh_edge_deliveries_total', help: 'Messages queued to clients by the fan-out', registers,
      collect() {
        const total = gauges.deliveries();
        this.inc(total - deliveriesReported);
        deliveriesReported = total;
      },
    }),
    connections: new Counter({ name: 'relaymesh_edge_connections_total', help: 'Client connections accepted', labelNames: ['transport', 'protocol'], registers }),
    protocolErrors: new Counter({ name: 'relaymesh_edge_protocol_errors_total', help: 'Clients closed for breaking their protocol (STOMP, MQTT), by protocol', labelNames: ['protocol'], registers }),
    refusedOps: new Counter({ name: 'relaymesh_edge_refused_ops_total', help: 'Client ops refused, by reason (rate_limited, forbidden)', labelNames: ['reason'], registers }),
    rejectedConnections: new Counter({ name: 'relaymesh_edge_rejected_connections_total', help: 'Client connections refused before a session, by reason', labelNames: ['reason'], registers }),
    slowConsumers: new Counter({ name: 'relaymesh_edge_slow_consumers_total', help: 'Clients closed with 4508 for falling behind', registers }),
    uplinkBytes: new Counter({ name: 'relaymesh_edge_uplink_bytes_total', help: 'Bytes of uplink WebSocket messages', labelNames: ['direction'], registers }),
    uplinkFrames: new Counter({ name: 'relaymesh_edge_uplink_frames_total', help: 'Uplink frames', labelNames: ['direction'], registers }),
    published: new Counter({ name: 'relaymesh_edge_published_total', help: 'Messages published through this edge and acknowledged by the core', registers }),
  };
}

export type EdgeMetrics = ReturnType<typeof createEdgeMetrics>;
