// The round-trip time of an uplink, measured by its WebSocket pings: each ping carries the time it left, the pong
// echoes it (RFC 6455 §5.5.3). Tunnel streams size their windows by it (shared/stream-mux.ts).

/** A smoothed round-trip time, as TCP keeps one (RFC 6298): each new sample counts for an eighth. */
export class RoundTrip {
  private smoothedMs: number | undefined;

  /** The ping payload to send now. */
  stamp(): Buffer {
    const payload = Buffer.allocUnsafe(8);
    payload.writeDoubleBE(performance.now());
    return payload;
  }

  /** A pong arrived with `payload`: a sample, if it is one of our stamps. */
  answered(payload: Buffer): void {
    if (payload.length !== 8) return;
    const sample = performance.now() - payload.readDoubleBE();
    if (!(sample >= 0 && sample < 60_000)) return;
    this.smoothedMs = this.smoothedMs === undefined ? sample : (7 * this.smoothedMs + sample) / 8;
  }

  /** Undefined until a pong has come back. */
  get ms(): number | undefined {
    return this.smoothedMs;
  }
}
