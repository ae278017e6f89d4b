// Backend hooks (docs/protocol.md §9) against a real HTTP backend: connect, subscribe, publish and presence asked and
// enforced; refusals, timeouts, bad answers and a dead backend failing closed; the pending limits; metrics; logs.

import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { SignJWT } from 'jose';
import type { Logger } from 'pino';
import { NodeMeshClient } from '../client/node.js';
import type { EdgeHandle } from '../edge/start-edge.js';
import type { HookName, HooksConfig, LimitsConfig } from '../shared/topology.js';
import { capturedLog } from './helpers/captured-log.js';
import { startMesh } from './helpers/mesh.js';
import { RawClient, type Op } from './helpers/raw-client.js';
import { firstMatch, within } from './helpers/within.js';

// ---------------------------------------------------------------------------------------------------------------
// The backend: a real node:http server that records every hook call and answers as the test decides.

/** An HTTP answer to a hook call. */
interface Answer {
  status: number;
  body: string;
}
/** What the backend does with a call: answer it now, or hold it (never answer, unless the test answers it later). */
type Reply = Answer | 'hold';

interface HookCall {
  hook: HookName;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** Answers a held call. */
  answer(reply: Answer): void;
}

const json = (value: unknown, status = 200): Answer => ({ status, body: JSON.stringify(value) });
const allow = (extra: Record<string, unknown> = {}): Answer => json({ allow: true, ...extra });
const refuse = (message = 'refused by the test backend'): Answer => json({ allow: false, message });

/** The topology's hooks pointing at a backend on `port`: all three unless `only` names some. */
function hooksAt(
  port: number,
  timeoutMs: number,
  only: readonly HookName[] = ['connect', 'subscribe', 'publish'],
): HooksConfig {
  const hooks: HooksConfig = { timeoutMs };
  for (const hook of only) hooks[hook] = `http://127.0.0.1:${port}/rm/${hook}`;
  return hooks;
}

class Backend {
  readonly calls: HookCall[] = [];
  /** Decides each call; tests replace it. Default: allow everything. */
  decide: (call: HookCall) => Reply = () => allow();
  private readonly arrivals: Array<() => void> = [];

  constructor(
    private readonly server: Server,
    readonly port: number,
  ) {
    server.on('request', (req, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const call: HookCall = {
          hook: req.url!.split('/').pop() as HookName,
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
          answer: ({ status, body }) => {
            if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json' }).end(body);
          },
        };
        this.calls.push(call);
        for (const wake of this.arrivals.splice(0)) wake();
        const reply = this.decide(call);
        if (reply !== 'hold') call.answer(reply);
      });
    });
  }

  /** The first call to `hook` (already made or still to come) that matches. */
  call(hook: HookName, match: (body: Record<string, unknown>) => boolean = () => true): Promise<HookCall> {
    return firstMatch(this.calls, this.arrivals, (call) => call.hook === hook && match(call.body), `a ${hook} call`);
  }

  /** Resolves once `count` calls to `hook` have come. */
  async calledTimes(hook: HookName, count: number): Promise<void> {
    await firstMatch(this.calls, this.arrivals, () => this.callsTo(hook).length >= count, `${count} ${hook} calls`);
  }

  callsTo(hook: HookName, topic?: string): HookCall[] {
    return this.calls.filter((call) => call.hook === hook && (topic === undefined || call.body.topic === topic));
  }

  /** Stops listening and drops every connection, held calls included: the edge sees a dead backend. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = once(this.server, 'close');
    this.server.close();
    this.server.closeAllConnections();
    await closed;
  }
}

/** A backend on 127.0.0.1 (on `port`, to come back where a closed one was), closed in teardown. */
async function startBackend(t: ExecutionContext, port = 0): Promise<Backend> {
  const server = createServer();
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const backend = new Backend(server, (server.address() as AddressInfo).port);
  t.teardown(() => backend.close());
  return backend;
}

/** A port nothing listens on (it did a moment ago): connecting to it is refused. */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

// ---------------------------------------------------------------------------------------------------------------
// The edge and its clients.

/**
 * A hook timeout no answering backend reaches on a loaded machine: only the timeout tests use a short one, and there
 * the backend never answers at all.
 */
const patientMs = 60_000;
const hookKey = 'k1';

interface EdgeSetup {
  timeoutMs?: number;
  only?: readonly HookName[];
  limits?: Partial<LimitsConfig>;
  logger?: Logger;
  key?: string;
}

