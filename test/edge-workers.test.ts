// `relaymesh edge --id ID --workers N` (cli/edge-workers.ts), run as the real compiled command line: the primary holds
// the edge's one uplink (through a counting TCP proxy here), its workers share the edge's listen address; every client
// of every worker receives everything; /metrics sums the workers; a worker killed with SIGKILL is started again and
// its clients resume with `since`; SIGTERM drains every worker and exits 0.

import test, { type ExecutionContext } from 'ava';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { runTopology, untilStatus, type Cli } from './helpers/cli.js';
import { publish } from './helpers/http-publish.js';
import { silentLogger } from './helpers/mesh.js';
import { RawClient, type Op } from './helpers/raw-client.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

/** Generous: a loaded 2-core machine. */
const WAIT_MS = 30_000;
const CLIENTS = 20;
const TOPIC = 'workers.feed';

interface Workers {
  cli: Cli;
  core: CoreHandle;
  proxy: TcpProxy;
  /** The edge's base URL (ws://127.0.0.1:port), which every worker serves. */
  url: string;
  port: number;
  /** The primary's process id. */
  pid: number;
}

/** A core in this process behind a counting proxy, and `relaymesh edge --id e1 --workers 2` whose core is the proxy. */
async function startWorkers(t: ExecutionContext): Promise<Workers> {
  const core = await startCore({ id: 'central', logger: silentLogger });
  t.teardown(() => core.close());
  const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: core.address.port } });
  t.teardown(() => proxy.close());
  const { cli, ports } = await runTopology(t, {
    command: ['edge', '--id', 'e1', '--workers', '2'],
    portCount: 2,
    nodes: 1,
    build: ([corePort, edgePort]) => ({
      // Not run from the file: the core is this process's, reached through the proxy.
      cores: [{ id: 'central', listen: `127.0.0.1:${corePort}`, url: proxy.url, region: 'us' }],
      edges: [
        {
          id: 'e1',
          listen: `127.0.0.1:${edgePort}`,
          url: `ws://127.0.0.1:${edgePort}`,
          region: 'eu',
          cores: ['central'],
        },
      ],
    }),
  });
  const port = ports[1]!;
  const url = `ws://127.0.0.1:${port}`;
  t.regex(cli.stdout, /edge e1 \(eu\) listening on .* with 2 workers/);
  t.like(await untilStatus(`http://127.0.0.1:${port}/healthz`, 200), { status: 'ok', role: 'edge', id: 'e1' });
  // Both workers' uplinks (to the primary) are up: the summed gauge says 2.
  await untilMetric(port, 'relaymesh_edge_uplink_up', {}, 2);
  return { cli, core, proxy, url, port, pid: cli.process.pid! };
}

/** The live (not zombie) child processes of `pid`, from /proc. */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = await readFile(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // "pid (comm) state ppid …": comm may hold spaces and parentheses, so read after the last ')'.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) === pid && state !== 'Z') children.push(Number(entry));
  }
  return children.sort((a, b) => a - b);
}

/** Re-reads the primary's children until `done` holds of them; bounded in tries and time. */
async function untilChildren(pid: number, done: (children: number[]) => boolean, what: string): Promise<number[]> {
  const deadline = Date.now() + WAIT_MS;
  let children: number[] = [];
  for (let i = 0; i < 100_000 && Date.now() < deadline; i++) {
    children = await childrenOf(pid);
    if (done(children)) return children;
  }
  throw new Error(`${what}: children of ${pid} are ${JSON.stringify(children)}`);
}

