// Prometheus metrics of one edge, in a registry of its own so several nodes can share a process.
// Hot-path counts live in plain numbers on the interest table and the uplink; the metrics read them when scraped.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HookMetrics } from './backend-hooks.js';
import { tunnelMetricsOf, type MetricMaker } from '../shared/tunnel-metrics.js';
import { amplification } from '../shared/mesh-status.js';

export interface EdgeGauges {
  /** Sessions open now, by transport (websocket, http-stream) and protocol (native, stomp, mqtt). */
  sessions(): Array<{ transport: string; protocol: string; count: number }>;
  subscriptions(): number;
  topics(): number;
  patterns(): number;
  uplinkConnected(): boolean;
  /** Counters kept elsewhere, totals since start. */
  totals(): EdgeTotals;
}

export interface EdgeTotals {
  deliveries: number;
  messagesIn: number;
  published: number;
  wanBytesSaved: number;
  replays: { cache: number; core: number };
  uplinkReconnects: number;
  uplinkMessages: { in: number; out: number };
}

/**
 * The edge's metrics. The gauges read the edge's parts, which are built after these metrics (they count into them):
 * `observe` gives them once built, and until then the gauges read as nothing.
 */
export function createEdgeMetrics(edgeId: string) {
  let observed: EdgeGauges | undefined;
  const registry = new Registry();
  registry.setDefaultLabels({ role: 'edge', node: edgeId });
  // Includes nodejs_eventloop_lag_seconds, the first sign of an edge that cannot keep up.
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  /** A counter mirroring a total kept elsewhere: it adds what the total grew by since the last scrape. */
  const mirror = (name: string, help: string, read: (totals: EdgeTotals) => number): Counter => {
    let reported = 0;
    return new Counter({
      name,
      help,
      registers,
      collect() {
        if (!observed) return;
        const total = read(observed.totals());
        this.inc(total - reported);
        reported = total;
      },
    });
  };
  const labelledMirror = (
    name: string,
    help: string,
    label: string,
    read: (totals: EdgeTotals) => Record<string, number>,
  ): Counter => {
    const reported: Record<string, number> = {};
    return new Counter({
      name,
      help,
      registers,
      labelNames: [label],
      collect() {
        for (const [value, total] of Object.entries(observed ? read(observed.totals()) : {})) {
          this.inc({ [label]: value }, total - (reported[value] ?? 0));
          reported[value] = total;
        }
      },
    });
  };
  const hookCalls = new Counter({
    name: 'relaymesh_edge_hook_calls_total',
    help: 'Backend hook calls, by hook (connect, subscribe, publish) and outcome (allowed, refused, failed)',
    labelNames: ['hook', 'outcome'],
    registers,
  });
  const hookFailures = new Counter({
    name: 'relaymesh_edge_hook_failures_total',
    help: 'Backend hook calls that failed (and refused their request), by hook and reason (timeout, connection, status, bad_answer, limit)',
    labelNames: ['hook', 'reason'],
    registers,
  });
  const hookSeconds = new Histogram({
    name: 'relaymesh_edge_hook_duration_seconds',
    help: 'Time from a backend hook call to its answer, by hook',
    labelNames: ['hook'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const hooks: HookMetrics = {
    called(hook, outcome, seconds, reason) {
      hookCalls.inc({ hook, outcome });
      if (reason) hookFailures.inc({ hook, reason });
      if (reason !== 'limit') hookSeconds.observe({ hook }, seconds);
    },
  };
  return {
    registry,
    hooks,
    tunnels: tunnelMetricsOf('edge', maker(registers)),
    observe(gauges: EdgeGauges): void {
      observed = gauges;
    },
    sessions: new Gauge({
      name: 'relaymesh_edge_sessions',
      help: 'Client sessions open on this edge, by transport and protocol',
      labelNames: ['transport', 'protocol'],
      registers,
      collect() {
        for (const { transport, protocol, count } of observed?.sessions() ?? [])
          this.set({ transport, protocol }, count);
      },
    }),
    subscriptions: new Gauge({
      name: 'relaymesh_edge_subscriptions',
      help: 'Client subscriptions held on this edge',
      registers,
      collect() {
        this.set(observed?.subscriptions() ?? 0);
      },
    }),
    topics: new Gauge({
      name: 'relaymesh_edge_topics',
      help: 'Topics this edge is subscribed to on its uplink',
      registers,
      collect() {
        this.set(observed?.topics() ?? 0);
      },
    }),
    patterns: new Gauge({
      name: 'relaymesh_edge_patterns',
      help: 'Patterns this edge is subscribed to on its uplink',
      registers,
      collect() {
        this.set(observed?.patterns() ?? 0);
      },
    }),
    uplinkUp: new Gauge({
      name: 'relaymesh_edge_uplink_up',
      help: '1 while the uplink to a core is connected',
      registers,
      collect() {
        this.set(observed?.uplinkConnected() ? 1 : 0);
      },
    }),
    amplification: new Gauge({
      name: 'relaymesh_edge_amplification',
      help: 'Client deliveries per message received from the core (deliveries_total / messages_in_total)',
      registers,
      collect() {
        this.set(observed ? amplification(observed.totals()) : 0);
      },
    }),
    deliveries: mirror(
      'relaymesh_edge_deliveries_total',
      'Messages queued to clients by the fan-out (messages out)',
      (totals) => totals.deliveries,
    ),
    messagesIn: mirror(
      'relaymesh_edge_messages_in_total',
      'Messages received from the core for fan-out (messages in)',
      (totals) => totals.messagesIn,
    ),
    published: mirror(
      'relaymesh_edge_published_total',
      'Messages published through this edge and sequenced by the core',
      (totals) => totals.published,
    ),
    wanBytesSaved: mirror(
      'relaymesh_edge_wan_bytes_saved_total',
      'Payload bytes that did not cross the WAN because one uplink message served several clients',
      (totals) => totals.wanBytesSaved,
    ),
    uplinkReconnects: mirror(
      'relaymesh_edge_uplink_reconnects_total',
      'Times the uplink connected again after its first connection',
      (totals) => totals.uplinkReconnects,
    ),
    replays: labelledMirror(
      'relaymesh_edge_replays_total',
      'Subscriptions with since answered by a replay, by source (cache: this edge, core: fetched over the uplink)',
      'source',
      (totals) => totals.replays,
    ),
    uplinkMessages: labelledMirror(
      'relaymesh_edge_uplink_messages_total',
      'Uplink WebSocket messages (each a batch of frames), by direction',
      'direction',
      (totals) => totals.uplinkMessages,
    ),
    connections: new Counter({
      name: 'relaymesh_edge_connections_total',
      help: 'Client connections accepted, by transport and protocol',
      labelNames: ['transport', 'protocol'],
      registers,
    }),
    protocolErrors: new Counter({
      name: 'relaymesh_edge_protocol_errors_total',
      help: 'Clients closed for breaking their protocol (STOMP, MQTT), by protocol',
      labelNames: ['protocol'],
      registers,
    }),
    refusedOps: new Counter({
      name: 'relaymesh_edge_refused_ops_total',
      help: 'Client ops refused, by reason (rate_limited, forbidden)',
      labelNames: ['reason'],
      registers,
    }),
    rejectedConnections: new Counter({
      name: 'relaymesh_edge_rejected_connections_total',
      help: 'Client connections refused before a session, by reason',
      labelNames: ['reason'],
      registers,
    }),
    slowConsumers: new Counter({
      name: 'relaymesh_edge_slow_consumers_total',
      help: 'Clients closed with 4508 for falling behind',
      registers,
    }),
    uplinkBytes: new Counter({
      name: 'relaymesh_edge_uplink_bytes_total',
      help: 'Bytes of uplink WebSocket messages',
      labelNames: ['direction'],
      registers,
    }),
    uplinkFrames: new Counter({
      name: 'relaymesh_edge_uplink_frames_total',
      help: 'Uplink frames',
      labelNames: ['direction'],
      registers,
    }),
  };
}

export type EdgeMetrics = ReturnType<typeof createEdgeMetrics>;

/** Gauges and counters in the node's registries, for the metrics shared/ defines. */
function maker(registers: Registry[]): MetricMaker {
  return {
    gauge: (name, help, labelNames) => new Gauge({ name, help, labelNames, registers }),
    counter: (name, help, labelNames) => new Counter({ name, help, labelNames, registers }),
  };
}
