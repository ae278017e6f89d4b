// Runs a real redis-server for tests and the engine benchmark: on a free port, without persistence, stopped in
// teardown; it can be stopped and started again on the same port to test outages.

import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import type { ExecutionContext } from 'ava';

const startDeadlineMs = 10_000;

export class RedisServer {
  private process: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  /** Starts a redis-server on a free port, stopped in teardown. */
  static async start(t: ExecutionContext): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    t.teardown(() => server.stop());
    await server.restart();
    return server;
  }

  /** Starts one for a whole file (`test.before`); the caller stops it (`test.after.always`). */
  static async launch(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port, empty; resolves once it answers PING. */
  async restart(): Promise<void> {
    if (this.process) throw new Error('redis-server is already running');
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'notice'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.process = child;
    let output = '';
    // Redis says when it listens; the PING after it proves that it answers on this port.
    const listening = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`redis-server did not start within ${startDeadlineMs} ms: ${output.slice(-2000)}`)),
        startDeadlineMs,
      );
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited (${code}): ${output.slice(-2000)}`));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot run redis-server (is it installed? apt-get install redis-server): ${error.message}`));
      });
    });
    try {
      await listening;
      if (!(await ping(this.port))) throw new Error(`redis-server on port ${this.port} does not answer PING`);
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** Stops the server (its data goes with it) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child) return;
    this.process = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }
}

/** True when a server on `port` answers PING with PONG; false when nothing (or not yet) listens there. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString();
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
  });
}

/** A port nothing listens on now: bound by the kernel's choice, then released for redis-server. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
