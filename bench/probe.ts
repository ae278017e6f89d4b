// The benchmark's own sockets in the orchestrating process: a publisher, and probe subscribers that decode each
// delivery's stamp to measure latency from the intended send time into an HDR histogram.

import hdr from 'hdr-histogram-js';
import { NatsTcpClient } from './nats-tcp-client.js';
import { RawWsClient } from './raw-ws-client.js';
import { wires, type CandidateKind, type SetupStep, type Stamp } from './wires.js';

async function open(kind: CandidateKind, url: string, path: string, steps: SetupStep[]): Promise<RawWsClient> {
  const target = new URL(url);
  const client = await RawWsClient.connect({
    host: target.hostname,
    port: Number(target.port),
    path,
    protocol: wires[kind].protocol,
    stream: wires[kind].stream,
  });
  await client.setup(steps);
  return client;
}

/** What a publisher writes its frames to: a WebSocket, or for NATS a TCP connection to the hub. */
type PublisherLink = Pick<RawWsClient, 'sendText' | 'close'>;

export class Publisher {
  private constructor(
    private readonly kind: CandidateKind,
    private readonly client: PublisherLink,
  ) {}

  /** `url`: the candidate's publisherUrl (ws://…, or nats://… for NATS's hub). */
  static async open(kind: CandidateKind, url: string): Promise<Publisher> {
    if (url.startsWith('nats:')) return new Publisher(kind, await NatsTcpClient.connect(url));
    const wire = wires[kind];
    return new Publisher(kind, await open(kind, url, wire.publisherPath, wire.openPublisher()));
  }

  publish(topic: string, stamp: Stamp, pad: string): void {
    this.client.sendText(wires[this.kind].publish(topic, stamp, pad));
  }

  /**
   * Open loop: `count` messages at their intended times, `intervalMs` apart from now, each stamped with its
   * intended time (a late send is then measured as latency, not hidden). Sequence numbers follow `afterSeq`.
   * Resolves with when it started.
   */
  async publishPaced(topic: string, count: number, intervalMs: number, pad: string, afterSeq: number): Promise<number> {
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const intended = started + i * intervalMs;
      const wait = intended - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      this.publish(topic, { seq: afterSeq + i + 1, t: intended }, pad);
    }
    return started;
  }

  close(): void {
    this.client.close();
  }
}

export class Probe {
  /** Highest seq delivered to this probe. */
  seq = 0;
  readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  private waiter: { seq: number; wake: () => void } | undefined;

  private constructor(
    kind: CandidateKind,
    private readonly client: RawWsClient,
  ) {
    const read = (payload: Buffer): void => {
      const stamp = wires[kind].stampOf(payload.toString());
      if (!stamp) return;
      // Microseconds from the intended send time, so a stalled publisher cannot hide queueing (no coordinated omission).
      this.histogram.recordValue(Math.max(1, Math.round((performance.now() - stamp.t) * 1000)));
      this.seq = Math.max(this.seq, stamp.seq);
      if (this.waiter && this.seq >= this.waiter.seq) {
        const { wake } = this.waiter;
        this.waiter = undefined;
        wake();
      }
    };
    // NATS packs several deliveries in a frame, or splits one: its stream hands over each delivery instead.
    if (client.stream) client.stream.onMessage = read;
    else client.onPayload = read;
  }

  static async open(kind: CandidateKind, url: string, topic: string): Promise<Probe> {
    const wire = wires[kind];
    return new Probe(kind, await open(kind, url, wire.subscriberPath, wire.subscribe(topic)));
  }

  /** Resolves once `seq` has arrived; a candidate that stops delivering fails the run instead of hanging it. */
  until(seq: number, timeoutMs = 120_000): Promise<void> {
    if (this.seq >= seq) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`probe: message ${seq} not delivered within ${timeoutMs} ms (got ${this.seq})`)),
        timeoutMs,
      );
      this.waiter = {
        seq,
        wake: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }

  close(): void {
    this.client.close();
  }
}