/** One core and one edge (eu-1) asking the hooks of the backend on `backend.port`, with the key `k1`. */
async function hookedEdge(t: ExecutionContext, backend: { port: number }, setup: EdgeSetup = {}): Promise<EdgeHandle> {
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    ...(setup.logger ? { core: { logger: setup.logger } } : {}),
    edge: {
      hooks: hooksAt(backend.port, setup.timeoutMs ?? patientMs, setup.only),
      hookKey: setup.key ?? hookKey,
      ...(setup.limits ? { limits: setup.limits } : {}),
      ...(setup.logger ? { logger: setup.logger } : {}),
    },
  });
  return mesh.edges[0]!;
}

interface Connect {
  headers?: Record<string, string>;
  token?: string;
  localAddress?: string;
}

/** Opens a socket and sends `connect` (its answer is the test's to wait for). */
async function opened(t: ExecutionContext, edge: EdgeHandle, connect: Connect = {}): Promise<RawClient> {
  const client = await RawClient.open(t, edge.url, 'json', connect.headers ?? {}, connect.localAddress);
  client.send(connect.token === undefined ? { op: 'connect' } : { op: 'connect', token: connect.token });
  return client;
}

/** A client the edge (and so the connect hook, when there is one) welcomed; `session` is the welcome's. */
async function welcomed(
  t: ExecutionContext,
  edge: EdgeHandle,
  connect: Connect = {},
): Promise<{ client: RawClient; session: string }> {
  const client = await opened(t, edge, connect);
  const welcome = await client.next((op) => op.op === 'welcome' || op.op === 'error');
  t.is(welcome.op, 'welcome', 'the client is welcomed');
  return { client, session: String(welcome.session) };
}

/** Sends `op` (with `id`) and waits for the answer carrying that id. */
function ask(client: RawClient, op: Record<string, unknown> & { id: string }): Promise<Op> {
  client.send(op);
  return client.next((answer) => answer.id === op.id);
}

/** The close a refused or failed connect ends in, with the deadline. */
function closeOf(client: RawClient): Promise<{ code: number; reason: string }> {
  return within(client.closed, 'the close of a client');
}

/** The connection is still open and served: a `ping` gets its `pong`. */
async function stillServed(t: ExecutionContext, client: RawClient, id: string): Promise<void> {
  t.like(await ask(client, { op: 'ping', id }), { op: 'pong', id });
}

/** Reads the edge's /metrics; `value` is a sample's (0 when prom-client has not written it: never counted). */
async function metricsOf(edge: EdgeHandle): Promise<{ value(name: string, labels: Record<string, string>): number }> {
  const response = await fetch(`${edge.url.replace(/^ws/, 'http')}/metrics`);
  const text = await response.text();
  return {
    value(name, labels) {
      for (const line of text.split('\n')) {
        const match = /^([a-z_]+)\{([^}]*)\} (\S+)$/.exec(line);
        if (match?.[1] !== name) continue;
        const have = Object.fromEntries([...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => [k, v]));
        if (Object.entries(labels).every(([key, value]) => have[key] === value)) return Number(match[3]);
      }
      return 0;
    },
  };
}

const calls = 'relaymesh_edge_hook_calls_total';
const failures = 'relaymesh_edge_hook_failures_total';

// ---------------------------------------------------------------------------------------------------------------
// Allowing, and what the backend is told.

test('allowed: every hook is called with the key and the documented body, and traffic flows', async (t) => {
  const backend = await startBackend(t);
  const edge = await hookedEdge(t, backend);

  const subscriber = await welcomed(t, edge, { headers: { 'x-app-trace': 'trace-7' }, token: 'client-token-1' });
  const connect = await backend.call('connect', (body) => body.session === subscriber.session);
  t.is(connect.headers.authorization, 'Bearer k1');
  t.regex(String(connect.headers['content-type']), /^application\/json/);
  t.like(connect.body, { session: subscriber.session, edge: 'eu-1', region: 'eu', ip: '127.0.0.1' });
  t.is(connect.body.token, 'client-token-1', 'the token the client sent is passed through');
  t.is((connect.body.headers as Record<string, string>)['x-app-trace'], 'trace-7', 'the upgrade headers go along');

  // Without a token the body carries none (not `null`, not "").
  const publisher = await welcomed(t, edge);
  const anonymous = await backend.call('connect', (body) => body.session === publisher.session);
  t.false('token' in anonymous.body);

  t.like(await ask(subscriber.client, { op: 'sub', id: 's1', topic: 'room.1' }), { op: 'subok' });
  const subscribe = await backend.call('subscribe');
  t.is(subscribe.headers.authorization, 'Bearer k1');
  t.deepEqual(subscribe.body, { session: subscriber.session, topic: 'room.1' }, 'no user: no token nor hook gave one');

  t.like(await ask(publisher.client, { op: 'pub', id: 'p1', topic: 'room.1', data: { n: 1 } }), { op: 'puback' });
  const publish = await backend.call('publish');
  t.deepEqual(publish.body, { session: publisher.session, topic: 'room.1', data: { n: 1 } });
  t.like(await subscriber.client.next((op) => op.op === 'msg'), { topic: 'room.1', data: { n: 1 } });
});

