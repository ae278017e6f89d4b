// Publishes on their way to the core: sent at once while the uplink is up, held (bounded in count and time)
// while it is down, and sent again after a reconnect until the core acknowledges them. The core recognises a
// publish it already sequenced by its id, so a resend never publishes twice on the same core.

import { RelayError } from '../shared/errors.js';
import type { Position } from '../shared/protocol.js';

export interface HeldPublish {
  readonly id: number;
  readonly topic: string;
  readonly payload: Uint8Array;
  /** A hub's relayed publish: its de-duplication identity at its own edge ('' for this edge's own publishes). */
  readonly origin: string;
}

interface Entry extends HeldPublish {
  holdMs: number;
  resolve(position: Position): void;
  reject(error: RelayError): void;
  /** Runs while the publish waits for an uplink; it fails the publish when the wait is too long. */
  holdTimer: NodeJS.Timeout | undefined;
}

export class HeldPublishes {
  /** Every unacknowledged publish, in id order (ids grow, and a Map keeps insertion order). */
  private readonly entries = new Map<number, Entry>();
  /** Payload bytes of `entries`. */
  private bytes = 0;

  /** `maxHeld` publishes wait for an uplink at most; `maxBytes` of payloads stay unacknowledged at most, up or down. */
  constructor(
    private readonly maxHeld: number,
    private readonly maxBytes: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** Adds a publish; `connected` says whether it is sent now (else it waits up to `holdMs`). */
  add(
    id: number,
    topic: string,
    payload: Uint8Array,
    origin: string,
    holdMs: number,
    connected: boolean,
  ): Promise<Position> {
    if (!connected && this.entries.size >= this.maxHeld) {
      return Promise.reject(
        new RelayError('unavailable', `no uplink to a core, and ${this.maxHeld} publishes are already waiting`),
      );
    }
    if (this.bytes + payload.length > this.maxBytes) {
      return Promise.reject(
        new RelayError(
          'unavailable',
          `${this.bytes} bytes of publishes already wait for the core; publish again later`,
        ),
      );
    }
    this.bytes += payload.length;
    return new Promise((resolve, reject) => {
      const entry: Entry = { id, topic, payload, origin, holdMs, resolve, reject, holdTimer: undefined };
      this.entries.set(id, entry);
      if (!connected) this.hold(entry);
    });
  }

  acknowledge(id: number, position: Position): boolean {
    return this.settle(id, (entry) => entry.resolve(position));
  }

  refuse(id: number, error: RelayError): boolean {
    return this.settle(id, (entry) => entry.reject(error));
  }

  /** The uplink went down: everything unacknowledged now waits, each for its own hold time. */
  holdAll(): void {
    for (const entry of this.entries.values()) if (!entry.holdTimer) this.hold(entry);
  }

  /** The uplink is up: the publishes to send again, oldest first. */
  release(): HeldPublish[] {
    for (const entry of this.entries.values()) {
      clearTimeout(entry.holdTimer);
      entry.holdTimer = undefined;
    }
    return [...this.entries.values()];
  }

  failAll(error: RelayError): void {
    for (const id of [...this.entries.keys()]) this.refuse(id, error);
  }

  private hold(entry: Entry): void {
    entry.holdTimer = setTimeout(() => {
      this.refuse(entry.id, new RelayError('unavailable', `no uplink to a core for ${entry.holdMs} ms`));
    }, entry.holdMs);
  }

  private settle(id: number, settle: (entry: Entry) => void): boolean {
    const entry = this.entries.get(id);
    if (!entry) return false;
    this.entries.delete(id);
    this.bytes -= entry.payload.length;
    clearTimeout(entry.holdTimer);
    settle(entry);
    return true;
  }
}