/** Which of `pids` holds the server side of `client`'s TCP connection to the edge (by its socket inode in /proc). */
async function workerOf(client: RawClient, edgePort: number, pids: readonly number[]): Promise<number | undefined> {
  const clientPort = (client.ws as unknown as { _socket: { localPort: number } })._socket.localPort;
  let inode: string | undefined;
  for (const line of (await readFile('/proc/net/tcp', 'utf8')).split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const local = Number.parseInt(fields[1]!.split(':')[1]!, 16);
    const remote = Number.parseInt(fields[2]!.split(':')[1]!, 16);
    if (local === edgePort && remote === clientPort) inode = fields[9];
  }
  if (!inode) return undefined;
  const holders: number[] = [];
  for (const pid of pids) {
    let fds: string[] = [];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (target === `socket:[${inode}]`) holders.push(pid);
    }
  }
  return holders.length === 1 ? holders[0] : undefined;
}

/** The value of `name{labels…}` in the edge's /metrics (any series whose labels include `labels`), or undefined. */
function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = new Map([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([key, value]) => have.get(key) === value)) return Number(match[3]);
  }
  return undefined;
}

/** GETs the edge's /metrics (fresh requests) until `name{labels}` reads `value`; bounded, each request too. */
async function untilMetric(port: number, name: string, labels: Record<string, string>, value: number): Promise<string> {
  const deadline = Date.now() + WAIT_MS * 2;
  let last = 'no answer';
  for (let i = 0; i < 5000 && Date.now() < deadline; i++) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(8_000) });
      const text = await response.text();
      if (response.status === 200 && metricValue(text, name, labels) === value) return text;
      last = `${response.status} ${name}=${metricValue(text, name, labels)}`;
    } catch (error) {
      last = (error as Error).message;
    }
  }
  throw new Error(`/metrics never had ${name}${JSON.stringify(labels)} = ${value}; last: ${last}`);
}

const nativeSessions = { transport: 'websocket', protocol: 'native', node: 'e1', role: 'edge' };

/** A client that sent `connect` and got `welcome` (a worker just started may take a while on a loaded machine). */
async function connected(t: ExecutionContext, url: string): Promise<RawClient> {
  const client = await RawClient.open(t, url);
  client.send({ op: 'connect' });
  await client.next((op) => op.op === 'welcome', WAIT_MS);
  return client;
}

/** Subscribes to TOPIC (resuming from `since`) and waits for the answer. */
function subscribe(client: RawClient, id: number, since?: { epoch: string; offset: number }): Promise<Op> {
  client.send(since ? { op: 'sub', id, topic: TOPIC, since } : { op: 'sub', id, topic: TOPIC });
  return client.next((op) => op.id === id, WAIT_MS);
}

/** Opens `count` clients one after the other (cluster round-robin: consecutive ones alternate between workers). */
async function openClients(t: ExecutionContext, url: string, count: number): Promise<RawClient[]> {
  const clients: RawClient[] = [];
  for (let i = 0; i < count; i++) clients.push(await connected(t, url));
  return clients;
}

/** Waits for `to` messages on `client`; checks they are 1..to of TOPIC, once each, in order, with their data. */
async function assertMessages(t: ExecutionContext, client: RawClient, to: number, what: string): Promise<Op[]> {
  const received = (await client.messages(to, WAIT_MS)).filter((op) => op.topic === TOPIC);
  t.deepEqual(
    received.map((op) => [op.offset, (op.data as { n: number }).n]),
    Array.from({ length: to }, (_, i) => [i + 1, i + 1]),
    what,
  );
  return received;
}

/** Publishes {n} for n = from..to through the core's HTTP API; message n gets offset n. */
async function publishRange(core: CoreHandle, from: number, to: number): Promise<void> {
  for (let n = from; n <= to; n++) {
    const position = await publish(core, TOPIC, { n });
    if (position.offset !== n) throw new Error(`message ${n} was published at offset ${position.offset}`);
  }
}

