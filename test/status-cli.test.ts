// `relaymesh status`: unit tests of its rendering (ratesBetween, edgeState, renderStatus) on hand-made snapshots, and the real CLI run against an in-process mesh.

import test from 'ava';
import net from 'node:net';
import { edgeState, ratesBetween, renderStatus } from '../cli/status-view.js';
import type { CoreStatus, EdgeStatus, MeshSnapshot } from '../shared/mesh-status.js';
import { runCli } from './helpers/cli.js';
import { startMesh } from './helpers/mesh.js';
import { within } from './helpers/within.js';

function edge(fields: Partial<EdgeStatus> & Pick<EdgeStatus, 'id' | 'region'>): EdgeStatus {
  return {
    url: `ws://${fields.id}.example:8400`,
    draining: false,
    sessions: 0,
    capacity: 100,
    topics: 0,
    deliveries: 0,
    messagesIn: 0,
    published: 0,
    core: 'central',
    healthy: true,
    ...fields,
  };
}

function core(fields: Partial<CoreStatus> = {}): CoreStatus {
  return {
    id: 'central',
    region: 'us',
    url: 'ws://central.example:7400',
    uplinks: 3,
    published: 0,
    routed: 0,
    ...fields,
  };
}

const t0 = Date.UTC(2025, 0, 1, 12, 0, 0);

const before: MeshSnapshot = {
  via: 'central',
  at: t0,
  cores: [core({ published: 10, routed: 30 })],
  edges: [
    edge({ id: 'us-1', region: 'us', sessions: 33, topics: 1, deliveries: 330, messagesIn: 10 }),
    edge({ id: 'eu-1', region: 'eu', sessions: 34, topics: 1, deliveries: 340, messagesIn: 10 }),
    edge({ id: 'ap-1', region: 'ap', sessions: 33, topics: 1, deliveries: 330, messagesIn: 10 }),
  ],
  tunnels: [],
};

// Two seconds later: 100 more messages, everywhere; ap-1 restarted (its counters went back to near zero); eu-2 is new.
const after: MeshSnapshot = {
  via: 'central',
  at: t0 + 2000,
  cores: [core({ published: 110, routed: 330, uplinks: 4 })],
  edges: [
    edge({ id: 'us-1', region: 'us', sessions: 33, topics: 1, deliveries: 3630, messagesIn: 110 }),
    edge({ id: 'eu-1', region: 'eu', sessions: 34, topics: 1, deliveries: 3740, messagesIn: 110 }),
    edge({ id: 'ap-1', region: 'ap', sessions: 33, topics: 1, deliveries: 66, messagesIn: 2 }),
    edge({
      id: 'eu-2',
      region: 'eu',
      sessions: 0,
      topics: 0,
      deliveries: 0,
      messagesIn: 0,
      healthy: false,
      draining: true,
    }),
  ],
  tunnels: [],
};

test('ratesBetween: per-second rates of the counters between two snapshots', (t) => {
  const rates = ratesBetween(before, after);
  t.deepEqual([...rates.published], [['central', 50]]);
  t.is(rates.messagesIn.get('us-1'), 50);
  t.is(rates.deliveries.get('us-1'), 1650);
  t.is(rates.messagesIn.get('eu-1'), 50);
  t.is(rates.deliveries.get('eu-1'), 1700);
  t.is(rates.messagesIn.get('ap-1'), 0, 'a counter that went back (a restart) gives 0, not a negative rate');
  t.is(rates.deliveries.get('ap-1'), 0);
  t.is(rates.messagesIn.get('eu-2'), 0, 'an edge absent before has no rate yet: 0');
  t.is(rates.deliveries.get('eu-2'), 0);
  t.deepEqual([...rates.messagesIn.keys()].sort(), ['ap-1', 'eu-1', 'eu-2', 'us-1']);
});

test('ratesBetween: no earlier snapshot, or no time between them, gives no rates', (t) => {
  for (const rates of [
    ratesBetween(undefined, after),
    ratesBetween(after, after),
    ratesBetween(after, { ...before, at: after.at - 1000 }),
  ]) {
    t.is(rates.published.size, 0);
    t.is(rates.messagesIn.size, 0);
    t.is(rates.deliveries.size, 0);
  }
});

test('edgeState: ready, draining, no uplink, full', (t) => {
  t.is(edgeState(edge({ id: 'a', region: 'r' })), 'ready');
  t.is(edgeState(edge({ id: 'a', region: 'r', draining: true, healthy: false })), 'draining');
  t.is(
    edgeState(edge({ id: 'a', region: 'r', draining: true, healthy: false, core: '' })),
    'draining',
    'draining says more than a lost uplink',
  );
  t.is(edgeState(edge({ id: 'a', region: 'r', core: '', healthy: false })), 'no uplink');
  t.is(edgeState(edge({ id: 'a', region: 'r', sessions: 100, capacity: 100, healthy: false })), 'full');
});

