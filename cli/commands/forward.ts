// `relaymesh forward --url ws[s]://EDGE/v1/tunnel/NAME --listen HOST:PORT [--token T]`: a local TCP listener for
// people without an edge of their own; each connection it accepts is carried over a WebSocket of its own to the edge
// (docs/protocol.md §8). A WebSocket has no half-close: a client that shuts its sending side ends the stream.

import { readFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import type { CommandModule } from 'yargs';
import { openTunnelDuplex } from '../../client/node.js';
import { TunnelError } from '../../client/tunnel-stream.js';
import { closeCodes } from '../../shared/errors.js';
import { listen } from '../../shared/listen.js';
import { tunnelPathPrefix } from '../../shared/protocol.js';
import { parseAddress } from '../../shared/topology-schema.js';
import { fail } from '../exit.js';
import { createLogger, type LogFormat } from '../logger.js';
import { forwardBeyondLoopback, isLoopback } from '../loopback.js';

interface ForwardArgs {
  url: string;
  listen: string;
  token?: string;
  ca?: string;
  'log-level': string;
  'log-format': LogFormat;
}

export const forwardCommand: CommandModule<object, ForwardArgs> = {
  command: 'forward',
  describe: 'Listen on a local TCP port and carry each connection to a tunnel through an edge, over WebSocket',
  builder: (y) =>
    y
      .option('url', {
        type: 'string',
        demandOption: true,
        describe: 'the tunnel on an edge: ws[s]://EDGE/v1/tunnel/NAME',
      })
      .option('listen', {
        type: 'string',
        demandOption: true,
        describe: 'where to listen, HOST:PORT (keep it on loopback: whoever reaches it uses the tunnel)',
      })
      .option('token', {
        type: 'string',
        describe: 'a token whose "tunnels" claim names the tunnel (default: $RELAYMESH_TOKEN)',
      })
      .option('ca', {
        type: 'string',
        describe: 'PEM file of the CA that signed a wss:// edge’s certificate',
      }) as never,
  handler: async (args) => {
    const url = tunnelUrlOf(args.url);
    const address = parseAddress(args.listen);
    if (!address) fail(`relaymesh forward: --listen expects HOST:PORT (IPv4, hostname or [IPv6]), got ${args.listen}`);
    const ca =
      args.ca === undefined
        ? undefined
        : await readFile(args.ca).catch((error: Error) => fail(`relaymesh forward: --ca: ${error.message}`));
    const token = args.token ?? process.env.RELAYMESH_TOKEN;
    const logger = createLogger(args['log-level'], args['log-format']);
    const server = createServer({ allowHalfOpen: false, pauseOnConnect: true, noDelay: true }, (socket) =>
      carry(socket),
    );
    const carry = (socket: Socket): void => {
      const client = `${socket.remoteAddress}:${socket.remotePort}`;
      openTunnelDuplex(url, { token, ca }).then(
        (stream) => {
          logger.info({ client }, 'tunnel stream opened');
          socket.pipe(stream).pipe(socket);
          socket.resume();
          stream.once('error', (error) => {
            logger.warn({ client, err: error.message }, 'tunnel stream ended');
            // A refused service closes the client without data; anything else cut it, and resets it as TCP would.
            if (error instanceof TunnelError && error.closeCode === closeCodes.serviceRefused) socket.destroy();
            else socket.resetAndDestroy();
          });
          socket.once('error', () => stream.destroy());
          socket.once('close', () => stream.end());
        },
        (error: Error) => {
          logger.warn({ client, err: error.message }, 'tunnel refused');
          socket.destroy();
        },
      );
    };
    try {
      await listen(server, address);
    } catch (error) {
      fail(`relaymesh forward: cannot listen on ${args.listen}: ${(error as Error).message}`);
    }
    logger.info({ listen: args.listen, url }, 'forwarding');
    if (!isLoopback(address.host)) logger.warn({ listen: args.listen }, forwardBeyondLoopback);
    const stop = (): void => {
      server.close();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  },
};

/** The URL as given, checked: ws:// or wss:// (http[s] is taken as the same) with a path under /v1/tunnel/. */
function tunnelUrlOf(given: string): string {
  let url: URL;
  try {
    url = new URL(given.replace(/^http/, 'ws'));
  } catch {
    return fail(`relaymesh forward: --url is not a URL: ${given}`);
  }
  if (
    !['ws:', 'wss:'].includes(url.protocol) ||
    !url.pathname.startsWith(tunnelPathPrefix) ||
    url.pathname === tunnelPathPrefix
  )
    fail(`relaymesh forward: --url expects ws[s]://EDGE${tunnelPathPrefix}NAME, got ${given}`);
  return url.href;
}
