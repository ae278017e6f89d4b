// Attack 4, topic filling: many connections from one address subscribe to ever new long topic names as fast as their
// rate limit allows, to fill the edge's topic table (and the core's) so that nobody else can subscribe any more.

import { AttackSocket } from './attack-socket.js';
import { pause, type Attack, type AttackContext } from './attack-context.js';

export const fillAddress = '127.0.0.2';
const connections = 100;
const topicBytes = 200;
// Just under the edge's default bucket (100/s, burst 200): as fast as a connection may go without being refused.
const ratePerSecond = 95;
const burst = 190;
const tickMs = 20;

/** A distinct topic name of exactly `topicBytes` bytes. */
export function longTopic(prefix: string, n: number): string {
  const head = `${prefix}.${n}.`;
  return head + 'x'.repeat(topicBytes - head.length);
}

export const fillAttack: Attack = async (context) => {
  const fillers = Array.from({ length: connections }, (_, i) => new Filler(context, i));
  let last = performance.now();
  // One timer for every connection: 100 timers of their own would cost the attacker more than the attack.
  const ticker = setInterval(() => {
    const now = performance.now();
    for (const filler of fillers) filler.tick(now - last);
    last = now;
  }, tickMs);
  await new Promise<void>((resolve) => context.signal.addEventListener('abort', () => resolve(), { once: true }));
  clearInterval(ticker);
  for (const filler of fillers) filler.close();
};

class Filler {
  private socket: AttackSocket | undefined;
  private opening = false;
  private opened = 0;
  private tokens = burst;
  private names = 0;

  constructor(
    private readonly context: AttackContext,
    private readonly index: number,
  ) {}

  tick(elapsedMs: number): void {
    if (!this.socket?.open) return this.reopen();
    this.tokens = Math.min(burst, this.tokens + (elapsedMs * ratePerSecond) / 1000);
    for (; this.tokens >= 1; this.tokens--) this.subscribe(this.socket);
  }

  close(): void {
    this.socket?.close();
  }

  private subscribe(socket: AttackSocket): void {
    const { counts } = this.context;
    socket.request({ op: 'sub', topic: longTopic(`fill.${this.index}`, this.names++) }).then(
      (answer) => counts.add(answer.op === 'error' ? `sub error ${answer.code}` : `sub ${answer.op}`),
      () => {},
    );
  }

  private reopen(): void {
    if (this.opening || this.context.signal.aborted) return;
    this.opening = true;
    const { counts, signal } = this.context;
    AttackSocket.open({ url: this.context.edgeUrl, localAddress: fillAddress })
      .then(
        (socket) => {
          if (this.opened++ > 0) counts.add('reconnects');
          this.socket = socket;
          this.tokens = burst;
          if (signal.aborted) socket.close();
          void socket.closed.then((code) => {
            if (!signal.aborted) counts.add(`closed ${code}`);
          });
        },
        async (error: Error) => {
          counts.add(`open refused: ${error.message}`);
          await pause(100, signal);
        },
      )
      .finally(() => (this.opening = false));
  }
}
