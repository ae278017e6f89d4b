// What a node counts of its tunnels (docs/protocol.md §8): open streams, bytes per tunnel and direction, refusals by
// reason, and the time streams spent with bytes to send and no credit. Each node's metrics file implements it.

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
