// S8 presence, part 2: members held on a topic while other sessions keep subscribing and unsubscribing (a pair is one
// join and one leave): pairs per second until the core has them all, CPU per pair, how fast `presence` answers; and on
// a topic under the event cap, the join / leave watchers hear, and how soon what they heard matches `presence` again.

import { setTimeout as delay } from 'node:timers/promises';
import hdr from 'hdr-histogram-js';
import { startCandidate, type Candidate } from './candidate.js';
import { startLoad, type Load } from './load.js';
import { openSession, request } from './mesh-session.js';
import { eventually, startPresenceLoad, type PresenceLoad } from './presence-load.js';
import type { RawWsClient } from './raw-ws-client.js';

export interface PresenceChurnSizes {
  /** Members held on the large topic, over the event cap. */
  members: number;
  /** Members held on the small topic, under the cap, and the watchers that subscribed there with joinLeave. */
  smallMembers: number;
  watchers: number;
  /** Sessions subscribing and unsubscribing in a loop, and for how long. */
  churners: number;
  durationMs: number;
  /** `presence` questions timed one after another, per topic. */
  queries: number;
}

export interface PresenceChurnRow {
  kind: 'churn';
  /** Members held throughout (watchers included); the churning sessions come and go on top. */
  members: number;
  watchers: number;
  churners: number;
  pairs: number;
  failures: number;
  firstFailure?: string;
  /** From the start of the churn until a `presence` answer counted only the held members again. */
  seconds: number;
  /** Of those, after the churning sessions had their last `unsubok`: how far behind the core was. */
  settleMs: number;
  edgeMicrosPerPair: number;
  coreMicrosPerPair: number;
  /** The churning sessions' load process: the client side's share of the 2 cores. */
  clientMicrosPerPair: number;
  /** With watchers: join / leave delivered to them while the churn ran, per second (all watchers together). */
  eventsPerSecond?: number;
  /** Watchers whose view (a `presence` answer, then what they heard) was the members listed, within 30 s of the end. */
  watchersMatching?: number;
  /** From the churn's end until every watcher's view was those members; undefined: not within 30 s. */
  convergedMs?: number;
}

export interface PresenceQueryRow {
  kind: 'query';
  members: number;
  queries: number;
  /** The last answer's count, and how many members it listed. */
  count: number;
  listed: number;
  p50Ms: number;
  p99Ms: number;
}

const largeTopic = 'bench.presence.large';
const smallTopic = 'bench.presence.small';

interface PresenceAnswer {
  count: number;
  members: unknown[];
}

async function ask(asker: RawWsClient, topic: string): Promise<PresenceAnswer> {
  return JSON.parse(await request(asker, { op: 'presence', id: 1, topic }, 'presenceok')) as PresenceAnswer;
}

/** `presence` one question at a time, timed from sending it to the answer's last byte in (read, not yet parsed). */
async function timeQueries(
  asker: RawWsClient,
  topic: string,
  members: number,
  queries: number,
): Promise<PresenceQueryRow> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000 });
  let text = '';
  for (let i = 0; i < queries; i++) {
    const started = performance.now();
    text = await request(asker, { op: 'presence', id: 1, topic }, 'presenceok');
    histogram.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
  }
  const answer = JSON.parse(text) as PresenceAnswer;
  return {
    kind: 'query',
    members,
    queries,
    count: answer.count,
    listed: answer.members.length,
    p50Ms: histogram.getValueAtPercentile(50) / 1000,
    p99Ms: histogram.getValueAtPercentile(99) / 1000,
  };
}

/** The core has every join and leave once it counts `members`: its `presence` answer follows them on the uplink. */
async function settle(asker: RawWsClient, topic: string, members: number): Promise<void> {
  if (!(await eventually(async () => (await ask(asker, topic)).count === members, 60_000)))
    throw new Error(`presence on ${topic} did not come back to ${members} members within 60 s`);
}

/** Waits until every watcher's view is the members `presence` lists; false past 30 s. */
async function converge(watch: PresenceLoad, watchers: number): Promise<{ matching: number; converged: boolean }> {
  let matching = 0;
  const converged = await eventually(async () => (matching = (await watch.check()).matching) === watchers, 30_000);
  return { matching, converged };
}