test('a refused connect closes with 4401 and the backend message; nothing is welcomed', async (t) => {
  const backend = await startBackend(t);
  backend.decide = (call) => (call.hook === 'connect' ? refuse('banned for the test') : allow());
  const edge = await hookedEdge(t, backend);
  const client = await opened(t, edge);
  const { code, reason } = await closeOf(client);
  t.is(code, 4401);
  t.regex(reason, /banned for the test/);
  t.false(client.received.some((op) => op.op === 'welcome'));
});

test('refused sub, pub and presence get forbidden and the connection stays open and served', async (t) => {
  const backend = await startBackend(t);
  backend.decide = (call) => (String(call.body.topic ?? '').startsWith('secret.') ? refuse() : allow());
  const edge = await hookedEdge(t, backend);
  const { client } = await welcomed(t, edge);

  t.like(await ask(client, { op: 'sub', id: 's1', topic: 'secret.1' }), { op: 'error', code: 'forbidden' });
  await stillServed(t, client, 'ping1');
  t.like(await ask(client, { op: 'pub', id: 'p1', topic: 'secret.1', data: 1 }), { op: 'error', code: 'forbidden' });
  await stillServed(t, client, 'ping2');
  t.like(await ask(client, { op: 'presence', id: 'q1', topic: 'secret.1' }), { op: 'error', code: 'forbidden' });
  // A refused subscription was let go: the same topic may be asked for again (and is refused again, not "already").
  t.like(await ask(client, { op: 'sub', id: 's2', topic: 'secret.1' }), { op: 'error', code: 'forbidden' });
  t.like(await ask(client, { op: 'sub', id: 's3', topic: 'open.1' }), { op: 'subok' });
  t.like(await ask(client, { op: 'pub', id: 'p2', topic: 'open.1', data: 2 }), { op: 'puback' });
});

test('presence asks the subscribe hook, unless the session holds the subscription already', async (t) => {
  const backend = await startBackend(t);
  const edge = await hookedEdge(t, backend);
  const member = await welcomed(t, edge);
  const stranger = await welcomed(t, edge);
  t.like(await ask(member.client, { op: 'sub', id: 's1', topic: 'room.1' }), { op: 'subok' });
  t.is(backend.callsTo('subscribe', 'room.1').length, 1);

  t.like(await ask(member.client, { op: 'presence', id: 'q1', topic: 'room.1' }), { op: 'presenceok', count: 1 });
  t.is(backend.callsTo('subscribe', 'room.1').length, 1, 'the member already holds the subscription');

  t.like(await ask(stranger.client, { op: 'presence', id: 'q2', topic: 'room.1' }), { op: 'presenceok', count: 1 });
  const asked = backend.callsTo('subscribe', 'room.1');
  t.is(asked.length, 2, 'a session without the subscription is asked about');
  t.is(asked[1]!.body.session, stranger.session);
});

test('rights from the connect answer: topics act as claims, user names the session to hooks and presence', async (t) => {
  const backend = await startBackend(t);
  // The backend tells who the client is from a header of its upgrade, as an application reads its cookie.
  backend.decide = (call) => {
    if (call.hook !== 'connect') return allow();
    const user = (call.body.headers as Record<string, string>)['x-user'];
    if (user === 'alice') return allow({ user: 'alice', topics: { subscribe: ['a.>'], publish: [] } });
    if (user === 'bob') return allow({ user: 'bob', topics: { subscribe: ['a.>'], publish: ['a.>'] } });
    return allow();
  };
  const edge = await hookedEdge(t, backend);
  const alice = await welcomed(t, edge, { headers: { 'x-user': 'alice' } });
  const bob = await welcomed(t, edge, { headers: { 'x-user': 'bob' } });

  // Outside the rights the edge refuses by itself: the backend is not even asked.
  t.like(await ask(alice.client, { op: 'sub', id: 's1', topic: 'b.1' }), { op: 'error', code: 'forbidden' });
  t.like(await ask(alice.client, { op: 'pub', id: 'p1', topic: 'a.1', data: 1 }), { op: 'error', code: 'forbidden' });
  t.like(await ask(alice.client, { op: 'presence', id: 'q0', topic: 'b.1' }), { op: 'error', code: 'forbidden' });
  t.is(backend.callsTo('subscribe', 'b.1').length, 0);
  t.is(backend.callsTo('publish').length, 0);
  await stillServed(t, alice.client, 'ping1');

  t.like(await ask(alice.client, { op: 'sub', id: 's2', topic: 'a.1' }), { op: 'subok' });
  t.deepEqual((await backend.call('subscribe', (body) => body.topic === 'a.1')).body, {
    session: alice.session,
    user: 'alice',
    topic: 'a.1',
  });
  t.like(await ask(bob.client, { op: 'pub', id: 'p2', topic: 'a.1', data: 'hi' }), { op: 'puback' });
  t.deepEqual((await backend.call('publish')).body, { session: bob.session, user: 'bob', topic: 'a.1', data: 'hi' });
  t.like(await alice.client.next((op) => op.op === 'msg'), { topic: 'a.1', data: 'hi' });

  const presence = await ask(bob.client, { op: 'presence', id: 'q1', topic: 'a.1' });
  t.like(presence, { op: 'presenceok', count: 1 });
  t.deepEqual(presence.members, [{ session: alice.session, user: 'alice', edge: 'eu-1' }]);
});

