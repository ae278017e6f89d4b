// A throwaway PostgreSQL cluster for the tunnel benchmark (initdb, pg_ctl; as user `postgres` when run as root, which
// PostgreSQL refuses to be), on a free loopback port, removed when stopped; and pgbench's select-only run against it.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Address } from '../shared/topology.js';

const run = promisify(execFile);

export interface Postgres {
  address: Address;
  stop(): Promise<void>;
}

/** As `postgres` when we are root; as ourselves otherwise. */
function asOwner(command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const root = process.getuid?.() === 0;
  return root
    ? run('runuser', ['-u', 'postgres', '--', command, ...args], { timeout: 60_000 })
    : run(command, args, { timeout: 60_000 });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A running cluster with pgbench's tables (scale 1), or why none could start. */
export async function startPostgres(): Promise<Postgres | string> {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-bench-pg-'));
  const data = join(dir, 'data');
  const ctl = (args: string[]) => asOwner('pg_ctl', ['-D', data, ...args]);
  let started = false;
  const stop = async (): Promise<void> => {
    if (started) await ctl(['-m', 'immediate', 'stop']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (process.getuid?.() === 0) await run('chown', ['postgres:postgres', dir]);
    await asOwner('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync']);
    const port = await freePort();
    const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
    started = true;
    await ctl(['-l', join(dir, 'log'), '-o', options, '-w', '-t', '30', 'start']);
    const address = { host: '127.0.0.1', port };
    await pgbench(address, ['-i', '-s', '1', '-q']);
    return { address, stop };
  } catch (error) {
    await stop();
    const { message, stderr } = error as { message: string; stderr?: string };
    return (stderr || message).trim().split('\n').slice(-1)[0]!;
  }
}

function pgbench(address: Address, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const target = ['-h', address.host, '-p', String(address.port), '-U', 'postgres'];
  return run('pgbench', [...args, ...target, 'postgres'], { timeout: 120_000 });
}

/** pgbench -S (select only) with `clients` connections for `seconds`: transactions per second. */
export async function selectOnlyTps(address: Address, clients: number, seconds: number): Promise<number> {
  const { stdout } = await pgbench(address, ['-S', '-n', '-c', String(clients), '-j', '2', '-T', String(seconds)]);
  const tps = /tps = ([\d.]+)/.exec(stdout);
  if (!tps) throw new Error(`pgbench printed no tps: ${stdout.slice(-300)}`);
  return Number(tps[1]);
}
