// The heartbeat each end keeps of its peer (a client's socket on the edge, the uplink on the edge and on the core):
// a ping each period, and a peer that has answered nothing since the previous ping is gone.

export interface Heartbeat {
  /** Set when the peer answers (a pong); cleared at each ping. */
  alive: boolean;
}

/** One period has passed: false when the peer answered nothing since the last ping (it is gone); otherwise pings again. */
export function beat(heartbeat: Heartbeat, ping: () => void): boolean {
  if (!heartbeat.alive) return false;
  heartbeat.alive = false;
  ping();
  return true;
}
