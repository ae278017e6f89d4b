// Runs Debian's ngircd for tests: a real IRC server on a free 127.0.0.1 port, configured in a temporary folder, in the
// foreground, ready once it answers a line on its port; stopped in teardown.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { ExecutionContext } from 'ava';
import type { Address } from '../../shared/topology.js';
import { freePorts } from './cli.js';
import { within } from './within.js';

const START_DEADLINE_MS = 30_000;
const PORT_ATTEMPTS = 3;
const install = 'apt-get install ngircd';

export interface Ngircd {
  address: Address;
  /** What it has logged so far. */
  readonly output: string;
}

export async function startNgircd(t: ExecutionContext): Promise<Ngircd> {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-ngircd-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  let lastFailure = '';
  for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
    const [port] = (await freePorts(1)) as [number];
    const file = join(dir, `ngircd-${attempt}.conf`);
    await writeFile(file, config(port));
    const child = spawn(program(), ['--nodaemon', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise<string>((resolve) => {
      child.once('error', (error) => resolve(`cannot run ngircd (${install}): ${error.message}`));
      child.once('close', (code, signal) => resolve(`ngircd exited (${code ?? signal})`));
    });
    t.teardown(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    });
    // It logs "ready" once it listens on every port; the probe then proves that it answers on this one.
    const ready = new Promise<void>((resolve) => {
      const onData = (chunk: Buffer): void => {
        output += chunk.toString();
        if (/Server ".*" \(on ".*"\) ready/.test(output)) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
    });
    const address = { host: '127.0.0.1', port };
    const outcome = await within(
      Promise.race([ready.then(() => answers(address)), exited.then((why) => new Error(why))]),
      `ngircd ready on port ${port}`,
      START_DEADLINE_MS,
    );
    if (outcome === true)
      return {
        address,
        get output() {
          return output;
        },
      };
    lastFailure = `${outcome instanceof Error ? outcome.message : 'no answer to PING'}\n${output.slice(-2000)}`;
    child.kill('SIGKILL');
    await exited;
    // Another process took the free port between the probe and the start: take another.
    if (!/Can't bind socket|Address already in use/i.test(output)) break;
  }
  throw new Error(`ngircd did not start: ${lastFailure}`);
}

/** Debian installs it in /usr/sbin, which is on root's PATH but often not on a user's. */
function program(): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  return dirs.map((dir) => join(dir, 'ngircd')).find((path) => path.startsWith('/') && existsSync(path)) ?? 'ngircd';
}

function config(port: number): string {
  return [
    '[Global]',
    'Name = irc.test',
    'Info = relaymesh test server',
    'AdminInfo1 = relaymesh tests',
    'AdminInfo2 = 127.0.0.1',
    'AdminEMail = tests@irc.test',
    'Listen = 127.0.0.1',
    `Ports = ${port}`,
    'MotdPhrase = relaymesh tests',
    // As root it would switch to `nobody` anyway, with a warning; as another user it cannot switch.
    ...(process.getuid?.() === 0 ? ['ServerUID = nobody', 'ServerGID = nogroup'] : []),
    '[Limits]',
    // Every tunnel connection comes from the node that dials, 127.0.0.1: the default limit is 5 per address.
    'MaxConnectionsIP = 0',
    // Penalties delay a client's commands by seconds after a burst: a test's bursts are not floods.
    'MaxPenaltyTime = 0',
    '[Options]',
    'PAM = no',
    'Ident = no',
    'DNS = no',
    '',
  ].join('\n');
}

/** True once a connection to `address` gets an answer to a PING (an unregistered client still gets one line back). */
function answers(address: Address): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(address, () => socket.write('PING :probe\r\n'));
    socket.on('data', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
  });
}
