// Collects the messages an SDK subscription delivers and lets a test await a count of them, with a deadline.

import type { MeshMessage } from '../../client/mesh-client.js';

export function collector(): {
  messages: MeshMessage[];
  onMessage(message: MeshMessage): void;
  until(count: number): Promise<MeshMessage[]>;
} {
  const messages: MeshMessage[] = [];
  let wake: (() => void) | undefined;
  let want = 0;
  return {
    messages,
    onMessage(message) {
      messages.push(message);
      if (wake && messages.length >= want) wake();
    },
    until(count) {
      if (messages.length >= count) return Promise.resolve(messages);
      want = count;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`got ${messages.length} of ${count} messages`)), 10_000);
        wake = () => {
          clearTimeout(timer);
          wake = undefined;
          resolve(messages);
        };
      });
    },
  };
}
