// MQTT keep-alive on the server side: a client that sends nothing (not even PINGREQ) for too long is gone, and its
// connection is ended then, rather than when a dead peer's socket finally times out.

/** MQTT 3.1.1 §3.1.2.10: a client silent for one and a half keep-alive periods is gone. */
const keepAliveGrace = 1.5;

export class MqttKeepAlive {
  private lastHeard = Date.now();
  private timer: NodeJS.Timeout | undefined;

  /** Any packet from the client counts, not only PINGREQ. */
  heard(): void {
    this.lastHeard = Date.now();
  }

  /** Watches for silence over the grace; `keepAliveMs` 0 is no keep-alive. `onSilent` may call `stop()`. */
  start(keepAliveMs: number, onSilent: () => void): void {
    if (keepAliveMs <= 0) return;
    const limit = keepAliveMs * keepAliveGrace;
    this.timer = setInterval(
      () => {
        if (Date.now() - this.lastHeard > limit) onSilent();
      },
      Math.max(50, keepAliveMs / 2),
    );
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
