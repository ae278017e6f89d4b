// PostgreSQL through tunnels (docs/protocol.md §8), with its own clients: psql moves ten megabytes each way byte-exact,
// and pgbench's concurrent clients complete every transaction, by the path where the core dials and by a branch edge.

import { createHash } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import type { Address } from '../shared/topology.js';
import { Postgres, type ProgramResult } from './helpers/postgres.js';
import { patternBytes } from './helpers/tcp-services.js';
import { startTunnelMesh, type TunnelMesh } from './helpers/tunnel-mesh.js';

// One cluster for the file: it takes seconds to start. Each test has a database of its own.
let postgres: Postgres | undefined;
test.before(async () => {
  postgres = await Postgres.launch();
});
test.after.always(async () => {
  await postgres?.stop();
});

interface Path {
  name: string;
  forward(mesh: TunnelMesh): Address;
}

const paths: Path[] = [
  { name: 'entry edge → core → PostgreSQL', forward: (mesh) => mesh.forward('pg') },
  { name: 'entry edge → core → branch edge → PostgreSQL', forward: (mesh) => mesh.forward('pg-branch') },
  { name: 'core’s forward → branch edge → PostgreSQL', forward: (mesh) => mesh.coreForward('pg-branch') },
];

let databases = 0;

/** A mesh whose tunnel `pg` the core dials and `pg-branch` the branch edge dials, and a database for this test. */
async function setUp(t: ExecutionContext, path: Path): Promise<{ server: Postgres; via: Address; database: string }> {
  const server = postgres!;
  const mesh = await startTunnelMesh(t, {
    tunnels: { pg: { connect: server.address }, 'pg-branch': { connect: server.address, at: 'eu-1' } },
  });
  const database = `test_${++databases}`;
  await server.createDatabase(t, database);
  return { server, via: path.forward(mesh), database };
}

function succeeded(t: ExecutionContext, result: ProgramResult, what: string): string {
  t.is(result.code, 0, `${what}: ${result.stderr}`);
  return result.stdout.toString();
}

/** `rows` lines of COPY text (`id<TAB>hex`), about 10 MB for 80,000 rows; and the md5 of the bodies in order. */
function copyRows(rows: number): { text: Buffer; bodiesMd5: string } {
  const md5 = createHash('md5');
  const lines: string[] = [];
  for (let id = 1; id <= rows; id++) {
    const body = patternBytes(64, id).toString('hex');
    md5.update(body);
    lines.push(`${id}\t${body}\n`);
  }
  return { text: Buffer.from(lines.join('')), bodiesMd5: md5.digest('hex') };
}

for (const path of paths) {
  test(`psql, ${path.name}: DDL and DML, then 10 MB up by COPY FROM STDIN and back by COPY TO STDOUT`, async (t) => {
    const { server, via, database } = await setUp(t, path);
    const psql = (args: string[], input?: Buffer): Promise<ProgramResult> =>
      server.client(t, 'psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-A', '-t', ...args], { via, database, input });

    const script = [
      'CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL);',
      "INSERT INTO notes VALUES (1, 'plain'), (2, 'ünïcödé ✓'), (3, 'to be deleted');",
      "UPDATE notes SET body = body || ' (edited)' WHERE id = 1;",
      'DELETE FROM notes WHERE id = 3;',
      "SELECT id || ':' || body FROM notes ORDER BY id;",
    ].join('\n');
    t.is(succeeded(t, await psql(['-c', script]), 'the script'), '1:plain (edited)\n2:ünïcödé ✓\n');

    t.is(succeeded(t, await psql(['-c', 'CREATE TABLE uploads (id int PRIMARY KEY, body text NOT NULL)']), 'DDL'), '');
    const { text, bodiesMd5 } = copyRows(80_000);
    t.true(text.length > 10_000_000);
    succeeded(t, await psql(['-c', 'COPY uploads (id, body) FROM STDIN'], text), 'COPY FROM STDIN');
    // PostgreSQL's own digest of what it stored: the upload arrived byte-exact and in order.
    const digest = "SELECT count(*) || ' ' || md5(string_agg(body, '' ORDER BY id)) FROM uploads";
    t.is(succeeded(t, await psql(['-c', digest]), 'the digest').trim(), `80000 ${bodiesMd5}`);

    const download = await psql(['-c', 'COPY (SELECT id, body FROM uploads ORDER BY id) TO STDOUT']);
    succeeded(t, download, 'COPY TO STDOUT');
    t.is(download.stdout.length, text.length);
    t.true(download.stdout.equals(text), 'the download is byte-exact');
  });
}

for (const path of paths.slice(0, 2)) {
  test(`pgbench, ${path.name}: initialise, then 8 clients read-only and 4 read-write, every transaction done`, async (t) => {
    const { server, via, database } = await setUp(t, path);
    const pgbench = (args: string[]): Promise<ProgramResult> => server.client(t, 'pgbench', args, { via, database });

    // Scale 1: 100,000 accounts sent by COPY from the client, then indexes and a vacuum.
    const init = await pgbench(['-i', '-s', '1', '-q']);
    t.is(init.code, 0, init.stderr);
    t.regex(init.stderr, /done in /);

    const readOnly = succeeded(t, await pgbench(['-n', '-S', '-c', '8', '-j', '2', '-t', '200']), 'pgbench -S');
    t.regex(readOnly, /number of clients: 8\n/);
    t.regex(readOnly, /number of transactions actually processed: 1600\/1600\n/);
    t.regex(readOnly, /number of failed transactions: 0 /);

    const readWrite = succeeded(t, await pgbench(['-n', '-c', '4', '-j', '2', '-t', '50']), 'pgbench (TPC-B like)');
    t.regex(readWrite, /number of transactions actually processed: 200\/200\n/);
    t.regex(readWrite, /number of failed transactions: 0 /);
    // Each TPC-B transaction inserts one history row: the writes are in the database, not only counted by pgbench.
    const history = await server.client(t, 'psql', ['-X', '-A', '-t', '-c', 'SELECT count(*) FROM pgbench_history'], {
      via,
      database,
    });
    t.is(succeeded(t, history, 'the history count').trim(), '200');
  });
}
