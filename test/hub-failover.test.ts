// Losing a hub for real (docs/protocol.md §6, `edges[].hub`): the hub runs as a process of its own, its uplink through
// a counting TCP proxy (the WAN), and dies by SIGKILL under steady publishing. The edges behind it fail over straight
// to the core, and their clients notice nothing: no message lost or doubled, every publish acknowledged, no client
// socket closed (§2: publishes held across an outage, streams resumed from their positions; a publish resent to the
// core after the hub died is not sequenced twice).

import test, { type ExecutionContext } from 'ava';
import { startEdge } from '../edge/start-edge.js';
import { DEADLINE_MS } from './helpers/cli.js';
import { startHubProcess, type HubProcessRegion } from './helpers/hub-process.js';
import { fastUplink, silentLogger } from './helpers/mesh.js';
import { RawClient, type Op } from './helpers/raw-client.js';
import { within } from './helpers/within.js';

const topic = 'orders.eu';
/** Publishes in all, and at most in flight at once: steady publishing, each sent as soon as the oldest is answered. */
const total = 300;
const window = 8;
/** Generous: a failover on a loaded machine. */
const failoverMs = 60_000;
/**
 * Fast reconnects, but the default heartbeat: the hub is a process of its own on a loaded machine, where a 200 ms ping
 * (or a welcome within 400 ms) can be missed, and a killed hub is noticed by its closed sockets anyway.
 */
const uplink = { ...fastUplink, heartbeatMs: 2000 };

/** Resolves once `done()` holds, checked after each message `client` receives; rejects at the deadline. */
async function until(client: RawClient, done: () => boolean, what: string, ms = DEADLINE_MS): Promise<void> {
  let onMessage: (() => void) | undefined;
  try {
    await within(
      new Promise<void>((resolve) => {
        // Added after RawClient's own listener, so the message is already in `received` when this runs.
        onMessage = () => {
          if (done()) resolve();
        };
        client.ws.on('message', onMessage);
        onMessage();
      }),
      what,
      ms,
    );
  } finally {
    if (onMessage) client.ws.off('message', onMessage);
  }
}

/** RawClient.connected and subscribe, with the generous deadline (theirs is 10 s). */
async function connected(t: ExecutionContext, url: string): Promise<RawClient> {
  const client = await RawClient.open(t, url);
  client.send({ op: 'connect' });
  await client.next((op) => op.op === 'welcome', DEADLINE_MS);
  return client;
}

function subscribe(client: RawClient, id: string): Promise<Op> {
  client.send({ op: 'sub', id, topic });
  return client.next((op) => op.id === id, DEADLINE_MS);
}

const msgs = (client: RawClient): Op[] => client.received.filter((op) => op.op === 'msg');
const numberOf = (op: Op): number => (op.data as { n: number }).n;
const upTo = (count: number): number[] => Array.from({ length: count }, (_, i) => i + 1);

/** A client publishing `{ n }` with id n, and its replies by id (they may come in any order). */
class Publisher {
  readonly replies = new Map<number, Op>();
  private seen = 0;

  constructor(readonly client: RawClient) {
    client.ws.on('message', () => this.collect());
  }

  send(n: number): void {
    this.client.send({ op: 'pub', id: n, topic, data: { n } });
  }

  reply(n: number, ms = failoverMs): Promise<void> {
    return until(this.client, () => (this.collect(), this.replies.has(n)), `the reply to publish ${n}`, ms);
  }

  private collect(): void {
    for (; this.seen < this.client.received.length; this.seen++) {
      const op = this.client.received[this.seen]!;
      if ((op.op === 'puback' || op.op === 'error') && typeof op.id === 'number') this.replies.set(op.id, op);
    }
  }
}

