// What a node counts of its tunnels (docs/protocol.md §8): open streams, bytes per tunnel and direction, refusals by
// reason, and the time streams spent with bytes to send and no credit, as relaymesh_{edge,core}_tunnel_* metrics
// made by the node's own metrics file (shared/ does not import prom-client).

import type { StreamCounters } from './stream-mux.js';

/** Why a node refused a stream: the reset reasons, and the refusals an entry gives before any stream exists. */
export type TunnelRefusal =
  'refused' | 'limit' | 'address_limit' | 'draining' | 'no_path' | 'unknown_tunnel' | 'unauthorized' | 'forbidden';

/** Label for a name that is no tunnel: a stranger's made-up names must not each grow a new series. */
export const unknownTunnel = '(unknown)';

export interface TunnelMetrics extends StreamCounters {
  /** A stream of `tunnel` opened (+1) or closed (-1) at this node. */
  streamsChanged(tunnel: string, change: 1 | -1): void;
  /** Bytes passed on at this node, counted once where they enter or leave it. */
  carried(tunnel: string, toService: boolean, bytes: number): void;
  refused(tunnel: string, reason: TunnelRefusal): void;
}

/** A labelled metric as prom-client makes one: a gauge or a counter. */
interface Incrementable {
  inc(labels: Record<string, string>, value: number): void;
}

/** How a node makes a gauge or a counter in its registries. */
export interface MetricMaker {
  gauge(name: string, help: string, labelNames: string[]): Incrementable;
  counter(name: string, help: string, labelNames: string[]): Incrementable;
}

/** The relaymesh_<role>_tunnel_* metrics of a node. */
export function tunnelMetricsOf(role: 'edge' | 'core', make: MetricMaker): TunnelMetrics {
  const prefix = `relaymesh_${role}_tunnel`;
  const streams = make.gauge(`${prefix}_streams`, `Tunnel streams open at this ${role}, by tunnel`, ['tunnel']);
  const bytes = make.counter(
    `${prefix}_bytes_total`,
    `Tunnel bytes carried at this ${role}, by tunnel and direction (to_service, from_service)`,
    ['tunnel', 'direction'],
  );
  const refusals = make.counter(
    `${prefix}_refusals_total`,
    `Tunnel streams refused at this ${role}, by tunnel and reason`,
    ['tunnel', 'reason'],
  );
  const creditWait = make.counter(
    `${prefix}_credit_wait_seconds_total`,
    `Time tunnel streams at this ${role} had bytes to send and no credit (their reader was slower), by tunnel`,
    ['tunnel'],
  );
  return {
    streamsChanged: (tunnel, change) => streams.inc({ tunnel }, change),
    carried: (tunnel, toService, count) =>
      bytes.inc({ tunnel, direction: toService ? 'to_service' : 'from_service' }, count),
    refused: (tunnel, reason) => refusals.inc({ tunnel, reason }, 1),
    creditWait: (tunnel, ms) => creditWait.inc({ tunnel }, ms / 1000),
  };
}
