// NATS as the benchmark's peer: two nats-server processes, a hub and a leaf node connected to it (`leafnodes`), the leaf
// serving WebSocket clients, each from a config file generated in a temp dir. The binary is looked up on PATH and in
// /usr/sbin, where Debian's nats-server package puts it.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServers {
  /** nats://… of the hub's client port: where the publisher connects. */
  hubUrl: string;
  /** ws://… of the leaf node: where subscribers connect. */
  wsUrl: string;
  hubPid: number;
  leafPid: number;
  /** Kills both and removes their configs. */
  stop(): void;
}

const startDeadlineMs = 10_000;

/** The nats-server binary, or undefined when it is not installed. */
export function findNatsServer(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/local/sbin'];
  for (const dir of dirs) {
    const file = join(dir, 'nats-server');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // Not in this one.
    }
  }
  return undefined;
}

/** `v2.9.10`, from `nats-server --version` ("nats-server: v2.9.10"). */
export function natsVersion(binary: string): string {
  return execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim().split(' ').pop()!;
}

/** Distinct ports that were free a moment ago (all held at once, then released for the servers to take). */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** Starts nats-server on `config`; resolves once it logs that it is ready (its output is kept for errors). */
function launch(binary: string, config: string): Promise<ChildProcess> {
  const child = spawn(binary, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`nats-server (${config}) not ready within ${startDeadlineMs} ms: ${output.slice(-1000)}`));
    }, startDeadlineMs);
    const onData = (chunk: Buffer): void => {
      // Kept short: the output is read for as long as the server runs, so a pipe never fills and stalls it.
      output = (output + chunk.toString()).slice(-4000);
      if (output.includes('Server is ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${binary}: ${error.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server (${config}) exited with ${code}: ${output.slice(-1000)}`));
    });
  });
}

/**
 * A hub and a leaf node with defaults otherwise (no TLS on the loopback WebSocket port, compression off, as for the
 * other candidates). The leaf's own client port is random and unused. Resolves once both are ready; the leaf's link to
 * the hub may still be coming up (the caller checks a message gets through).
 */
export async function startNatsServers(binary: string): Promise<NatsServers> {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-bench-nats-'));
  const [hubPort, leafnodePort, wsPort] = await freePorts(3);
  const hubConfig = join(dir, 'hub.conf');
  const leafConfig = join(dir, 'leaf.conf');
  await writeFile(hubConfig, `listen: "127.0.0.1:${hubPort}"\nleafnodes { listen: "127.0.0.1:${leafnodePort}" }\n`);
  await writeFile(
    leafConfig,
    `host: "127.0.0.1"\nport: -1\n` +
      `websocket { listen: "127.0.0.1:${wsPort}", no_tls: true }\n` +
      `leafnodes { remotes: [{ url: "nats://127.0.0.1:${leafnodePort}" }] }\n`,
  );
  const children: ChildProcess[] = [];
  // Not our children's children: if this process ends without stop(), they would outlive it and hold their ports.
  const kill = (): void => children.forEach((child) => child.kill('SIGKILL'));
  process.once('exit', kill);
  const stop = (): void => {
    process.off('exit', kill);
    kill();
    void rm(dir, { recursive: true, force: true });
  };
  try {
    children.push(await launch(binary, hubConfig));
    children.push(await launch(binary, leafConfig));
  } catch (error) {
    stop();
    throw error;
  }
  // Once running, an exit is no longer a start failure.
  for (const child of children) child.removeAllListeners('exit');
  return {
    hubUrl: `nats://127.0.0.1:${hubPort}`,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    hubPid: children[0]!.pid!,
    leafPid: children[1]!.pid!,
    stop,
  };
}
