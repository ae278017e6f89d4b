// A load generator process for the presence scenario (S8), from one source address: `watch` holds sessions subscribed
// with joinLeave and tells whether what they heard matches `presence`, `churn` keeps sessions subscribing to and
// unsubscribing from one topic, `connect` keeps opening sessions and closing them.

import { subscribeWatchers, type Watcher } from './join-leave-watchers.js';
import { openSession, request } from './mesh-session.js';
import { answerStats } from './process-stats.js';
import type { RawWsClient } from './raw-ws-client.js';

export interface PresenceLoadSpec {
  mode: 'watch' | 'churn' | 'connect';
  url: string;
  topic: string;
  /** watch, churn: sessions; connect: connects in progress at once. */
  count: number;
  localAddress: string;
}

export interface PresenceLoadCounts {
  /** watch: join / leave heard; churn: sub+unsub pairs answered; connect: sessions welcomed. */
  done: number;
  failures: number;
  firstFailure?: string;
}

/** watch: how many watchers' views are the members a `presence` answer lists (all of them: at most 1,000). */
export interface WatchCheck {
  members: number;
  matching: number;
}

const spec = JSON.parse(process.argv[2]!) as PresenceLoadSpec;
const clients: RawWsClient[] = [];
let watchers: Watcher[] = [];
/** watch: the session that asks `presence` (and checked the watchers hear). */
let checker: RawWsClient | undefined;
let done = 0;
let failures = 0;
let firstFailure: string | undefined;
let running = false;
let loops: Array<Promise<void>> = [];

function failed(error: unknown): void {
  failures++;
  firstFailure ??= (error as Error).message;
}

function counts(): PresenceLoadCounts {
  const heard = spec.mode === 'watch' ? watchers.reduce((sum, watcher) => sum + watcher.heard, 0) : done;
  return { done: heard, failures, ...(firstFailure ? { firstFailure } : {}) };
}

/** One churning session: a failed request ends its loop, so a refusal is counted once instead of spinning. */
async function churn(client: RawWsClient): Promise<void> {
  let id = 0;
  try {
    while (running) {
      await request(client, { op: 'sub', id: ++id, topic: spec.topic }, 'subok');
      await request(client, { op: 'unsub', id: ++id, topic: spec.topic }, 'unsubok');
      done++;
    }
  } catch (error) {
    failed(error);
  }
}

async function connectLoop(): Promise<void> {
  while (running) {
    try {
      (await openSession(spec.url, spec.localAddress)).close();
      done++;
    } catch (error) {
      failed(error);
    }
  }
}

async function check(): Promise<WatchCheck> {
  const answer = await request(checker!, { op: 'presence', id: 1, topic: spec.topic }, 'presenceok');
  const members = new Set(
    (JSON.parse(answer) as { members: Array<{ session: string }> }).members.map((m) => m.session),
  );
  return { members: members.size, matching: watchers.filter((watcher) => watcher.sees(members)).length };
}

if (spec.mode === 'watch') {
  clients.push(
    ...(await Promise.all(Array.from({ length: spec.count }, () => openSession(spec.url, spec.localAddress)))),
  );
  checker = await openSession(spec.url, spec.localAddress);
  watchers = await subscribeWatchers(clients, checker, spec.topic);
} else if (spec.mode === 'churn') {
  for (let opened = 0; opened < spec.count; opened += 50) {
    const batch = Math.min(50, spec.count - opened);
    clients.push(...(await Promise.all(Array.from({ length: batch }, () => openSession(spec.url, spec.localAddress)))));
  }
}

answerStats();
process.send!({ ready: counts() });
process.on('message', (message) => {
  if (message === 'count') process.send!({ counts: counts() });
  if (message === 'check') void check().then((checked) => process.send!({ checked }));
  if (message === 'start') {
    running = true;
    loops =
      spec.mode === 'churn'
        ? clients.map(churn)
        : spec.mode === 'connect'
          ? Array.from({ length: spec.count }, connectLoop)
          : [];
    process.send!({ started: counts() });
  }
  if (message === 'stop') {
    running = false;
    // Every loop finishes the pair or connect it is in: a churning session is no longer a member once this answers.
    void Promise.all(loops).then(() => process.send!({ stopped: counts() }));
  }
});
process.on('disconnect', () => {
  running = false;
  for (const client of clients) client.close();
  checker?.close();
  process.exit(0);
});