test('with tokens: the token is checked first, then the hook, whose user replaces sub and topics the claims', async (t) => {
  const secret = 'hooks-test-secret-long-enough-for-hs256';
  const mint = (claims: Record<string, unknown>, key = secret): Promise<string> =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(key));
  const backend = await startBackend(t);
  backend.decide = (call) => {
    if (call.hook !== 'connect') return allow();
    const as = (call.body.headers as Record<string, string>)['x-as'];
    if (as === 'renamed') return allow({ user: 'hook-user' });
    if (as === 'narrowed') return allow({ topics: { subscribe: ['t.1'] } });
    return allow();
  };
  const mesh = await startMesh(t, {
    edges: [{ id: 'eu-1', region: 'eu' }],
    edge: { hooks: hooksAt(backend.port, patientMs), hookKey, tokens: { alg: 'HS256' }, tokenSecret: secret },
  });
  const edge = mesh.edges[0]!;
  const token = await mint({ sub: 'token-user', topics: { subscribe: ['t.>'], publish: ['t.>'] } });

  // A forged token is refused by the edge itself: the backend never hears of it.
  const forged = await opened(t, edge, { token: await mint({ sub: 'x' }, `${secret}-not`) });
  t.is((await closeOf(forged)).code, 4401);
  t.is(backend.callsTo('connect').length, 0);

  // Neither user nor topics in the answer: the token's stand.
  const plain = await welcomed(t, edge, { token });
  t.is((await backend.call('connect', (body) => body.session === plain.session)).body.token, token);
  t.like(await ask(plain.client, { op: 'sub', id: 's1', topic: 'u.1' }), { op: 'error', code: 'forbidden' });
  t.like(await ask(plain.client, { op: 'sub', id: 's2', topic: 't.2' }), { op: 'subok' });
  t.like((await backend.call('subscribe', (body) => body.session === plain.session)).body, { user: 'token-user' });

  // The answer's user replaces the token's sub; its topics replace the token's claims.
  const renamed = await welcomed(t, edge, { token, headers: { 'x-as': 'renamed' } });
  t.like(await ask(renamed.client, { op: 'sub', id: 's1', topic: 't.2' }), { op: 'subok' });
  t.like((await backend.call('subscribe', (body) => body.session === renamed.session)).body, { user: 'hook-user' });
  const narrowed = await welcomed(t, edge, { token, headers: { 'x-as': 'narrowed' } });
  t.like(await ask(narrowed.client, { op: 'sub', id: 's1', topic: 't.2' }), { op: 'error', code: 'forbidden' });
  t.like(await ask(narrowed.client, { op: 'pub', id: 'p1', topic: 't.1', data: 1 }), {
    op: 'error',
    code: 'forbidden',
  });
  t.like(await ask(narrowed.client, { op: 'sub', id: 's2', topic: 't.1' }), { op: 'subok' });
});

test('the publish hook may replace the payload; an answer without data keeps it', async (t) => {
  const backend = await startBackend(t);
  backend.decide = (call) =>
    call.hook === 'publish' && call.body.topic === 'rewrite.1'
      ? allow({ data: { rewritten: true, was: call.body.data } })
      : allow();
  const edge = await hookedEdge(t, backend);
  const subscriber = await welcomed(t, edge);
  const publisher = await welcomed(t, edge);
  t.like(await ask(subscriber.client, { op: 'sub', id: 's1', topic: 'rewrite.>' }), { op: 'subok' });
  t.like(await ask(publisher.client, { op: 'pub', id: 'p1', topic: 'rewrite.1', data: 'raw' }), { op: 'puback' });
  t.like(await subscriber.client.next((op) => op.op === 'msg'), {
    topic: 'rewrite.1',
    data: { rewritten: true, was: 'raw' },
  });
  t.like(await ask(publisher.client, { op: 'pub', id: 'p2', topic: 'rewrite.2', data: 'kept' }), { op: 'puback' });
  t.like(await subscriber.client.next((op) => op.op === 'msg'), { topic: 'rewrite.2', data: 'kept' });
});

