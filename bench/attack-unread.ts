// Attack 3, unread streams: clients (half WebSocket, half HTTP streaming) subscribe to a topic of big messages and
// never read, while those messages keep coming. Each one the edge cuts is replaced at once, so the pressure stays.

import { httpJson } from './attack-http.js';
import { openUnreadStream } from './attack-unread-stream.js';
import { openUnreadWs, type UnreadClient } from './attack-unread-ws.js';
import { httpOf, pause, sourceAddress, type Attack, type AttackContext } from './attack-context.js';

export const firehoseTopic = 'firehose.t';
const clientsPerTransport = 100;
const messageBytes = 100 * 1024;
const publishesPerSecond = 20;
/** Publishes still unanswered beyond which the publisher skips a beat (a stalled core must not pile up requests). */
const maxInFlight = 40;

type Transport = 'ws' | 'stream';

export const unreadAttack: Attack = async (context) => {
  const slots = (['ws', 'stream'] as const).flatMap((transport) =>
    Array.from({ length: clientsPerTransport }, (_, i) => slot(context, transport, i)),
  );
  await Promise.all([firehose(context), ...slots]);
};

/** One unread client at a time in this slot: when the edge lets it go, the next one opens. */
async function slot(context: AttackContext, transport: Transport, index: number): Promise<void> {
  const { signal, counts } = context;
  const edge = new URL(context.edgeUrl);
  const open = transport === 'ws' ? openUnreadWs : openUnreadStream;
  for (let opened = 0; !signal.aborted; opened++) {
    let client: UnreadClient;
    try {
      client = await open(edge.hostname, Number(edge.port), sourceAddress(index), firehoseTopic);
    } catch (error) {
      counts.add(`${transport} open failed: ${(error as Error).message}`);
      await pause(100, signal);
      continue;
    }
    counts.add(`${transport} clients opened`);
    const stop = (): void => client.close();
    signal.addEventListener('abort', stop, { once: true });
    await client.gone;
    signal.removeEventListener('abort', stop);
    if (!signal.aborted) counts.add(`${transport} clients cut by the edge`);
  }
}

/** Publishes at a steady rate through the core, not waiting for one answer before the next send. */
async function firehose(context: AttackContext): Promise<void> {
  const body = JSON.stringify({ topic: firehoseTopic, data: 'h'.repeat(messageBytes) });
  const url = `${httpOf(context.coreUrl)}/v1/publish`;
  const started = performance.now();
  let inFlight = 0;
  for (let n = 0; !context.signal.aborted; n++) {
    await pause(started + (n * 1000) / publishesPerSecond - performance.now(), context.signal);
    if (context.signal.aborted) break;
    if (inFlight >= maxInFlight) {
      context.counts.add('firehose publishes skipped (core slow)');
      continue;
    }
    inFlight++;
    httpJson('POST', url, body)
      .then(
        (answer) => context.counts.add(`firehose publish ${answer.status}`),
        () => context.counts.add('firehose publish failed'),
      )
      .finally(() => inFlight--);
  }
}
