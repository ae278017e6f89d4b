// Edge identity on the uplink: a core with edge secrets challenges every uplink and accepts only an edge it knows
// whose hello proves its secret for this connection's nonce; everything else is refused with 4401, counted, and
// logged without the secret or the proof. Real cores and edges, plus raw uplinks spoken by hand.

import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { pino, type Logger } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { startCore, type CoreHandle } from '../core/start-core.js';
import type { UplinkRefusal } from '../core/uplink-peer.js';
import { startEdge, type EdgeHandle } from '../edge/start-edge.js';
import { decodeEdgeFrames } from '../shared/codec.js';
import { edgeProof } from '../shared/edge-proof.js';
import { closeCodes } from '../shared/errors.js';
import { frameType, protocolVersion, uplinkPath, type FrameOf, type UplinkFrame } from '../shared/protocol.js';
import { RawClient } from './helpers/raw-client.js';
import { RawUplink } from './helpers/raw-uplink.js';

const DEADLINE_MS = 10_000;
const euSecret = 'eu-secret-7f3c9a1e5b2d4c6e8a0f';
const usSecret = 'us-secret-2b4d6f8a0c1e3a5c7e9b';
const wrongSecret = 'wrong-secret-d1e2f3a4b5c6d7e8f9';
const refusedMessage = 'uplink refused: the edge did not prove its identity';
const edgeRefusedMessage = "the core refused this edge's identity";

type LogEntry = Record<string, unknown> & { msg?: string };

/** A pino destination that keeps every line, and lets a test wait for entries that match. */
class LogCapture {
  readonly lines: string[] = [];
  readonly logger: Logger;
  private readonly waiters = new Set<() => void>();

  constructor() {
    this.logger = pino({ level: 'debug' }, { write: (line: string) => this.add(line) });
  }

  get entries(): LogEntry[] {
    return this.lines.map((line) => JSON.parse(line) as LogEntry);
  }

  get text(): string {
    return this.lines.join('');
  }

  /** Resolves with the matching entries once there are at least `count` of them. */
  waitFor(match: (entry: LogEntry) => boolean, count = 1): Promise<LogEntry[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.entries.filter(match);
        if (found.length < count) return false;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(
          new Error(
            `no ${count} matching log entries within ${DEADLINE_MS} ms; last: ${this.lines.slice(-5).join('')}`,
          ),
        );
      }, DEADLINE_MS);
      if (!check()) this.waiters.add(check);
    });
  }

  private add(line: string): void {
    this.lines.push(line);
    for (const wake of [...this.waiters]) wake();
  }
}

const refusal =
  (reason: UplinkRefusal, edge?: string) =>
  (entry: LogEntry): boolean =>
    entry.msg === refusedMessage && entry.reason === reason && (edge === undefined || entry.edge === edge);

async function startCoreWithSecrets(
  t: ExecutionContext,
  secrets?: Map<string, string>,
): Promise<{ core: CoreHandle; log: LogCapture }> {
  const log = new LogCapture();
  const core = await startCore({ id: 'central', logger: log.logger, ...(secrets ? { edgeSecrets: secrets } : {}) });
  t.teardown(() => core.close());
  return { core, log };
}

async function startTestEdge(
  t: ExecutionContext,
  id: string,
  coreUrl: string,
  secret?: string,
  heartbeatMs = 600_000,
): Promise<{ edge: EdgeHandle; log: LogCapture }> {
  const log = new LogCapture();
  const edge = await startEdge({
    id,
    region: 'eu',
    cores: [{ id: 'central', url: coreUrl }],
    logger: log.logger,
    // Fast retries, so refusals repeat within the test; no pings unless a test asks.
    uplink: { heartbeatMs, reconnectBaseMs: 10, reconnectMaxMs: 50 },
    ...(secret === undefined ? {} : { secret }),
  });
  t.teardown(() => edge.close());
  return { edge, log };
}

async function refusedCount(core: CoreHandle, reason: UplinkRefusal): Promise<number> {
  const metric = await core.metrics.uplinksRefused.get();
  return metric.values.find((value) => value.labels.reason === reason)?.value ?? 0;
}

function assertNoSecrets(t: ExecutionContext, logs: LogCapture[], secrets: string[]): void {
  for (const log of logs) {
    t.true(log.lines.length > 0);
    for (const secret of secrets) t.false(log.text.includes(secret), 'a secret appears in the logs');
  }
}