async function churnPhase(
  candidate: Candidate,
  asker: RawWsClient,
  topic: string,
  members: number,
  watch: { load: PresenceLoad; watchers: number } | undefined,
  size: PresenceChurnSizes,
): Promise<PresenceChurnRow> {
  const churn = await startPresenceLoad({ mode: 'churn', url: candidate.url, topic, count: size.churners });
  try {
    const heardBefore = watch ? (await watch.load.counts()).done : 0;
    const [before, churnBefore] = await Promise.all([candidate.stats(), churn.stats()]);
    const started = performance.now();
    await churn.start();
    await delay(size.durationMs);
    const { done: pairs, failures, firstFailure } = await churn.stop();
    const stopped = performance.now();
    const heardWhileChurning = watch ? (await watch.load.counts()).done - heardBefore : 0;
    await settle(asker, topic, members);
    const settled = performance.now();
    const [after, churnAfter] = await Promise.all([candidate.stats(), churn.stats()]);
    const row: PresenceChurnRow = {
      kind: 'churn',
      members,
      watchers: watch?.watchers ?? 0,
      churners: size.churners,
      pairs,
      failures,
      ...(firstFailure ? { firstFailure } : {}),
      seconds: (settled - started) / 1000,
      settleMs: settled - stopped,
      edgeMicrosPerPair: (after.server.cpuMicros - before.server.cpuMicros) / pairs,
      coreMicrosPerPair: (after.core!.cpuMicros - before.core!.cpuMicros) / pairs,
      clientMicrosPerPair: (churnAfter.cpuMicros - churnBefore.cpuMicros) / pairs,
    };
    if (!watch) return row;
    const { matching, converged } = await converge(watch.load, watch.watchers);
    return {
      ...row,
      eventsPerSecond: heardWhileChurning / ((stopped - started) / 1000),
      watchersMatching: matching,
      ...(converged ? { convergedMs: performance.now() - stopped } : {}),
    };
  } finally {
    await churn.end();
  }
}

export async function presenceChurn(
  size: PresenceChurnSizes,
  progress: (line: string) => void,
): Promise<Array<PresenceChurnRow | PresenceQueryRow>> {
  const candidate = await startCandidate('relaymesh');
  const loads: Load[] = [];
  let watch: PresenceLoad | undefined;
  let asker: RawWsClient | undefined;
  try {
    const rows: Array<PresenceChurnRow | PresenceQueryRow> = [];
    asker = await openSession(candidate.url);
    progress(`S8 presence: ${size.members} members, ${size.churners} sessions subscribing and unsubscribing`);
    loads.push(await startLoad('relaymesh', candidate.url, largeTopic, size.members));
    await settle(asker, largeTopic, size.members);
    rows.push(await timeQueries(asker, largeTopic, size.members, size.queries));
    rows.push(await churnPhase(candidate, asker, largeTopic, size.members, undefined, size));

    const small = size.smallMembers + size.watchers;
    progress(`S8 presence: ${small} members, ${size.watchers} of them watching joins and leaves`);
    watch = await startPresenceLoad({ mode: 'watch', url: candidate.url, topic: smallTopic, count: size.watchers });
    loads.push(await startLoad('relaymesh', candidate.url, smallTopic, size.smallMembers));
    await settle(asker, smallTopic, small);
    // The members' joins reach the watchers at the topic's announcement budget: all of them before the churn.
    const { matching } = await converge(watch, size.watchers);
    if (matching !== size.watchers)
      throw new Error(`${size.watchers - matching} of ${size.watchers} watchers do not see the topic's members`);
    rows.push(await timeQueries(asker, smallTopic, small, size.queries));
    rows.push(await churnPhase(candidate, asker, smallTopic, small, { load: watch, watchers: size.watchers }, size));
    return rows;
  } finally {
    asker?.close();
    await watch?.end();
    await Promise.all(loads.map((load) => load.stop()));
    candidate.stop();
  }
}