/** SIGTERM on the primary: every client is closed (4503: no peer to redirect to), exit 0, no worker left. */
async function stopWithSigterm(t: ExecutionContext, mesh: Workers, clients: readonly RawClient[]): Promise<void> {
  const workers = await childrenOf(mesh.pid);
  t.is(workers.length, 2, 'two workers before SIGTERM');
  mesh.cli.process.kill('SIGTERM');
  const closes = await Promise.all(clients.map((client) => client.closed));
  t.true(
    closes.every((close) => close.code === 4503),
    `every client is drained: ${JSON.stringify(closes.map((c) => c.code))}`,
  );
  t.deepEqual(await mesh.cli.exited, { code: 0, signal: null }, mesh.cli.stderr);
  for (const pid of workers) {
    t.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, `worker ${pid} is gone`);
  }
}

/** The two workers' pids, and CLIENTS clients opened on the edge with the worker holding each. */
async function clientsOfWorkers(t: ExecutionContext, mesh: { pid: number; url: string; port: number }) {
  const workers = await childrenOf(mesh.pid);
  t.is(workers.length, 2, `two workers: ${JSON.stringify(workers)}`);
  const clients = await openClients(t, mesh.url, CLIENTS);
  const servedBy = await Promise.all(clients.map((client) => workerOf(client, mesh.port, workers)));
  t.true(
    servedBy.every((pid) => pid !== undefined),
    `each client is held by one worker: ${JSON.stringify(servedBy)}`,
  );
  return { workers, clients, servedBy };
}

test('--workers 2: one uplink; every client of both workers receives everything; /metrics sums both; SIGTERM drains all and exits 0', async (t) => {
  const mesh = await startWorkers(t);

  // One uplink: the primary's, through the proxy; the core knows one edge, e1.
  t.is(mesh.proxy.totalConnections, 1, 'one connection ever reached the core');
  t.is(mesh.proxy.connections, 1);
  t.deepEqual([...mesh.core.uplinks.keys()], ['e1']);

  const { workers, clients, servedBy } = await clientsOfWorkers(t, mesh);
  for (const pid of workers)
    t.true(
      servedBy.filter((served) => served === pid).length >= 2,
      `worker ${pid} serves clients: ${JSON.stringify(servedBy)}`,
    );

  // /metrics, answered by whichever worker, counts the sessions of both.
  await untilMetric(mesh.port, 'relaymesh_edge_sessions', nativeSessions, CLIENTS);

  const answers = await Promise.all(clients.map((client) => subscribe(client, 1)));
  t.true(
    answers.every((op) => op.op === 'subok'),
    JSON.stringify(answers.filter((op) => op.op !== 'subok')),
  );
  const count = 10;
  await publishRange(mesh.core, 1, count);
  for (const [i, client] of clients.entries()) await assertMessages(t, client, count, `client ${i}`);

  // Still the one uplink after the traffic.
  t.is(mesh.proxy.totalConnections, 1);
  t.is(mesh.core.uplinks.size, 1);

  await stopWithSigterm(t, mesh, clients);
});