const bothSecrets = (): Map<string, string> =>
  new Map([
    ['eu-1', euSecret],
    ['us-1', usSecret],
  ]);

test('edges with the right secrets connect, and clients subscribe and publish through them end to end', async (t) => {
  const { core, log: coreLog } = await startCoreWithSecrets(t, bothSecrets());
  const eu = await startTestEdge(t, 'eu-1', core.url, euSecret);
  const us = await startTestEdge(t, 'us-1', core.url, usSecret);
  await Promise.all([eu.edge.ready(), us.edge.ready()]);
  t.deepEqual([...core.uplinks.keys()].sort(), ['eu-1', 'us-1']);

  const subscriber = await RawClient.connected(t, eu.edge.url);
  t.like(await subscriber.subscribe('chat.room-1', 1), { op: 'subok', topic: 'chat.room-1' });
  const publisher = await RawClient.connected(t, us.edge.url, 'msgpack');
  publisher.send({ op: 'pub', id: 'p1', topic: 'chat.room-1', data: { text: 'through both edges' } });
  t.like(await publisher.next((op) => op.id === 'p1'), { op: 'puback', offset: 1 });
  t.like(await subscriber.next((op) => op.op === 'msg'), {
    topic: 'chat.room-1',
    offset: 1,
    data: { text: 'through both edges' },
  });

  for (const reason of ['no_challenge', 'unknown_edge', 'no_proof', 'bad_proof'] as const)
    t.is(await refusedCount(core, reason), 0);
  t.false(coreLog.entries.some((entry) => entry.msg === refusedMessage));
  assertNoSecrets(t, [coreLog, eu.log, us.log], [euSecret, usSecret]);
});

test('an edge with a wrong secret is refused and keeps retrying; it gets in once the core knows that secret', async (t) => {
  const secrets = bothSecrets();
  const { core, log: coreLog } = await startCoreWithSecrets(t, secrets);
  const { edge, log: edgeLog } = await startTestEdge(t, 'eu-1', core.url, wrongSecret);

  // Two refusals: the edge went on trying after the first.
  const [first] = await coreLog.waitFor(refusal('bad_proof', 'eu-1'), 2);
  t.regex(String(first!.remote), /127\.0\.0\.1$/);
  t.is(first!.level, 40);
  const [edgeError] = await edgeLog.waitFor((entry) => entry.msg === edgeRefusedMessage);
  t.like(edgeError, { level: 50, core: 'central', code: closeCodes.unauthorized, reason: 'edge not authenticated' });
  t.false(core.uplinks.has('eu-1'));
  t.false(edge.uplink.connected);
  t.true((await refusedCount(core, 'bad_proof')) >= 2);

  // The operator rotates the core's side to the secret the edge holds: the next retry is accepted.
  secrets.set('eu-1', wrongSecret);
  await edge.ready();
  t.true(core.uplinks.has('eu-1'));
  assertNoSecrets(t, [coreLog, edgeLog], [euSecret, usSecret, wrongSecret]);
});

test('an edge whose id the core does not know is refused', async (t) => {
  const { core, log: coreLog } = await startCoreWithSecrets(t, bothSecrets());
  const { edge, log: edgeLog } = await startTestEdge(t, 'stranger', core.url, euSecret);
  await coreLog.waitFor(refusal('unknown_edge', 'stranger'));
  await edgeLog.waitFor((entry) => entry.msg === edgeRefusedMessage);
  t.false(core.uplinks.has('stranger'));
  t.is(core.uplinks.size, 0);
  t.false(edge.uplink.connected);
  t.true((await refusedCount(core, 'unknown_edge')) >= 1);
  assertNoSecrets(t, [coreLog, edgeLog], [euSecret, usSecret]);
});

test('an edge without a secret is refused by a core that checks identity', async (t) => {
  const { core, log: coreLog } = await startCoreWithSecrets(t, bothSecrets());
  const { edge, log: edgeLog } = await startTestEdge(t, 'eu-1', core.url);
  await coreLog.waitFor(refusal('no_proof', 'eu-1'));
  await edgeLog.waitFor((entry) => entry.msg === edgeRefusedMessage);
  t.false(core.uplinks.has('eu-1'));
  t.false(edge.uplink.connected);
  assertNoSecrets(t, [coreLog, edgeLog], [euSecret, usSecret]);
});

