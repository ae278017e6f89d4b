// S8 presence, part 1: what presence costs the fan-out. S2's measurement on one topic whose subscribers are all members
// (any exact `sub` is), with a few of them resubscribed with or without `joinLeave` between cases, on the same
// processes and sockets: only the flag differs. The topic is over the event cap, so no join / leave is sent meanwhile.

import { setTimeout as delay } from 'node:timers/promises';
import { combineLoads, waitForFrames, type Load } from './load.js';
import type { LoadCounts } from './load-process.js';
import { openSession, request } from './mesh-session.js';
import type { RawWsClient } from './raw-ws-client.js';
import { measureCase, type FanoutCase } from './scenarios/fanout.js';
import { withTraffic } from './traffic.js';

export type FanoutVariant = 'plain' | 'joinLeave';

export interface PresenceFanoutRow extends FanoutCase {
  kind: 'fanout';
  variant: FanoutVariant;
  round: number;
  subscribers: number;
  /** Subscribers holding `joinLeave` in the joinLeave variant (a plain `sub` in the other). */
  watchers: number;
  deliveries: number;
  edgeMicrosPerDelivery: number;
  coreMicrosPerDelivery: number;
  deliveriesPerSecond: number;
}

const topic = 'bench.presence.fanout';

/** The switched subscribers live in this process, as the probe does: as a Load, the fan-out waits for them too. */
function switchedLoad(clients: RawWsClient[]): Load {
  const counts = async (): Promise<LoadCounts> => ({
    frames: clients.reduce((sum, client) => sum + client.frames, 0),
    bytes: clients.reduce((sum, client) => sum + client.bytes, 0),
    open: clients.length,
    subscribed: clients.length,
  });
  return {
    counts,
    waitForFrames: (frames, timeoutMs) => waitForFrames('relaymesh', counts, frames, timeoutMs),
    stopChurn: async () => undefined,
    stop: async () => clients.forEach((client) => client.close()),
  };
}

/** Resubscribes each switched subscriber, with `joinLeave` or without (their frame counts restart from zero). */
async function switchTo(variant: FanoutVariant, clients: RawWsClient[]): Promise<void> {
  for (const client of clients) {
    await request(client, { op: 'unsub', id: 1, topic }, 'unsubok');
    await request(
      client,
      { op: 'sub', id: 2, topic, ...(variant === 'joinLeave' ? { joinLeave: true } : {}) },
      'subok',
    );
  }
}

/**
 * Waits until the joins of the topic's first 1,000 members (the load's) have all been announced: a core announces at
 * most limits.presenceEventsPerSecond (100), so that goes on for seconds after the load is in, and would reach the
 * watchers of whichever variant measures first. A watcher of its own hears them: a second of silence, and none is
 * left.
 */
async function announcementsDone(url: string): Promise<void> {
  const listener = await openSession(url);
  try {
    await request(listener, { op: 'sub', id: 1, topic, joinLeave: true }, 'subok');
    const deadline = performance.now() + 60_000;
    let heard = listener.frames;
    let since = performance.now();
    while (performance.now() - since < 1000) {
      if (performance.now() > deadline) throw new Error(`joins on ${topic} still announced after 60 s`);
      await delay(100);
      if (listener.frames !== heard) {
        heard = listener.frames;
        since = performance.now();
      }
    }
  } finally {
    listener.close();
  }
}

/** `subscribers` counts every receiver: the load's, the probe and the `watchers` switched ones. */
export async function presenceFanout(
  subscribers: number,
  watchers: number,
  cases: FanoutCase[],
  rounds: number,
  progress: (line: string) => void,
): Promise<PresenceFanoutRow[]> {
  return withTraffic('relaymesh', topic, subscribers - 1 - watchers, async (traffic) => {
    const switched: RawWsClient[] = [];
    const load = combineLoads('relaymesh', [traffic.load, switchedLoad(switched)]);
    try {
      for (let i = 0; i < watchers; i++) {
        switched.push(await openSession(traffic.candidate.url));
        await request(switched[i]!, { op: 'sub', id: 2, topic }, 'subok');
      }
      await announcementsDone(traffic.candidate.url);
      const rows: PresenceFanoutRow[] = [];
      let seq = 0;
      for (let round = 0; round < rounds; round++) {
        // Which variant goes first alternates, so drift on the machine favours neither.
        for (const variant of round % 2 ? (['joinLeave', 'plain'] as const) : (['plain', 'joinLeave'] as const)) {
          await switchTo(variant, switched);
          for (const fanoutCase of cases) {
            progress(
              `S8 presence fan-out: ${subscribers} subscribers, ${variant}, ${fanoutCase.inFlight} in flight, round ${round + 1}`,
            );
            const cost = await measureCase({ ...traffic, load }, subscribers, fanoutCase, seq);
            seq += cost.messages;
            rows.push({
              kind: 'fanout',
              variant,
              round,
              subscribers,
              watchers,
              ...fanoutCase,
              deliveries: cost.deliveries,
              edgeMicrosPerDelivery: cost.serverMicrosPerDelivery,
              // relaymesh always has a core.
              coreMicrosPerDelivery: cost.coreMicrosPerDelivery!,
              deliveriesPerSecond: cost.deliveriesPerSecond,
            });
          }
        }
      }
      return rows;
    } finally {
      for (const client of switched) client.close();
    }
  });
}