/** The rows of the edge table, by edge id: cells split on the column gaps (two spaces or more). */
function edgeRows(view: string): Map<string, string[]> {
  const lines = view.split('\n');
  const header = lines.findIndex((line) => line.startsWith('REGION'));
  const rows = new Map<string, string[]>();
  for (const line of lines.slice(header + 1)) {
    if (line.trim() === '') break;
    const cells = line.trim().split(/\s{2,}/);
    rows.set(cells[1]!, cells);
  }
  return rows;
}

test('renderStatus: the core, then edges by region and id with state, clients/capacity, topics, rates and amplification', (t) => {
  const view = renderStatus(after, ratesBetween(before, after));
  const lines = view.split('\n');
  t.regex(lines[0]!, /^relaymesh status — as central sees it at /);
  const coreHeader = lines.findIndex((line) => line.startsWith('CORE'));
  t.deepEqual(lines[coreHeader]!.split(/\s{2,}/), ['CORE', 'REGION', 'EDGES', 'PUBLISHED', 'MSGS/S']);
  t.deepEqual(lines[coreHeader + 1]!.trim().split(/\s{2,}/), ['central', 'us', '4', '110', '50.0']);

  const header = lines.find((line) => line.startsWith('REGION'))!;
  t.deepEqual(header.split(/\s{2,}/), [
    'REGION',
    'EDGE',
    'STATE',
    'CORE',
    'CLIENTS',
    'TOPICS',
    'IN/S',
    'OUT/S',
    'AMPLIFICATION',
  ]);
  const rows = edgeRows(view);
  t.deepEqual([...rows.keys()], ['ap-1', 'eu-1', 'eu-2', 'us-1'], 'sorted by region, then id');
  t.deepEqual(rows.get('eu-1'), ['eu', 'eu-1', 'ready', 'central', '34/100', '1', '50.0', '1700.0', '34.0×']);
  t.deepEqual(rows.get('us-1'), ['us', 'us-1', 'ready', 'central', '33/100', '1', '50.0', '1650.0', '33.0×']);
  t.deepEqual(rows.get('ap-1'), ['ap', 'ap-1', 'ready', 'central', '33/100', '1', '0.0', '0.0', '33.0×']);
  t.deepEqual(
    rows.get('eu-2'),
    ['eu', 'eu-2', 'draining', 'central', '0/100', '0', '0.0', '0.0', '0.0×'],
    'no messages in: amplification 0',
  );
  // Columns line up under their headings.
  const state = header.indexOf('STATE');
  for (const line of lines.filter((candidate) => /^(ap|eu|us)\s/.test(candidate)))
    t.regex(line.slice(state), /^(ready|draining)/);

  const total = lines.at(-1)!;
  // (3630 + 3740 + 66) deliveries / (110 + 110 + 2) messages in
  t.is(
    total,
    `4 edges (3 ready), 100 clients, amplification ${(7436 / 222).toFixed(1)}× (client deliveries per uplink message)`,
  );
});

test('renderStatus: without rates the rate columns show "-"; an edge without a core says so', (t) => {
  const lonely: MeshSnapshot = {
    via: 'eu-1',
    at: t0,
    cores: [],
    edges: [
      edge({ id: 'eu-1', region: 'eu', core: '', healthy: false, sessions: 2, capacity: 5 }),
      edge({ id: 'us-1', region: 'us', sessions: 5, capacity: 5, healthy: false }),
    ],
    tunnels: [],
  };
  const view = renderStatus(lonely, ratesBetween(undefined, lonely));
  t.regex(view, /^relaymesh status — as eu-1 sees it at /);
  t.true(view.includes('(no core known yet: this edge has no uplink)'));
  const rows = edgeRows(view);
  t.deepEqual(rows.get('eu-1'), ['eu', 'eu-1', 'no uplink', '-', '2/5', '0', '-', '-', '0.0×']);
  t.deepEqual(rows.get('us-1'), ['us', 'us-1', 'full', 'central', '5/5', '0', '-', '-', '0.0×']);
  t.is(
    view.split('\n').at(-1),
    '2 edges (0 ready), 7 clients, amplification 0.0× (client deliveries per uplink message)',
  );
});

// ── The real command ─────────────────────────────────────────────────────────────────────────────────────────────