// ---------------------------------------------------------------------------------------------------------------
// Failing closed.

test('a backend that never answers: connect closes 4500, sub and pub get unavailable after the timeout', async (t) => {
  const backend = await startBackend(t);
  backend.decide = () => 'hold';
  // Two edges, so that no call that must be answered runs against the short timeout: one asks only on connect, the
  // other only on subscribe and publish.
  const { logger, lines } = capturedLog('warn');
  const connectEdge = await hookedEdge(t, backend, { timeoutMs: 400, only: ['connect'] });
  const trafficEdge = await hookedEdge(t, backend, { timeoutMs: 400, only: ['subscribe', 'publish'], logger });

  const refused = await opened(t, connectEdge);
  t.is((await closeOf(refused)).code, 4500);

  const { client } = await welcomed(t, trafficEdge);
  t.like(await ask(client, { op: 'sub', id: 's1', topic: 'held.1' }), { op: 'error', code: 'unavailable' });
  t.like(await ask(client, { op: 'pub', id: 'p1', topic: 'held.1', data: 1 }), { op: 'error', code: 'unavailable' });
  await stillServed(t, client, 'ping1');

  const connectMetrics = await metricsOf(connectEdge);
  t.is(connectMetrics.value(failures, { hook: 'connect', reason: 'timeout' }), 1);
  t.is(connectMetrics.value(calls, { hook: 'connect', outcome: 'failed' }), 1);
  const trafficMetrics = await metricsOf(trafficEdge);
  t.is(trafficMetrics.value(failures, { hook: 'subscribe', reason: 'timeout' }), 1);
  t.is(trafficMetrics.value(failures, { hook: 'publish', reason: 'timeout' }), 1);
  // The log says why in words (a timeout's DOMException carries only a numeric code).
  const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  t.like(
    logged.find((line) => line.hook === 'subscribe'),
    { reason: 'timeout', cause: 'timeout', msg: 'backend hook failed; the request is refused' },
  );
});

/** A failing answer for connect (to clients sending `x-fail`), sub and pub (to `fail.*` topics), and its reason. */
const failClosed = test.macro({
  async exec(t, failing: Reply, reason: 'status' | 'bad_answer') {
    const backend = await startBackend(t);
    backend.decide = (call) =>
      (call.hook === 'connect' && (call.body.headers as Record<string, string>)['x-fail'] !== undefined) ||
      String(call.body.topic ?? '').startsWith('fail.')
        ? failing
        : allow();
    const edge = await hookedEdge(t, backend);

    const refused = await opened(t, edge, { headers: { 'x-fail': '1' } });
    t.is((await closeOf(refused)).code, 4500, 'a failed connect hook closes with 4500 (not 4401: retry later)');

    const { client } = await welcomed(t, edge);
    t.like(await ask(client, { op: 'sub', id: 's1', topic: 'fail.1' }), { op: 'error', code: 'unavailable' });
    t.like(await ask(client, { op: 'pub', id: 'p1', topic: 'fail.1', data: 1 }), { op: 'error', code: 'unavailable' });
    await stillServed(t, client, 'ping1');
    // The failed subscription was let go: the topic can be subscribed again once the backend agrees.
    t.like(await ask(client, { op: 'sub', id: 's2', topic: 'ok.1' }), { op: 'subok' });

    const metrics = await metricsOf(edge);
    for (const hook of ['connect', 'subscribe', 'publish']) {
      t.is(metrics.value(failures, { hook, reason }), 1, `${hook} failures by ${reason}`);
      t.is(metrics.value(calls, { hook, outcome: 'failed' }), 1, `${hook} failed calls`);
    }
  },
  title: (what) => `a backend answering ${what} fails closed: 4500 on connect, unavailable on sub and pub`,
});

test('500', failClosed, json({ allow: true }, 500), 'status');
test('a body that is not JSON', failClosed, { status: 200, body: 'allow: true' }, 'bad_answer');
test('{"allow":"yes"}', failClosed, json({ allow: 'yes' }), 'bad_answer');
test('topics of the wrong shape', failClosed, json({ allow: true, topics: { subscribe: 'a.>' } }), 'bad_answer');

