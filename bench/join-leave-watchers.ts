// Sessions subscribed with `joinLeave: true` that keep who is present: a `presence` answer, then the join / leave after
// it (the core sends both in order, so the view is exact from the answer on, as a client's should be).

import { request } from './mesh-session.js';
import type { RawWsClient } from './raw-ws-client.js';

/** How long every watcher may take to hear the checker's join or leave (behind what the topic's budget holds). */
const hearMs = 30_000;

export class Watcher {
  /** Sessions present on the topic: the last `presence` answer, with the join / leave heard since. */
  present = new Set<string>();
  /** Join / leave heard. */
  heard = 0;
  private waiting: { answer: string; settle: (error?: Error) => void } | undefined;

  constructor(
    readonly client: RawWsClient,
    private readonly topic: string,
  ) {
    client.onPayload = (payload) => this.receive(payload.toString());
  }

  subscribe(): Promise<void> {
    return this.ask({ op: 'sub', id: 1, topic: this.topic, joinLeave: true }, 'subok');
  }

  snapshot(): Promise<void> {
    return this.ask({ op: 'presence', id: 2, topic: this.topic }, 'presenceok');
  }

  /** Whether the view is `members` (the sessions a `presence` answer listed). */
  sees(members: ReadonlySet<string>): boolean {
    if (this.present.size !== members.size) return false;
    for (const session of members) if (!this.present.has(session)) return false;
    return true;
  }

  private ask(op: Record<string, unknown>, answer: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.settle(new Error(`no ${answer} within 30 s`)), 30_000);
      this.waiting = {
        answer,
        settle: (error) => {
          clearTimeout(timer);
          if (error) reject(error);
          else resolve();
        },
      };
      this.client.sendText(JSON.stringify(op));
    });
  }

  private settle(error?: Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.settle(error);
  }

  private receive(text: string): void {
    if (text.startsWith('{"op":"join"') || text.startsWith('{"op":"leave"')) {
      const { op, session } = JSON.parse(text) as { op: string; session: string };
      this.heard++;
      if (op === 'join') this.present.add(session);
      else this.present.delete(session);
    } else if (this.waiting && text.startsWith(`{"op":"${this.waiting.answer}"`)) {
      if (this.waiting.answer === 'presenceok')
        this.present = new Set(
          (JSON.parse(text) as { members: Array<{ session: string }> }).members.map((m) => m.session),
        );
      this.settle();
    } else if (this.waiting && text.startsWith('{"op":"error"')) {
      this.settle(new Error(text));
    }
  }
}

/**
 * Makes watchers of `clients` (connected sessions) on `topic` (under the event cap), each with its view from a
 * `presence` answer, then subscribes and unsubscribes `checker` until every one has heard something: throws if one
 * is deaf (an edge once registered only the watchers whose `sub` waited for the core).
 */
export async function subscribeWatchers(
  clients: RawWsClient[],
  checker: RawWsClient,
  topic: string,
): Promise<Watcher[]> {
  const watchers = clients.map((client) => new Watcher(client, topic));
  await Promise.all(watchers.map((watcher) => watcher.subscribe()));
  await Promise.all(watchers.map((watcher) => watcher.snapshot()));
  const heardBefore = watchers.map((watcher) => watcher.heard);
  const deaf = (): number => watchers.filter((watcher, i) => watcher.heard === heardBefore[i]).length;
  const deadline = Date.now() + hearMs;
  let id = 0;
  while (deaf() > 0) {
    if (Date.now() > deadline)
      throw new Error(`${deaf()} of ${watchers.length} joinLeave subscribers to ${topic} heard nothing`);
    await request(checker, { op: 'sub', id: ++id, topic }, 'subok');
    await request(checker, { op: 'unsub', id: ++id, topic }, 'unsubok');
  }
  return watchers;
}
