// Presence in tests (docs/protocol.md §9) through raw clients: asking, listening, and matching join/leave events.

import type { RawClient, Op } from './raw-client.js';

/** The session id the client's `welcome` carried. */
export function sessionOf(client: RawClient): string {
  return String(client.received.find((op) => op.op === 'welcome')!.session);
}

/** Matches a `join` or `leave` of `session`. */
export const isEvent =
  (kind: 'join' | 'leave', session: string) =>
  (op: Op): boolean =>
    op.op === kind && op.session === session;

/** Asks `presence` of `topic` and waits for its answer (or error). */
export async function askPresence(client: RawClient, topic: string, id: string): Promise<Op> {
  client.send({ op: 'presence', id, topic });
  return client.next((op) => op.id === id);
}

/** Subscribes to `topic` with `joinLeave` and waits for the `subok`. */
export async function listen(client: RawClient, topic: string): Promise<void> {
  client.send({ op: 'sub', id: `listen ${topic}`, topic, joinLeave: true });
  await client.next((op) => op.op === 'subok' && op.topic === topic);
}
