// A replay from the core's history to one edge: the messages of a range as `replay` frames, read and sent in chunks
// that wait behind live traffic and other replays (the uplink's bulk class), stopped when nobody wants it any more or
// when it grows past the replay bound.

import type { Engine } from './engine.js';
import type { CoreMetrics } from './metrics.js';

/**
 * Messages read from the engine at a time (at most 2 MiB at the default message size): a replay holds one chunk
 * whatever its length, and only the replay whose turn it is has its chunk in the outbox.
 */
const chunkMessages = 16;

export interface ReplayTarget {
  engine: Engine;
  metrics: CoreMetrics;
  /** Payload bytes one replay may carry. */
  maxReplayBytes: number;
  /** Resolves when the uplink has room for the next chunk, in turn with other replays. */
  bulkRoom(): Promise<void>;
  /** Sends one `replay` frame of request `id`. */
  sendReplay(id: number, offset: number, data: Uint8Array): void;
}

/**
 * Sends the messages [from, to] of `topic` in `epoch` while `wanted()` holds. False when any of them is gone, they
 * carry more than the bound, or nobody wants them now (the edge drops a replay that does not end recovered).
 */
export async function streamReplay(
  target: ReplayTarget,
  request: { id: number; topic: string; epoch: string; from: number; to: number },
  wanted: () => boolean,
): Promise<boolean> {
  const { id, topic, epoch, from, to } = request;
  if (from > to) return (await target.engine.read(topic, epoch, from, to)) !== null;
  let bytes = 0;
  for (let next = from; next <= to; next += chunkMessages) {
    await target.bulkRoom();
    if (!wanted()) return false;
    const messages = await target.engine.read(topic, epoch, next, Math.min(to, next + chunkMessages - 1));
    if (!messages || !wanted()) return false;
    for (const message of messages) {
      bytes += message.data.length;
      if (bytes > target.maxReplayBytes) {
        target.metrics.replaysRefused.inc();
        return false;
      }
      target.sendReplay(id, message.offset, message.data);
    }
    target.metrics.replayed.inc(messages.length);
  }
  return true;
}