test('a backend that is down fails closed, and serves again once it is up, also after a restart', async (t) => {
  const port = await closedPort();
  const edge = await hookedEdge(t, { port });

  // Never up yet: connection refused.
  t.is((await closeOf(await opened(t, edge))).code, 4500);
  t.is((await metricsOf(edge)).value(failures, { hook: 'connect', reason: 'connection' }), 1);

  // Up: a client is welcomed and subscribes (the edge now keeps a connection to the backend).
  let backend = await startBackend(t, port);
  const { client } = await welcomed(t, edge);
  t.like(await ask(client, { op: 'sub', id: 's1', topic: 'room.1' }), { op: 'subok' });

  // Down again: new clients are closed, the connected one's requests refused, and it stays connected.
  await backend.close();
  t.is((await closeOf(await opened(t, edge))).code, 4500);
  t.like(await ask(client, { op: 'sub', id: 's2', topic: 'room.2' }), { op: 'error', code: 'unavailable' });
  await stillServed(t, client, 'ping1');

  // The SDK keeps reconnecting after 4500 (it is not final), and gets in once the backend is back.
  const sdk = new NodeMeshClient({ url: edge.url, transports: ['websocket'], reconnect: { baseMs: 20, maxMs: 200 } });
  t.teardown(() => sdk.close());
  const retrying = new Promise<void>((resolve) => sdk.on('state', (state) => state === 'reconnecting' && resolve()));
  const sdkWelcome = sdk.connect();
  await within(retrying, 'the SDK retrying after its connect failed');

  // Back up on the same port, after the edge's connections to the old one died.
  backend = await startBackend(t, port);
  await within(sdkWelcome, 'the SDK welcomed once the backend is back');
  await welcomed(t, edge);
  t.like(await ask(client, { op: 'sub', id: 's3', topic: 'room.2' }), { op: 'subok' });
  t.true((await metricsOf(edge)).value(failures, { hook: 'connect', reason: 'connection' }) >= 2);
});

// ---------------------------------------------------------------------------------------------------------------
// Isolation and limits.

test('a slow hook holds only its own request: other sessions, topics and publishes go on meanwhile', async (t) => {
  const backend = await startBackend(t);
  // Held: a subscribe to slow.1 and a publish to slow.2 (publishing to slow.1 is answered at once).
  const held = (call: HookCall): boolean =>
    (call.hook === 'subscribe' && call.body.topic === 'slow.1') ||
    (call.hook === 'publish' && call.body.topic === 'slow.2');
  backend.decide = (call) => (held(call) ? 'hold' : allow());
  const edge = await hookedEdge(t, backend);
  const slow = await welcomed(t, edge);
  const subscriber = await welcomed(t, edge);
  const publisher = await welcomed(t, edge);

  slow.client.send({ op: 'sub', id: 'slow-sub', topic: 'slow.1' });
  const heldSub = await backend.call('subscribe', (body) => body.topic === 'slow.1');
  slow.client.send({ op: 'pub', id: 'slow-pub', topic: 'slow.2', data: 'late' });
  const heldPub = await backend.call('publish', (body) => body.topic === 'slow.2');

  // While both are held: other clients subscribe and publish, and so does the slow one on other topics.
  t.like(await ask(subscriber.client, { op: 'sub', id: 's1', topic: 'fast.1' }), { op: 'subok' });
  t.like(await ask(publisher.client, { op: 'pub', id: 'p1', topic: 'fast.1', data: 'now' }), { op: 'puback' });
  t.like(await subscriber.client.next((op) => op.op === 'msg'), { topic: 'fast.1', data: 'now' });
  t.like(await ask(slow.client, { op: 'sub', id: 's2', topic: 'fast.1' }), { op: 'subok' });
  await stillServed(t, slow.client, 'ping1');
  t.false(
    slow.client.received.some((op) => op.id === 'slow-sub' || op.id === 'slow-pub'),
    'still held',
  );

  // Answered at last: the held requests complete.
  heldSub.answer(allow());
  t.like(await slow.client.next((op) => op.id === 'slow-sub'), { op: 'subok' });
  heldPub.answer(allow());
  t.like(await slow.client.next((op) => op.id === 'slow-pub'), { op: 'puback' });
  t.like(await ask(publisher.client, { op: 'pub', id: 'p2', topic: 'slow.1', data: 'in' }), { op: 'puback' });
  t.like(await slow.client.next((op) => op.op === 'msg' && op.topic === 'slow.1'), { data: 'in' });
});