test('--workers 2: a worker killed with SIGKILL is started again, its clients resume with since, still one uplink', async (t) => {
  const mesh = await startWorkers(t);
  const { workers, clients, servedBy } = await clientsOfWorkers(t, mesh);
  const answers = await Promise.all(clients.map((client) => subscribe(client, 1)));
  t.true(answers.every((op) => op.op === 'subok'));
  await publishRange(mesh.core, 1, 5);
  for (const [i, client] of clients.entries()) await assertMessages(t, client, 5, `client ${i} before the kill`);

  // Kill the worker of the first client; exactly its clients lose their sockets.
  const victim = servedBy[0]!;
  t.true(workers.includes(victim), `client 0 is served by a worker: ${JSON.stringify(servedBy)}`);
  const lost = clients.filter((_, i) => servedBy[i] === victim);
  const kept = clients.filter((_, i) => servedBy[i] !== victim);
  t.true(lost.length >= 2 && kept.length >= 2, `both workers serve clients: ${JSON.stringify(servedBy)}`);
  const stillOpen = kept.map(() => true);
  kept.forEach((client, i) => void client.closed.then(() => (stillOpen[i] = false)));
  process.kill(victim, 'SIGKILL');
  await Promise.all(lost.map((client) => client.closed));
  // A scrape while the worker is being replaced is answered (summed, or 503 when a worker cannot answer yet), never left hanging.
  const scrape = await fetch(`http://127.0.0.1:${mesh.port}/metrics`, { signal: AbortSignal.timeout(WAIT_MS) });
  t.true([200, 503].includes(scrape.status), `scrape during a restart: ${scrape.status}`);

  // Meanwhile the core goes on; the other worker's clients get it live.
  await publishRange(mesh.core, 6, 10);
  for (const [i, client] of kept.entries()) await assertMessages(t, client, 10, `kept client ${i}`);

  // The lost clients come back (to whichever worker takes them) and resume from the last position they had.
  const resumed: RawClient[] = [];
  for (const [i, client] of lost.entries()) {
    const last = (await client.messages(5)).at(-1)!;
    t.is(last.offset, 5);
    const back = await connected(t, mesh.url);
    const answer = await subscribe(back, 2, { epoch: last.epoch as string, offset: 5 });
    t.like(answer, { op: 'subok', recovered: true, epoch: last.epoch, offset: 10 }, `lost client ${i}`);
    const replayed = (await back.messages(5, WAIT_MS)).filter((op) => op.topic === TOPIC);
    t.deepEqual(
      replayed.map((op) => [op.offset, (op.data as { n: number }).n]),
      [6, 7, 8, 9, 10].map((n) => [n, n]),
      `lost client ${i} gets what it missed, once, in order`,
    );
    resumed.push(back);
  }

  // The primary started the dead worker again, and it connects behind the same one uplink.
  const after = await untilChildren(
    mesh.pid,
    (children) => children.length === 2 && !children.includes(victim),
    'the killed worker started again',
  );
  const reborn = after.find((pid) => !workers.includes(pid))!;
  t.truthy(reborn, `a new worker: before ${JSON.stringify(workers)}, after ${JSON.stringify(after)}`);
  await untilMetric(mesh.port, 'relaymesh_edge_uplink_up', {}, 2);
  await untilMetric(mesh.port, 'relaymesh_edge_sessions', nativeSessions, CLIENTS);

  // New clients reach the new worker too (round-robin: a few in a row cover both), and everyone gets a new message.
  const fresh: RawClient[] = [];
  const freshServedBy: Array<number | undefined> = [];
  while (fresh.length < 10 && !freshServedBy.includes(reborn)) {
    const client = await connected(t, mesh.url);
    fresh.push(client);
    freshServedBy.push(await workerOf(client, mesh.port, after));
  }
  t.true(freshServedBy.includes(reborn), `a client of the new worker: ${JSON.stringify(freshServedBy)}`);
  for (const client of fresh) t.like(await subscribe(client, 3), { op: 'subok', offset: 10 });
  t.deepEqual(await publish(mesh.core, TOPIC, { n: 11 }), { epoch: answers[0]!.epoch, offset: 11 });
  for (const [i, client] of kept.entries()) await assertMessages(t, client, 11, `kept client ${i}`);
  for (const [i, client] of [...resumed, ...fresh].entries()) {
    const message = await client.next((op) => op.op === 'msg' && op.offset === 11, WAIT_MS);
    t.like(message, { topic: TOPIC, data: { n: 11 } }, `resumed or fresh client ${i}`);
  }
  t.true(stillOpen.every(Boolean), 'the clients of the surviving worker kept their sockets');

  // Still exactly one uplink into the core: the worker's death and return stayed behind the primary.
  t.is(mesh.proxy.totalConnections, 1, 'no second connection reached the core');
  t.is(mesh.proxy.connections, 1);
  t.deepEqual([...mesh.core.uplinks.keys()], ['e1']);

  await stopWithSigterm(t, mesh, [...kept, ...resumed, ...fresh]);
});
