// Runs a throwaway PostgreSQL cluster for tests (initdb in a temporary folder, one server on a free 127.0.0.1 port,
// stopped and removed at the end) and its client programs, psql and pgbench, as child processes against any address.

import { spawn } from 'node:child_process';
import { existsSync, readdirSync, realpathSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Address } from '../../shared/topology.js';
import { freePorts } from './cli.js';
import { within } from './within.js';

/** Generous: initdb and a start on a loaded machine, and client programs moving megabytes through a mesh. */
const DEADLINE_MS = 90_000;
const PORT_ATTEMPTS = 5;
const install = 'apt-get install postgresql postgresql-client';

export interface ProgramResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface ClientOptions {
  /** Where the client connects: a tunnel's forward; default the server itself. */
  via?: Address;
  database?: string;
  /** Written to the program's stdin, which is then closed. */
  input?: Buffer | string;
}

export class Postgres {
  private constructor(
    readonly address: Address,
    private readonly dir: string,
    private readonly bin: string,
  ) {}

  /** Starts a cluster for a whole file (`test.before`); the caller stops it (`test.after.always`). */
  static async launch(): Promise<Postgres> {
    const bin = binDir();
    const dir = await mkdtemp(join(tmpdir(), 'relaymesh-postgres-'));
    try {
      // PostgreSQL refuses to run as root: as root, the cluster belongs to and runs as the user `postgres`.
      if (asRoot()) await runOrThrow('chown', ['postgres:', dir]);
      await runOrThrow(
        ...serverCommand(join(bin, 'initdb'), [
          ...['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C'],
          ...['--no-sync', '--no-instructions'],
        ]),
      );
      for (let attempt = 1; ; attempt++) {
        const [port] = (await freePorts(1)) as [number];
        // Durability is worthless in a throwaway cluster; without it, a loaded disk does not slow the tests.
        const settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off`;
        const log = join(dir, `server-${attempt}.log`);
        // `-l`: the server must not inherit pg_ctl's pipes, or pg_ctl's output would never end.
        const start = await run(
          ...serverCommand(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-l', log, '-o', settings, '-w', 'start']),
        );
        if (start.code === 0) return new Postgres({ host: '127.0.0.1', port }, dir, bin);
        const why = await readFile(log, 'utf8').catch(() => '');
        // Another process took the free port between the probe and the start: take another.
        if (attempt < PORT_ATTEMPTS && /could not bind|already in use/i.test(why)) continue;
        throw new Error(`pg_ctl start failed (${start.code}): ${start.stderr}\n${why.slice(-2000)}`);
      }
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Stops the server at once (nothing in it is worth a checkpoint) and removes the cluster. */
  async stop(): Promise<void> {
    await run(...serverCommand(join(this.bin, 'pg_ctl'), ['-D', join(this.dir, 'data'), '-m', 'immediate', 'stop']));
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Creates an empty database, so that tests running at once do not share tables. */
  async createDatabase(t: ExecutionContext, name: string): Promise<void> {
    const result = await this.client(t, 'psql', ['-c', `CREATE DATABASE "${name}"`]);
    if (result.code !== 0) throw new Error(`CREATE DATABASE ${name}: ${result.stderr}`);
  }

  /**
   * Runs psql or pgbench to its end as user `postgres`, connecting by TCP to `options.via` (a forward) or to the
   * server; killed in teardown if it is still running.
   */
  client(
    t: ExecutionContext,
    program: 'psql' | 'pgbench',
    args: readonly string[],
    options: ClientOptions = {},
  ): Promise<ProgramResult> {
    const via = options.via ?? this.address;
    const env = {
      PGHOST: via.host,
      PGPORT: String(via.port),
      PGUSER: 'postgres',
      PGDATABASE: options.database ?? 'postgres',
      PGCONNECT_TIMEOUT: '60',
      // psql must not read a ~/.psqlrc or page its output.
      PSQLRC: '/dev/null',
      PAGER: '',
    };
    return within(run(join(this.bin, program), args, { t, env, input: options.input }), program, DEADLINE_MS);
  }
}

/** Where the server's programs are: beside an initdb on PATH, else Debian's /usr/lib/postgresql/<newest>/bin. */
function binDir(): string {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const initdb = join(dir, 'initdb');
    // Debian links the programs elsewhere (/usr/local/bin): their folder also holds psql and pgbench.
    if (dir && existsSync(initdb)) return dirname(realpathSync(initdb));
  }
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((name) => /^\d+$/.test(name)) : [];
  for (const version of versions.sort((a, b) => Number(b) - Number(a))) {
    const bin = join(root, version, 'bin');
    if (existsSync(join(bin, 'initdb'))) return bin;
  }
  throw new Error(`PostgreSQL's initdb is neither on PATH nor in ${root}/*/bin: ${install}`);
}

function asRoot(): boolean {
  return process.getuid?.() === 0;
}

/** A server program's command line: as the user `postgres` when this process is root. */
function serverCommand(program: string, args: readonly string[]): [string, readonly string[]] {
  // runuser lives in /usr/sbin, which is not on every PATH.
  const runuser = existsSync('/usr/sbin/runuser') ? '/usr/sbin/runuser' : 'runuser';
  return asRoot() ? [runuser, ['-u', 'postgres', '--', program, ...args]] : [program, args];
}

async function runOrThrow(program: string, args: readonly string[]): Promise<void> {
  const result = await run(program, args);
  if (result.code !== 0) throw new Error(`${program} ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
}

function run(
  program: string,
  args: readonly string[],
  options: { t?: ExecutionContext; env?: Record<string, string>; input?: Buffer | string | undefined } = {},
): Promise<ProgramResult> {
  const child = spawn(program, args, { env: { ...process.env, ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<ProgramResult>((resolve, reject) => {
    const stdout: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', (error) => reject(new Error(`cannot run ${program} (${install}): ${error.message}`)));
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr }));
  });
  options.t?.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
  });
  // A program that exits before reading all of its input must not fail the write with EPIPE.
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');
  return exited;
}