test('past maxPendingHookCallsPerAddress an address gets unavailable; another address still gets through', async (t) => {
  const backend = await startBackend(t);
  backend.decide = (call) => (String(call.body.topic ?? '').startsWith('held.') ? 'hold' : allow());
  const edge = await hookedEdge(t, backend, { limits: { maxPendingHookCallsPerAddress: 2 } });
  // Connected before anything is held: their connect calls are over.
  const first = await welcomed(t, edge);
  const second = await welcomed(t, edge);

  // Two calls held for 127.0.0.1, from two sessions: the limit is the address's, not the session's.
  first.client.send({ op: 'sub', id: 'h1', topic: 'held.1' });
  second.client.send({ op: 'sub', id: 'h2', topic: 'held.2' });
  const held = await backend.call('subscribe', (body) => body.topic === 'held.1');
  await backend.call('subscribe', (body) => body.topic === 'held.2');

  t.like(await ask(first.client, { op: 'sub', id: 's3', topic: 'free.1' }), { op: 'error', code: 'unavailable' });
  t.like(await ask(second.client, { op: 'pub', id: 'p1', topic: 'free.1', data: 1 }), {
    op: 'error',
    code: 'unavailable',
  });
  t.is((await closeOf(await opened(t, edge))).code, 4500, 'a connect from the address is refused too');
  t.is(backend.callsTo('subscribe', 'free.1').length, 0, 'refused without asking the backend');

  // Another address has its own share.
  const other = await welcomed(t, edge, { localAddress: '127.0.0.2' });
  t.like(await ask(other.client, { op: 'sub', id: 's1', topic: 'free.1' }), { op: 'subok' });
  t.is(backend.callsTo('subscribe', 'free.1')[0]!.body.session, other.session);

  // One held call answered: the address has room again.
  held.answer(allow());
  t.like(await first.client.next((op) => op.id === 'h1'), { op: 'subok' });
  t.like(await ask(first.client, { op: 'sub', id: 's4', topic: 'free.1' }), { op: 'subok' });

  const metrics = await metricsOf(edge);
  t.is(metrics.value(failures, { hook: 'subscribe', reason: 'limit' }), 1);
  t.is(metrics.value(failures, { hook: 'publish', reason: 'limit' }), 1);
  t.is(metrics.value(failures, { hook: 'connect', reason: 'limit' }), 1);
});

test('an address holding all the calls it may does not stall the hook calls of another address', async (t) => {
  const backend = await startBackend(t);
  backend.decide = (call) => (String(call.body.topic ?? '').startsWith('held.') ? 'hold' : allow());
  // The default limits: one address may have 64 calls waiting, the edge 1000.
  const edge = await hookedEdge(t, backend);
  const greedy = await welcomed(t, edge);
  const perAddress = 64;
  for (let i = 0; i < perAddress; i++) greedy.client.send({ op: 'sub', id: `h${i}`, topic: `held.${i}` });
  await backend.calledTimes('subscribe', perAddress);
  t.like(await ask(greedy.client, { op: 'sub', id: 'over', topic: 'free.0' }), { op: 'error', code: 'unavailable' });

  // Another address connects, subscribes and publishes, each asking the backend, while those 64 wait.
  const other = await welcomed(t, edge, { localAddress: '127.0.0.2' });
  t.like(await ask(other.client, { op: 'sub', id: 's1', topic: 'free.1' }), { op: 'subok' });
  t.like(await ask(other.client, { op: 'pub', id: 'p1', topic: 'free.1', data: 1 }), { op: 'puback' });
});

test('past maxPendingHookCalls the whole edge answers unavailable, whatever the address', async (t) => {
  const backend = await startBackend(t);
  backend.decide = (call) => (String(call.body.topic ?? '').startsWith('held.') ? 'hold' : allow());
  const edge = await hookedEdge(t, backend, { limits: { maxPendingHookCalls: 1 } });
  const first = await welcomed(t, edge);
  const other = await welcomed(t, edge, { localAddress: '127.0.0.2' });
  first.client.send({ op: 'sub', id: 'h1', topic: 'held.1' });
  const held = await backend.call('subscribe', (body) => body.topic === 'held.1');
  t.like(await ask(other.client, { op: 'sub', id: 's1', topic: 'free.1' }), { op: 'error', code: 'unavailable' });
  held.answer(allow());
  t.like(await first.client.next((op) => op.id === 'h1'), { op: 'subok' });
  t.like(await ask(other.client, { op: 'sub', id: 's2', topic: 'free.1' }), { op: 'subok' });
});

// ---------------------------------------------------------------------------------------------------------------
// Metrics and logs.

