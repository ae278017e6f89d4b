// relaymesh's JSON protocol over the benchmark's raw WebSocket client, one request at a time: for scenarios that time
// single operations (connect→welcome, sub→subok, …) or drive them in loops.

import { RawWsClient } from './raw-ws-client.js';
import { wires } from './wires.js';

/** The upgrade only: the session is not connected yet. */
export function openSocket(url: string, localAddress?: string): Promise<RawWsClient> {
  const target = new URL(url);
  return RawWsClient.connect({
    host: target.hostname,
    port: Number(target.port),
    path: wires.relaymesh.subscriberPath,
    protocol: wires.relaymesh.protocol,
    ...(localAddress ? { localAddress } : {}),
  });
}

/** A session past its `welcome`. */
export async function openSession(url: string, localAddress?: string): Promise<RawWsClient> {
  const client = await openSocket(url, localAddress);
  await request(client, { op: 'connect' }, 'welcome');
  return client;
}

/**
 * Sends `op` and resolves with the first reply whose op is `answer` (its text); an `error` instead rejects, so a
 * refused request fails the run rather than being timed. Frame counts restart from zero after it (RawWsClient.setup).
 */
export async function request(
  client: RawWsClient,
  op: Record<string, unknown>,
  answer: string,
  timeoutMs = 30_000,
): Promise<string> {
  const expected = `{"op":"${answer}"`;
  let reply = '';
  await client.setup(
    [
      {
        send: [JSON.stringify(op)],
        until: (payload) => {
          if (!payload.startsWith(expected) && !payload.startsWith('{"op":"error"')) return false;
          reply = payload;
          return true;
        },
      },
    ],
    timeoutMs,
  );
  if (!reply.startsWith(expected)) throw new Error(`${String(op.op)}: ${reply.slice(0, 200)}`);
  return reply;
}