test('raw uplinks: a wrong proof, an unknown id and a missing proof are closed with 4401', async (t) => {
  const { core, log: coreLog } = await startCoreWithSecrets(t, bothSecrets());
  const cases: Array<{ edgeId: string; proof: (nonce: string) => string; reason: UplinkRefusal }> = [
    { edgeId: 'eu-1', proof: (nonce) => edgeProof(wrongSecret, nonce, 'eu-1', 'fake'), reason: 'bad_proof' },
    // The proof of another edge's secret does not make this edge that one.
    { edgeId: 'eu-1', proof: (nonce) => edgeProof(usSecret, nonce, 'us-1', 'fake'), reason: 'bad_proof' },
    { edgeId: 'ghost', proof: (nonce) => edgeProof(euSecret, nonce, 'ghost', 'fake'), reason: 'unknown_edge' },
    { edgeId: 'eu-1', proof: () => '', reason: 'no_proof' },
  ];
  for (const { edgeId, proof, reason } of cases) {
    const uplink = await RawUplink.dial(t, core.url);
    const nonce = await uplink.challenge();
    t.is(Buffer.from(nonce, 'base64url').length, 32);
    const given = proof(nonce);
    uplink.send([frameType.hello, protocolVersion, edgeId, 'eu', 'fake', given], [frameType.sub, 1, 'a.b', null]);
    t.deepEqual(await uplink.closed, { code: closeCodes.unauthorized, reason: 'edge not authenticated' }, reason);
    t.deepEqual(
      uplink.frames.map((frame) => frame[0]),
      [frameType.challenge],
      'nothing but the challenge was sent',
    );
    if (given) t.false(coreLog.text.includes(given), 'the proof appears in the logs');
  }
  t.is(await refusedCount(core, 'bad_proof'), 2);
  t.is(await refusedCount(core, 'unknown_edge'), 1);
  t.is(await refusedCount(core, 'no_proof'), 1);
  t.is(core.uplinks.size, 0);
  assertNoSecrets(t, [coreLog], [euSecret, usSecret, wrongSecret]);
});

/** A relay between an edge and the core that records the frames the edge sends, as an eavesdropper on the path would. */
async function startEavesdropper(
  t: ExecutionContext,
  coreUrl: string,
): Promise<{ url: string; edgeFrames: UplinkFrame[]; hello: Promise<FrameOf<typeof frameType.hello>> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: uplinkPath, perMessageDeflate: false });
  t.teardown(async () => {
    for (const ws of wss.clients) ws.terminate();
    await new Promise((resolve) => wss.close(resolve));
  });
  await once(wss, 'listening');
  const edgeFrames: UplinkFrame[] = [];
  let sawHello: (hello: FrameOf<typeof frameType.hello>) => void = () => {};
  const hello = new Promise<FrameOf<typeof frameType.hello>>((resolve) => {
    sawHello = resolve;
  });
  wss.on('connection', (edgeSide) => {
    const coreSide = new WebSocket(`${coreUrl}${uplinkPath}`, { perMessageDeflate: false });
    const early: Buffer[] = [];
    coreSide.on('open', () => {
      for (const data of early.splice(0)) coreSide.send(data);
    });
    coreSide.on('message', (data: Buffer) => edgeSide.send(data));
    coreSide.on('close', () => edgeSide.terminate());
    coreSide.on('error', () => edgeSide.terminate());
    edgeSide.on('message', (data: Buffer) => {
      for (const frame of decodeEdgeFrames(data)) {
        edgeFrames.push(frame);
        if (frame[0] === frameType.hello) sawHello(frame);
      }
      if (coreSide.readyState === WebSocket.OPEN) coreSide.send(data);
      else early.push(data);
    });
    edgeSide.on('close', () => coreSide.terminate());
  });
  return { url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, edgeFrames, hello };
}