test('metrics count every call by hook and outcome, failures by reason, and time the answered ones', async (t) => {
  const backend = await startBackend(t);
  backend.decide = (call) => {
    const from = (call.body.headers ?? {}) as Record<string, string>;
    const topic = String(call.body.topic ?? '');
    if (from['x-refuse'] !== undefined || topic.startsWith('no.')) return refuse();
    if (from['x-fail'] !== undefined) return json({}, 503);
    if (topic.startsWith('bad.')) return { status: 200, body: '{' };
    return allow();
  };
  const edge = await hookedEdge(t, backend);
  const { client } = await welcomed(t, edge);
  t.is((await closeOf(await opened(t, edge, { headers: { 'x-refuse': '1' } }))).code, 4401);
  t.is((await closeOf(await opened(t, edge, { headers: { 'x-fail': '1' } }))).code, 4500);
  t.like(await ask(client, { op: 'sub', id: 's1', topic: 'ok.1' }), { op: 'subok' });
  t.like(await ask(client, { op: 'sub', id: 's2', topic: 'no.1' }), { code: 'forbidden' });
  t.like(await ask(client, { op: 'sub', id: 's3', topic: 'bad.1' }), { code: 'unavailable' });
  t.like(await ask(client, { op: 'pub', id: 'p1', topic: 'ok.1', data: 1 }), { op: 'puback' });
  t.like(await ask(client, { op: 'pub', id: 'p2', topic: 'no.1', data: 1 }), { code: 'forbidden' });
  t.like(await ask(client, { op: 'pub', id: 'p3', topic: 'bad.1', data: 1 }), { code: 'unavailable' });

  const metrics = await metricsOf(edge);
  for (const hook of ['connect', 'subscribe', 'publish']) {
    for (const outcome of ['allowed', 'refused', 'failed'])
      t.is(metrics.value(calls, { hook, outcome }), 1, `${hook} ${outcome}`);
    t.is(metrics.value('relaymesh_edge_hook_duration_seconds_count', { hook }), 3, `${hook} answers timed`);
  }
  t.is(metrics.value(failures, { hook: 'connect', reason: 'status' }), 1);
  t.is(metrics.value(failures, { hook: 'subscribe', reason: 'bad_answer' }), 1);
  t.is(metrics.value(failures, { hook: 'publish', reason: 'bad_answer' }), 1);
});

test('logs never carry the hook key, the client token, headers or payloads, and do log the failures', async (t) => {
  const { logger, lines } = capturedLog('trace');
  const key = 'hook-key-3b9f1c7e5d2a48b6';
  const token = 'client-token-8e4d2f6a1c9b';
  const header = 'cookie-value-5a7c9e1b3d';
  const payload = 'payload-secret-2c4e6a8b0d';
  const backend = await startBackend(t);
  backend.decide = (call) => {
    if (call.hook === 'connect') return call.body.token === token ? allow() : json({}, 500);
    return String(call.body.topic).startsWith('fail.') ? { status: 200, body: payload } : allow();
  };
  const edge = await hookedEdge(t, backend, { logger, key });

  // A failing connect carrying the token and a cookie; then a welcomed one whose traffic passes and fails.
  const failing = await opened(t, edge, { token: `${token}-not`, headers: { cookie: header } });
  t.is((await closeOf(failing)).code, 4500);
  const { client } = await welcomed(t, edge, { token, headers: { cookie: header } });
  t.is((await backend.call('connect')).headers.authorization, `Bearer ${key}`);
  t.like(await ask(client, { op: 'sub', id: 's1', topic: 'ok.1' }), { op: 'subok' });
  t.like(await ask(client, { op: 'pub', id: 'p1', topic: 'ok.1', data: payload }), { op: 'puback' });
  t.like(await ask(client, { op: 'sub', id: 's2', topic: 'fail.1' }), { code: 'unavailable' });
  t.like(await ask(client, { op: 'pub', id: 'p2', topic: 'fail.1', data: payload }), { code: 'unavailable' });

  const failuresLogged = lines.filter((line) => line.includes('backend hook failed'));
  t.true(
    failuresLogged.some((line) => line.includes('"hook":"connect"') && line.includes('"reason":"status"')),
    'the connect failure is logged',
  );
  t.true(
    failuresLogged.some((line) => line.includes('"hook":"publish"')),
    'the publish failure is logged',
  );
  for (const secret of [key, token, header, payload])
    t.false(
      lines.some((line) => line.includes(secret)),
      `no log line contains ${secret}`,
    );
});

test('over HTTP streaming a failed connect hook is 503 (worth retrying) and a refused one 401', async (t) => {
  const backend = await startBackend(t);
  backend.decide = (call) =>
    (call.body.headers as Record<string, string>)['x-fail'] ? json({ allow: true }, 500) : refuse();
  const edge = await hookedEdge(t, backend);
  const open = (headers: Record<string, string>) =>
    fetch(`${edge.url.replace(/^ws/, 'http')}/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ op: 'connect' }),
    });
  const failed = await open({ 'x-fail': '1' });
  t.is(failed.status, 503);
  t.like(await failed.json(), { error: { code: 'unavailable' } });
  const refused = await open({});
  t.is(refused.status, 401);
  t.like(await refused.json(), { error: { code: 'unauthorized' } });
});