interface Scene extends HubProcessRegion {
  edgeIds: string[];
  /** Three on each edge behind the hub, subscribed to `topic`. */
  subscribers: RawClient[];
  /** On the first edge behind the hub. */
  publisher: Publisher;
  /** Every client socket that closed. */
  closed: Set<RawClient>;
  /** Resolves once the core's view shows the hub's uplink, and every edge behind it with no uplink of its own. */
  behindTheHub(): Promise<unknown>;
}

async function scene(t: ExecutionContext): Promise<Scene> {
  const region = await startHubProcess(t, {
    uplink,
    // One publisher sends every message: above the per-session rate, which is not what these tests are about.
    limits: { messagesPerSecond: 100_000, messageBurst: 100_000 },
  });
  const { core, edges } = region;
  const edgeIds = edges.map((edge) => edge.id);
  const behindTheHub = (): Promise<unknown> =>
    core.meshUntil(
      (view) =>
        core.uplinks.has('eu-hub') &&
        edgeIds.every(
          (id) => !core.uplinks.has(id) && view.edges.some((edge) => edge.id === id && edge.core === 'eu-hub'),
        ),
      DEADLINE_MS,
    );
  await behindTheHub();
  t.true(region.wan.totalConnections >= 1, 'the hub dialled the core through the WAN proxy');
  for (const edge of edges) t.is(edge.uplink.coreId, 'eu-hub', `${edge.id} is behind the hub`);

  const subscribers: RawClient[] = [];
  for (const edge of edges) for (let i = 0; i < 3; i++) subscribers.push(await connected(t, edge.url));
  const publisher = new Publisher(await connected(t, edges[0]!.url));
  const closed = new Set<RawClient>();
  for (const client of [...subscribers, publisher.client]) void client.closed.then(() => closed.add(client));
  const answers = await Promise.all(subscribers.map((client) => subscribe(client, 'sub')));
  for (const answer of answers) t.like(answer, { op: 'subok', topic, offset: 0 });
  return { ...region, edgeIds, subscribers, publisher, closed, behindTheHub };
}

/** Publishes `from`..`to` steadily, `window` in flight at most; returns with the last `window` still unanswered. */
async function publishSteadily(publisher: Publisher, from: number, to: number, at?: (n: number) => Promise<void>) {
  for (let n = from; n <= to; n++) {
    if (n > window) await publisher.reply(n - window);
    publisher.send(n);
    await at?.(n);
  }
}

/**
 * Once every publish is answered: each acknowledged once, in order, in one epoch; then one more, whose offset comes
 * after any message sequenced twice, so that once a subscriber has it, it has everything it will ever get before it:
 * each message exactly once, in order. The edges are on the core now, and no client socket closed.
 */
