// irc-framework clients for tests: connected by TCP to an address, or over a byte stream that is already open (a
// tunnel's Duplex from the SDK), registered, with what they see in order; they quit in teardown.

import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { ExecutionContext } from 'ava';
import { Client, type ConnectOptions, type Transport } from 'irc-framework';
import type { Address } from '../../shared/topology.js';
import { within } from './within.js';

/** Generous: registration and each message cross the mesh on a loaded machine. */
export const IRC_DEADLINE_MS = 30_000;

export type IrcEvent =
  | { kind: 'privmsg'; from: string; target: string; text: string }
  | { kind: 'join'; nick: string; channel: string }
  | { kind: 'quit'; nick: string; message: string };

export interface IrcUser {
  readonly nick: string;
  readonly client: Client;
  /** What it has seen, in order of arrival. */
  readonly events: readonly IrcEvent[];
  /** The messages it has received from `from`, in order. */
  textsFrom(from: string): string[];
  /** The first event that matches, now or when it arrives; rejects at the deadline or if the connection closes. */
  until(match: (event: IrcEvent) => boolean, what: string): Promise<IrcEvent>;
  /** Joins and resolves once the server has confirmed it. */
  join(channel: string): Promise<void>;
}

/** Connects `nick` by TCP to `via`, or over the open stream `via`, and resolves once the server has welcomed it. */
export async function connectIrc(t: ExecutionContext, nick: string, via: Address | Duplex): Promise<IrcUser> {
  const client = new Client();
  const events: IrcEvent[] = [];
  const waiters = new Set<() => void>();
  let closed = false;
  const arrived = (event?: IrcEvent): void => {
    if (event) events.push(event);
    for (const waiter of [...waiters]) waiter();
  };
  client.on('message', (event) => {
    if (event.type === 'privmsg')
      arrived({ kind: 'privmsg', from: event.nick, target: event.target, text: event.message });
  });
  client.on('join', (event) => arrived({ kind: 'join', nick: event.nick, channel: event.channel }));
  client.on('quit', (event) => arrived({ kind: 'quit', nick: event.nick, message: event.message }));
  client.on('close', () => {
    closed = true;
    arrived();
  });
  const registered = new Promise<void>((resolve, reject) => {
    client.on('registered', () => resolve());
    client.on('close', () => reject(new Error(`${nick}: the connection closed before registration`)));
  });
  const options: ConnectOptions = { nick, username: nick, gecos: `relaymesh test ${nick}`, auto_reconnect: false };
  if (via instanceof Duplex) client.connect({ ...options, transport: streamTransport(via) });
  else client.connect({ ...options, host: via.host, port: via.port });
  t.teardown(() => {
    if (!closed) client.quit('teardown');
    if (via instanceof Duplex) via.destroy();
  });
  await within(registered, `${nick} registered`, IRC_DEADLINE_MS);

  const until = (match: (event: IrcEvent) => boolean, what: string): Promise<IrcEvent> =>
    within(
      new Promise<IrcEvent>((resolve, reject) => {
        const check = (): void => {
          const found = events.find(match);
          if (found || closed) waiters.delete(check);
          if (found) resolve(found);
          else if (closed) reject(new Error(`${nick}: the connection closed while waiting for ${what}`));
        };
        waiters.add(check);
        check();
      }),
      `${nick}: ${what}`,
      IRC_DEADLINE_MS,
    );
  return {
    nick,
    client,
    events,
    textsFrom: (from) =>
      events.flatMap((event) => (event.kind === 'privmsg' && event.from === from ? [event.text] : [])),
    until,
    async join(channel) {
      client.join(channel);
      await until(
        (event) => event.kind === 'join' && event.nick === nick && event.channel === channel,
        `join ${channel}`,
      );
    },
  };
}

/**
 * A transport class for irc-framework over a stream that is already open: it has a TCP one of its own, but no way to
 * be given a socket.
 */
function streamTransport(stream: Duplex): new (options: ConnectOptions) => Transport {
  return class StreamTransport extends EventEmitter implements Transport {
    private open = false;
    private pending = Buffer.alloc(0);

    // irc-framework passes its connect options; the stream is all this transport needs.
    constructor(_options: ConnectOptions) {
      super();
    }

    connect(): void {
      this.open = true;
      stream.on('data', (chunk: Buffer) => this.read(chunk));
      // No half-open IRC connection: the server's end ends ours.
      stream.once('end', () => stream.end());
      stream.on('error', (error: Error) => this.emit('debug', `stream error: ${error.message}`));
      stream.once('close', () => {
        this.open = false;
        this.emit('close', stream.errored ? stream.errored : false);
      });
      // irc-framework listens for `open` once connect() has returned.
      process.nextTick(() => this.emit('open'));
    }

    isConnected(): boolean {
      return this.open;
    }

    writeLine(line: string, callback?: () => void): void {
      if (this.open) stream.write(`${line}\r\n`, () => callback?.());
      else if (callback) process.nextTick(callback);
    }

    close(force?: boolean): void {
      if (force) stream.destroy();
      else stream.end();
    }

    disposeSocket(): void {
      stream.destroy();
    }

    setEncoding(encoding: string): boolean {
      return encoding === 'utf8';
    }

    private read(chunk: Buffer): void {
      this.pending = Buffer.concat([this.pending, chunk]);
      for (let end = this.pending.indexOf(0x0a); end >= 0; end = this.pending.indexOf(0x0a)) {
        this.emit('line', this.pending.subarray(0, end).toString('utf8').replace(/\r$/, ''));
        this.pending = this.pending.subarray(end + 1);
      }
    }
  };
}