test('a valid hello captured from a real edge and replayed on a new connection is refused, and the real edge stays', async (t) => {
  const { core, log: coreLog } = await startCoreWithSecrets(t, bothSecrets());
  const eavesdropper = await startEavesdropper(t, core.url);
  const { edge, log: edgeLog } = await startTestEdge(t, 'eu-1', eavesdropper.url, euSecret);
  await edge.ready();
  const genuine = core.uplinks.get('eu-1');
  t.truthy(genuine);

  const captured = await eavesdropper.hello;
  t.is(captured[2], 'eu-1');
  t.not(captured[5], '', 'the real edge sent a proof');

  const replay = await RawUplink.dial(t, core.url);
  await replay.challenge();
  replay.send(captured);
  t.deepEqual(await replay.closed, { code: closeCodes.unauthorized, reason: 'edge not authenticated' });
  await coreLog.waitFor(refusal('bad_proof', 'eu-1'));
  t.is(await refusedCount(core, 'bad_proof'), 1);

  // The impostor took nobody's place: the genuine uplink is still the core's, and still works.
  t.is(core.uplinks.get('eu-1'), genuine);
  t.true(edge.uplink.connected);
  const client = await RawClient.connected(t, edge.url);
  t.like(await client.subscribe('after.replay', 1), { op: 'subok', topic: 'after.replay' });
  t.false(coreLog.text.includes(captured[5]), 'the proof appears in the logs');
  assertNoSecrets(t, [coreLog, edgeLog], [euSecret, usSecret]);
});

test('a core without secrets sends no challenge and accepts a hello without a proof, as before', async (t) => {
  const { core } = await startCoreWithSecrets(t);
  const uplink = await RawUplink.dial(t, core.url);
  uplink.send([frameType.hello, protocolVersion, 'eu-1', 'eu', 'plain', ''], [frameType.sub, 1, 'a.b', null]);
  await uplink.next((frame) => frame[0] === frameType.subok);
  t.deepEqual(uplink.frames[0], [frameType.welcome, 'central']);
  t.false(uplink.frames.some((frame) => frame[0] === frameType.challenge));
  t.true(core.uplinks.has('eu-1'));

  const { edge } = await startTestEdge(t, 'us-1', core.url);
  await edge.ready();
  t.true(core.uplinks.has('us-1'));
});

test('an edge with a secret never sends its hello to a core that does not challenge it', async (t) => {
  const { core } = await startCoreWithSecrets(t);
  const { edge, log: edgeLog } = await startTestEdge(t, 'eu-1', core.url, euSecret, 100);
  // The welcome deadline (two heartbeats) passes without a challenge: the edge says so and drops the socket.
  await edgeLog.waitFor((entry) => typeof entry.msg === 'string' && entry.msg.startsWith('no challenge from the core'));
  t.false(edge.uplink.connected);
  t.false(core.uplinks.has('eu-1'));
  assertNoSecrets(t, [edgeLog], [euSecret]);
});

test("the same id: a proven newer uplink takes the edge's place; without secrets only the same edge process may", async (t) => {
  const { core } = await startCoreWithSecrets(t, bothSecrets());
  const first = await RawUplink.dial(t, core.url);
  first.send([
    frameType.hello,
    protocolVersion,
    'eu-1',
    'eu',
    'instance-a',
    edgeProof(euSecret, await first.challenge(), 'eu-1', 'instance-a'),
  ]);
  await first.next((frame) => frame[0] === frameType.welcome);
  // A restarted edge (a new instance) proves itself: the old uplink, maybe dead without knowing it, gives way.
  const restarted = await RawUplink.dial(t, core.url);
  restarted.send([
    frameType.hello,
    protocolVersion,
    'eu-1',
    'eu',
    'instance-b',
    edgeProof(euSecret, await restarted.challenge(), 'eu-1', 'instance-b'),
  ]);
  await restarted.next((frame) => frame[0] === frameType.welcome);
  t.is((await first.closed).code, closeCodes.goingAway);

  const { core: open } = await startCoreWithSecrets(t);
  const edge = await RawUplink.dial(t, open.url);
  edge.send([frameType.hello, protocolVersion, 'eu-1', 'eu', 'instance-a', '']);
  await edge.next((frame) => frame[0] === frameType.welcome);
  const stranger = await RawUplink.dial(t, open.url);
  stranger.send([frameType.hello, protocolVersion, 'eu-1', 'eu', 'instance-x', '']);
  t.deepEqual(await stranger.closed, { code: closeCodes.edgeIdInUse, reason: 'edge id in use' });
  // The edge itself reconnecting (a black-holed link it gave up on) shows its instance, and is taken back at once.
  const again = await RawUplink.dial(t, open.url);
  again.send([frameType.hello, protocolVersion, 'eu-1', 'eu', 'instance-a', '']);
  await again.next((frame) => frame[0] === frameType.welcome);
  t.is((await edge.closed).code, closeCodes.goingAway);
  t.is(await refusedCount(open, 'id_in_use'), 1);
});