async function checkNothingLost(t: ExecutionContext, scene: Scene, subscribers = scene.subscribers): Promise<void> {
  const { core, wan, hub, edges, edgeIds, publisher, closed } = scene;
  for (let n = 1; n <= total; n++) await publisher.reply(n);
  t.like(await within(hub.exited, 'the hub process exited', failoverMs), { signal: 'SIGKILL' });

  const refused = [...publisher.replies.values()].filter((op) => op.op !== 'puback');
  t.deepEqual(refused, [], 'every publish was acknowledged');
  const acked = upTo(total).map((n) => publisher.replies.get(n)!);
  const epoch = acked[0]!.epoch as string;
  t.true(
    acked.every((op) => op.epoch === epoch),
    'one epoch: the stream kept its history',
  );
  t.deepEqual(
    acked.map((op) => op.offset),
    upTo(total),
    'each publish sequenced once, in the order sent',
  );

  const last = total + 1;
  publisher.send(last);
  await publisher.reply(last);
  t.like(publisher.replies.get(last), { op: 'puback', epoch, offset: last });
  await Promise.all(
    subscribers.map((client, index) =>
      until(
        client,
        () => msgs(client).some((op) => numberOf(op) === last),
        `subscriber ${index} got the last message`,
        failoverMs,
      ),
    ),
  );
  subscribers.forEach((client, index) => {
    const received = msgs(client);
    const who = `subscriber ${index}`;
    t.deepEqual(received.map(numberOf), upTo(last), `${who}: each message exactly once, in order`);
    t.deepEqual(
      received.map((op) => op.offset),
      upTo(last),
      `${who}: consecutive offsets`,
    );
    t.true(
      received.every((op) => op.epoch === epoch),
      `${who}: one epoch`,
    );
    t.deepEqual(
      client.received.filter((op) => op.op === 'reset' || op.op === 'error' || op.op === 'redirect'),
      [],
      `${who}: no reset, error or redirect`,
    );
  });

  // The edges hold uplinks of their own now, straight to the core, and the hub's is gone.
  await core.meshUntil(
    (view) =>
      edgeIds.every((id) => view.edges.some((edge) => edge.id === id && edge.core === 'central')) &&
      !view.edges.some((edge) => edge.id === 'eu-hub'),
    failoverMs,
  );
  for (const edge of edges) {
    t.true(core.uplinks.has(edge.id), `${edge.id} connected straight to the core`);
    t.is(edge.uplink.coreId, 'central');
    t.is(edge.sessionCount, edge === edges[0] ? 4 : 3, `${edge.id} kept its clients`);
  }
  t.false(core.uplinks.has('eu-hub'));
  t.is(wan.connections, 0, "nothing crosses the dead hub's WAN link");

  t.is(closed.size, 0, 'no client socket closed');
  t.true(
    [...scene.subscribers, publisher.client].every((client) => client.ws.readyState === client.ws.OPEN),
    'every client socket still open',
  );
}

test('three edges behind a hub, the hub killed (SIGKILL) under steady publishing: 0 lost, 0 duplicated, no client socket closed', async (t) => {
  const mesh = await scene(t);
  const killAt = 100;
  await publishSteadily(mesh.publisher, 1, total, async (n) => {
    if (n !== killAt) return;
    // Well under way through the hub: every subscriber has had messages from it.
    await Promise.all(mesh.subscribers.map((client) => client.messages(killAt / 2, failoverMs)));
    await mesh.behindTheHub();
    mesh.hub.process.kill('SIGKILL');
  });
  await checkNothingLost(t, mesh);
});

test('the hub killed after the core sequenced publishes it never answered: the edge resends them straight to the core, sequenced once, and the messages the hub never passed on are recovered', async (t) => {
  const mesh = await scene(t);
  // Sees the stream straight from the core: when it has a message, the core sequenced it.
  const direct = await startEdge({
    id: 'eu-direct',
    region: 'eu',
    cores: [{ id: 'central', url: mesh.core.url }],
    uplink,
    logger: silentLogger,
  });
  t.teardown(() => direct.close());
  await direct.ready(DEADLINE_MS);
  const observer = await connected(t, direct.url);
  t.like(await subscribe(observer, 'sub'), { op: 'subok' });

  const before = 50;
  await publishSteadily(mesh.publisher, 1, before);
  for (let n = before - window + 1; n <= before; n++) await mesh.publisher.reply(n);
  await Promise.all([...mesh.subscribers, observer].map((client) => client.messages(before, failoverMs)));

  // From now on nothing the core sends reaches the hub: neither its acknowledgements nor its messages.
  mesh.wan.blackhole(true, 'fromTarget');
  for (let n = before + 1; n <= before + window; n++) mesh.publisher.send(n);
  await observer.messages(before + window, failoverMs);
  t.is(mesh.publisher.replies.size, before, 'the publishes the core sequenced through the hub are not answered yet');
  t.true(
    mesh.subscribers.every((client) => msgs(client).length === before),
    'and their messages did not come back through the hub',
  );
  mesh.hub.process.kill('SIGKILL');

  await publishSteadily(mesh.publisher, before + window + 1, total);
  await checkNothingLost(t, mesh, [...mesh.subscribers, observer]);
});
