// Attack 1, replay amplification: clients subscribe to a topic with a long history from its very start and unsubscribe
// again, over and over, so that each request of a few bytes asks the mesh to replay megabytes.

import { AttackSocket, ClosedError, type AttackRequest } from './attack-socket.js';
import { pause, sourceAddress, type Attack, type AttackContext } from './attack-context.js';

export const replayTopic = 'replay.t';
const clients = 20;
/** After `rate_limited`, wait this long: refusals cost tokens too, and a client deep in debt is cut (4529). */
const refusedBackoffMs = 20;

export const replayAttack: Attack = async (context) => {
  await Promise.all(Array.from({ length: clients }, (_, i) => attacker(context, i)));
};

/** One attacking client: reconnects whenever it is closed, until the attack ends. */
async function attacker(context: AttackContext, index: number): Promise<void> {
  const { signal, counts } = context;
  for (let opened = 0; !signal.aborted; opened++) {
    let socket: AttackSocket;
    try {
      socket = await AttackSocket.open({ url: context.edgeUrl, localAddress: sourceAddress(index) });
    } catch (error) {
      counts.add(`open refused: ${(error as Error).message}`);
      await pause(100, signal);
      continue;
    }
    if (opened > 0) counts.add('reconnects');
    const stop = (): void => socket.close();
    signal.addEventListener('abort', stop, { once: true });
    try {
      while (!signal.aborted) {
        await step(context, socket, { op: 'sub', topic: replayTopic, since: { epoch: context.epoch, offset: 0 } });
        await step(context, socket, { op: 'unsub', topic: replayTopic });
      }
    } catch (error) {
      if (!(error instanceof ClosedError)) throw error;
      if (!signal.aborted) counts.add(`closed ${error.code}`);
    } finally {
      signal.removeEventListener('abort', stop);
      socket.close();
    }
  }
}

/** Sends `op` until it is not refused for the rate; counts how it was answered. */
async function step(context: AttackContext, socket: AttackSocket, op: AttackRequest): Promise<void> {
  while (!context.signal.aborted) {
    const answer = await socket.request(op);
    if (answer.op === 'error') {
      context.counts.add(`${op.op} error ${answer.code}`);
      if (answer.code !== 'rate_limited') return;
      await pause(refusedBackoffMs, context.signal);
      continue;
    }
    context.counts.add(answer.op === 'subok' ? `subok recovered ${answer.recovered}` : answer.op);
    return;
  }
}
