// IRC through tunnels (docs/protocol.md §8): irc-framework clients talk on Debian's ngircd, entering the mesh by TCP
// forwards (where the core dials and where a branch edge dials) and by WebSocket (`relaymesh forward`, and the SDK's
// openTunnel stream), in a channel and in private, both ways and in order.

import test, { type ExecutionContext } from 'ava';
import { NodeMeshClient } from '../client/node.js';
import type { Address } from '../shared/topology.js';
import { freePorts, startCli, type Cli } from './helpers/cli.js';
import { connectIrc, type IrcUser } from './helpers/irc.js';
import { startNgircd } from './helpers/ngircd.js';
import { startTunnelMesh, type TunnelMesh } from './helpers/tunnel-mesh.js';

const channel = '#relaymesh';

/** ngircd, and a mesh whose tunnel `irc` the core dials and `irc-branch` the branch edge dials. */
async function ircMesh(t: ExecutionContext): Promise<TunnelMesh> {
  const server = await startNgircd(t);
  return startTunnelMesh(t, {
    tunnels: { irc: { connect: server.address }, 'irc-branch': { connect: server.address, at: 'eu-1' } },
  });
}

/** Joins everyone in turn, and waits until each has seen those after it join (those before it are already there). */
async function joinAll(users: readonly IrcUser[]): Promise<void> {
  for (const user of users) await user.join(channel);
  for (const [index, user] of users.entries())
    for (const later of users.slice(index + 1))
      await user.until(
        (event) => event.kind === 'join' && event.nick === later.nick && event.channel === channel,
        `${later.nick} joined`,
      );
}

/**
 * Each speaks `rounds` times in turn, and waits until everyone else has heard the line before the next speaks: a
 * conversation, not a flood (ngircd closes a client whose unread input outgrows its buffer). Then every listener must
 * have heard each speaker's lines exactly once and in order.
 */
async function converse(t: ExecutionContext, users: readonly IrcUser[], rounds: number): Promise<void> {
  const said = new Map<string, string[]>(users.map((user) => [user.nick, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const speaker of users) {
      // Words, accents, an emoji and a run of bytes long enough to span chunks: a line is up to 512 bytes in IRC.
      const text = `${speaker.nick} #${round}: grüße, ça va? 🛰 ${'x'.repeat((round * 37) % 200)}|end`;
      speaker.client.say(channel, text);
      said.get(speaker.nick)!.push(text);
      for (const listener of users)
        if (listener !== speaker)
          await listener.until(
            (event) => event.kind === 'privmsg' && event.from === speaker.nick && event.text === text,
            `${speaker.nick}'s line ${round}`,
          );
    }
  }
  for (const listener of users)
    for (const speaker of users)
      if (listener !== speaker) t.deepEqual(listener.textsFrom(speaker.nick), said.get(speaker.nick));
}

test('TCP forwards: one client where the core dials, one through the branch edge, in a channel and in private', async (t) => {
  const mesh = await ircMesh(t);
  const alice = await connectIrc(t, 'alice', mesh.forward('irc'));
  const bob = await connectIrc(t, 'bob', mesh.forward('irc-branch'));
  await joinAll([alice, bob]);
  await converse(t, [alice, bob], 25);

  // A short burst (well within what ngircd buffers): lines that share a chunk in the mesh still arrive whole, in order.
  const burst = Array.from({ length: 8 }, (_, index) => `burst line ${index + 1} of 8`);
  for (const line of burst) alice.client.say(channel, line);
  await bob.until((event) => event.kind === 'privmsg' && event.text === burst.at(-1), 'the burst');
  t.deepEqual(bob.textsFrom('alice').slice(-burst.length), burst);

  alice.client.say('bob', 'just between us');
  const toBob = await bob.until((event) => event.kind === 'privmsg' && event.target === 'bob', 'the private line');
  t.like(toBob, { from: 'alice', text: 'just between us' });
  bob.client.say('alice', 'noted');
  const toAlice = await alice.until((event) => event.kind === 'privmsg' && event.target === 'alice', 'the answer');
  t.like(toAlice, { from: 'bob', text: 'noted' });

  // A QUIT crosses the tunnel and the server's close comes back through it.
  alice.client.quit('off through the mesh');
  const quit = await bob.until((event) => event.kind === 'quit' && event.nick === 'alice', 'alice quit');
  // ngircd quotes a client's own reason, to tell it from the reasons the server gives.
  t.like(quit, { message: '"off through the mesh"' });
});

test('WebSocket entry: `relaymesh forward`, the SDK’s openTunnel stream and the core’s TCP forward, in one channel', async (t) => {
  const mesh = await ircMesh(t);
  const forward = await relaymeshForward(t, mesh.tunnelUrl('irc'));
  const viaCli = await connectIrc(t, 'carol', forward);

  const sdk = new NodeMeshClient({ url: mesh.entry.url, reconnect: false });
  t.teardown(() => sdk.close());
  const viaSdk = await connectIrc(t, 'dave', await sdk.openTunnel('irc-branch'));

  const viaCore = await connectIrc(t, 'erin', mesh.coreForward('irc-branch'));
  await joinAll([viaCli, viaSdk, viaCore]);
  await converse(t, [viaCli, viaSdk, viaCore], 10);

  viaSdk.client.quit('closing the stream');
  const quit = await viaCli.until((event) => event.kind === 'quit' && event.nick === 'dave', 'dave quit');
  t.like(quit, { message: '"closing the stream"' });
});

/** Runs `relaymesh forward --url <url> --listen 127.0.0.1:<free port>` until it listens; where it listens. */
async function relaymeshForward(t: ExecutionContext, url: string): Promise<Address> {
  let last: Cli | undefined;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const [port] = (await freePorts(1)) as [number];
    const cli = startCli(t, ['forward', '--url', url, '--listen', `127.0.0.1:${port}`, '--log-format', 'json']);
    last = cli;
    try {
      await cli.waitFor(() => /"msg":"forwarding"/.test(cli.stderr), 'the forward listening');
      return { host: '127.0.0.1', port };
    } catch (error) {
      // Another process took the free port between the probe and the start: take another.
      if (!/EADDRINUSE/.test(cli.stderr)) throw error;
    }
  }
  throw new Error(`relaymesh forward could not listen on a free port:\n${last?.stderr}`);
}
