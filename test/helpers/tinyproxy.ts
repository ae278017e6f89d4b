// Runs Debian's tinyproxy for tests: a real forward proxy on a free port (CONNECT to any port, optionally with Basic
// credentials), logging each connection, stopped in teardown.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { freePorts } from './cli.js';
import { within } from './within.js';

export class Tinyproxy {
  private constructor(
    readonly port: number,
    private readonly logFile: string,
    private readonly child: ChildProcess,
  ) {}

  /** Starts tinyproxy on 127.0.0.1; with `credentials` (`user:password`) it answers 407 to whoever does not show them. */
  static async start(t: ExecutionContext, options: { credentials?: string } = {}): Promise<Tinyproxy> {
    const dir = await mkdtemp(join(tmpdir(), 'relaymesh-tinyproxy-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const [port] = (await freePorts(1)) as [number];
    const logFile = join(dir, 'tinyproxy.log');
    const [user, password] = options.credentials?.split(':') ?? [];
    await writeFile(
      join(dir, 'tinyproxy.conf'),
      [
        `Port ${port}`,
        'Listen 127.0.0.1',
        'Timeout 60',
        'MaxClients 100',
        'Allow 127.0.0.1',
        // No ConnectPort line: CONNECT to any port, as the uplink needs.
        'LogLevel Connect',
        `LogFile "${logFile}"`,
        ...(user ? [`BasicAuth ${user} ${password}`] : []),
      ].join('\n'),
    );
    const child = spawn('tinyproxy', ['-d', '-c', join(dir, 'tinyproxy.conf')], { stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    t.teardown(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    const proxy = new Tinyproxy(port, logFile, child);
    await within(proxy.listening(child), 'tinyproxy listening (apt-get install tinyproxy)');
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Its log: one line per connection and request (`CONNECT 127.0.0.1:7400 HTTP/1.1` for each tunnel). */
  async log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  stop(): void {
    this.child.kill('SIGKILL');
  }

  /** Resolves once a TCP connection to its port is accepted (it listens), by trying until it is. */
  private async listening(child: ChildProcess): Promise<void> {
    const { connect } = await import('node:net');
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`tinyproxy exited (${child.exitCode}): is it installed? apt-get install tinyproxy`);
      const accepted = await new Promise<boolean>((resolve) => {
        const socket = connect(this.port, '127.0.0.1', () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      });
      if (accepted) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