test('relaymesh status against a live mesh: --json from the core, the table from an edge, refreshes with rates', async (t) => {
  const mesh = await startMesh(t);
  const both = (snapshot: MeshSnapshot): boolean => snapshot.edges.length === 2 && snapshot.cores.length === 1;
  await within(
    Promise.all([mesh.core.meshUntil(both), ...mesh.edges.map((node) => node.meshUntil(both))]),
    'every node knows the whole mesh',
  );
  const [eu, us] = mesh.edges as [(typeof mesh.edges)[0], (typeof mesh.edges)[0]];

  const [json, table, refreshed] = await Promise.all([
    runCli(t, ['status', '--url', mesh.http(mesh.core), '--json']),
    runCli(t, ['status', '--url', eu.url, '--count', '1']),
    runCli(t, ['status', '--url', `${mesh.http(us)}/`, '--count', '2', '--interval', '0.05']),
  ]);

  t.is(json.code, 0, json.stderr);
  const snapshot = JSON.parse(json.stdout) as MeshSnapshot;
  t.is(snapshot.via, mesh.core.id);
  t.is(typeof snapshot.at, 'number');
  t.like(snapshot.cores, [{ id: mesh.core.id, uplinks: 2 }]);
  t.deepEqual(snapshot.edges.map((node) => node.id).sort(), ['eu-1', 'us-1']);
  for (const node of snapshot.edges) t.like(node, { core: mesh.core.id, healthy: true, draining: false, sessions: 0 });
  t.like(
    snapshot.edges.find((node) => node.id === 'eu-1'),
    { region: 'eu', url: eu.url },
  );

  t.is(table.code, 0, table.stderr);
  t.false(table.stdout.includes('\x1b['), 'no screen control codes when stdout is not a terminal');
  t.regex(table.stdout, /^relaymesh status — as eu-1 sees it at /);
  const rows = edgeRows(table.stdout);
  t.deepEqual([...rows.keys()], ['eu-1', 'us-1']);
  for (const id of ['eu-1', 'us-1']) {
    const cells = rows.get(id) ?? [];
    t.deepEqual(
      [cells[1], cells[2], cells[3], cells[4], cells[6], cells[7]],
      [id, 'ready', mesh.core.id, '0/100000', '-', '-'],
      `${id} is ready:\n${table.stdout}`,
    );
  }
  const coreLine = table.stdout.split('\n').find((line) => line.startsWith(mesh.core.id));
  t.truthy(coreLine, `the core is listed:\n${table.stdout}`);
  t.regex(table.stdout, /^2 edges \(2 ready\), 0 clients, /m);

  t.is(refreshed.code, 0, refreshed.stderr);
  const frames = refreshed.stdout.split(/^(?=relaymesh status — )/m);
  t.is(frames.length, 2, `two refreshes:\n${refreshed.stdout}`);
  t.regex(frames[0]!, /^relaymesh status — as us-1 sees it/);
  t.deepEqual(edgeRows(frames[0]!).get('us-1')?.slice(6, 8), ['-', '-'], 'no rates in the first view');
  t.deepEqual(edgeRows(frames[1]!).get('us-1')?.slice(6, 8), ['0.0', '0.0'], 'rates from the second view on');
});

test('relaymesh status with a bad --url or --interval exits 1 and says why', async (t) => {
  // A privileged port nothing here listens on (a port freed a moment ago could be taken by another test's node;
  // port 1 is one that fetch refuses outright).
  const port = 2;
  const [unreachable, interval] = await Promise.all([
    runCli(t, ['status', '--url', `http://127.0.0.1:${port}`, '--count', '1']),
    runCli(t, ['status', '--url', `http://127.0.0.1:${port}`, '--interval', '0']),
  ]);
  t.is(unreachable.code, 1);
  t.is(unreachable.stdout, '');
  t.regex(
    unreachable.stderr,
    new RegExp(`^relaymesh status: cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`, 'm'),
  );
  t.false(/^\s+at /m.test(unreachable.stderr), 'no stack trace');

  t.is(interval.code, 1);
  t.regex(interval.stderr, /--interval must be a positive number/);
});

test('relaymesh status --json against a node without /v1/mesh exits 1 with the status it got', async (t) => {
  const server = net.createServer((socket) => {
    socket.once('data', () =>
      socket.end(
        'HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found',
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const { port } = server.address() as net.AddressInfo;
  const run = await runCli(t, ['status', '--url', `http://127.0.0.1:${port}`, '--json']);
  t.is(run.code, 1);
  t.is(run.stdout, '');
  t.regex(run.stderr, new RegExp(`relaymesh status: http://127\\.0\\.0\\.1:${port}/v1/mesh answered 404 not found`));
});

test('renderStatus: the tunnels, who dials each, the streams open and the bytes carried at the answering node', (t) => {
  const view = renderStatus(
    {
      ...before,
      tunnels: [
        { name: 'pg', at: '', streams: 3, toService: 1_500_000, fromService: 42_000_000 },
        { name: 'erp', at: 'eu-1', streams: 0, toService: 0, fromService: 0 },
      ],
    },
    ratesBetween(undefined, before),
  );
  const lines = view.split('\n');
  const header = lines.findIndex((line) => line.startsWith('TUNNEL'));
  t.true(header > 0);
  t.deepEqual(
    lines.slice(header + 1, header + 3).map((line) => line.trim().split(/\s{2,}/)),
    [
      ['pg', 'core', '3', '1.5 MB', '42.0 MB'],
      ['erp', 'eu-1', '0', '0 B', '0 B'],
    ],
  );
});
