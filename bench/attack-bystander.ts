// The bystander of `relaymesh bench attack`: one native client on the edge, and small messages published through
// the core at a steady rate; per phase, publish→delivery latency and which acknowledged messages never arrived.

import hdr, { type Histogram } from 'hdr-histogram-js';
import type { MsgOp, Position } from '../shared/protocol.js';
import { httpJson } from './attack-http.js';
import { AttackSocket } from './attack-socket.js';
import { httpOf } from './attack-context.js';

export const bystanderTopic = 'bystander.t';
const publishesPerSecond = 50;
const messageBytes = 100;
/** Publishes still unanswered beyond which new ones are counted as failed rather than sent (a frozen core). */
const maxInFlight = 500;

export interface BystanderPhase {
  name: string;
  /** Microseconds from each message's intended send time to its delivery. */
  histogram: Histogram;
  /** Offsets the core acknowledged, and those the client received. */
  acked: Set<number>;
  received: Set<number>;
  /** Publishes that got no position, by HTTP status or error. */
  publishFailures: Record<string, number>;
  /** Times the bystander's socket was closed under it. */
  cuts: number;
}

interface Stamp {
  /** Index of the phase the message was sent in. */
  p: number;
  /** Intended send time (performance.now() of this process), in ms. */
  t: number;
}

export class Bystander {
  readonly phases: BystanderPhase[] = [];
  private socket: AttackSocket | undefined;
  private position: Position | undefined;
  private publishing: Promise<void> | undefined;
  private stopped = false;
  private inFlight = 0;
  private readonly idle = new Set<() => void>();

  private constructor(
    private readonly coreUrl: string,
    private readonly edgeUrl: string,
  ) {}

  static async start(coreUrl: string, edgeUrl: string): Promise<Bystander> {
    const bystander = new Bystander(coreUrl, edgeUrl);
    await bystander.subscribe();
    return bystander;
  }

  /** Messages published from now on belong to a new phase; the first call starts publishing. */
  beginPhase(name: string): void {
    this.phases.push({
      name,
      histogram: hdr.build({
        lowestDiscernibleValue: 1,
        highestTrackableValue: 600_000_000,
        numberOfSignificantValueDigits: 3,
      }),
      acked: new Set(),
      received: new Set(),
      publishFailures: {},
      cuts: 0,
    });
    this.publishing ??= this.publish();
  }

  /** Stops publishing; resolves once every publish has its answer. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.publishing;
    while (this.inFlight > 0) await new Promise<void>((wake) => this.idle.add(wake));
  }

  /** Resolves once every acknowledged message has arrived, or after `timeoutMs`. */
  async settle(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const missing = (): boolean => this.phases.some((phase) => phase.received.size < phase.acked.size);
    while (missing() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  }

  close(): void {
    this.stopped = true;
    const socket = this.socket;
    this.socket = undefined;
    socket?.close();
  }

  private async subscribe(): Promise<void> {
    const socket = await AttackSocket.open({ url: this.edgeUrl, onMsg: (op) => this.delivered(op) });
    // Resumes after the last message received: a cut must not lose messages, only delay them.
    const answer = await socket.request({
      op: 'sub',
      topic: bystanderTopic,
      ...(this.position ? { since: this.position } : {}),
    });
    if (answer.op !== 'subok' || answer.epoch === undefined || answer.offset === undefined) {
      socket.close();
      throw new Error(`bystander: sub answered ${JSON.stringify(answer)}`);
    }
    this.position ??= { epoch: answer.epoch, offset: answer.offset };
    this.socket = socket;
    void socket.closed.then(() => this.lost(socket));
  }

  private async lost(socket: AttackSocket): Promise<void> {
    if (this.socket !== socket) return;
    const phase = this.phases.at(-1);
    if (phase) phase.cuts++;
    for (let attempt = 0; this.socket === socket && attempt < 100; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      try {
        await this.subscribe();
      } catch {
        // The edge may be busy: try again, for up to ten seconds.
      }
    }
  }

  private delivered(op: MsgOp): void {
    if (op.topic !== bystanderTopic) return;
    this.position = { epoch: op.epoch, offset: op.offset };
    const stamp = op.data as Partial<Stamp> | null;
    const phase = typeof stamp?.p === 'number' ? this.phases[stamp.p] : undefined;
    if (!phase || typeof stamp?.t !== 'number' || phase.received.has(op.offset)) return;
    phase.received.add(op.offset);
    phase.histogram.recordValue(Math.max(1, Math.round((performance.now() - stamp.t) * 1000)));
  }

  /** Open loop: each message at its intended time, not after the previous answer, so a slow core shows as latency. */
  private async publish(): Promise<void> {
    const url = `${httpOf(this.coreUrl)}/v1/publish`;
    const started = performance.now();
    for (let n = 0; !this.stopped; n++) {
      const intended = started + (n * 1000) / publishesPerSecond;
      const wait = intended - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (this.stopped) break;
      const p = this.phases.length - 1;
      const phase = this.phases[p]!;
      if (this.inFlight >= maxInFlight) {
        phase.publishFailures['not sent: core not answering'] =
          (phase.publishFailures['not sent: core not answering'] ?? 0) + 1;
        continue;
      }
      this.inFlight++;
      httpJson('POST', url, JSON.stringify({ topic: bystanderTopic, data: stampOf(p, intended) }))
        .then(
          (answer) => {
            if (answer.status === 200) phase.acked.add((JSON.parse(answer.text) as Position).offset);
            else
              phase.publishFailures[`HTTP ${answer.status}`] =
                (phase.publishFailures[`HTTP ${answer.status}`] ?? 0) + 1;
          },
          (error: Error) => {
            phase.publishFailures[error.message] = (phase.publishFailures[error.message] ?? 0) + 1;
          },
        )
        .finally(() => {
          this.inFlight--;
          if (this.inFlight > 0) return;
          for (const wake of this.idle) wake();
          this.idle.clear();
        });
    }
  }
}

/** The stamp padded so that the message's JSON is `messageBytes` long. */
function stampOf(p: number, t: number): Stamp & { pad: string } {
  const bare = JSON.stringify({ p, t, pad: '' }).length;
  return { p, t, pad: 'b'.repeat(Math.max(0, messageBytes - bare)) };
}
