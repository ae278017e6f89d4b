// `relaymesh token`: mints a client token (docs/protocol.md §5) for tests and operators, with the topology's algorithm:
// HS256 signs with the secret in the topology's variable, EdDSA and RS256 with a private key file.

import { readFile } from 'node:fs/promises';
import { SignJWT, importPKCS8 } from 'jose';
import type { CommandModule } from 'yargs';
import { fail, loadTopologyOrExit } from '../exit.js';

interface TokenArgs {
  topology: string;
  sub?: string;
  subscribe: string[];
  publish: string[];
  tunnel: string[];
  ttl: number;
  'private-key'?: string;
}

export const tokenCommand: CommandModule<object, TokenArgs> = {
  command: 'token',
  describe: "Mint a client token for the topology's auth settings",
  builder: (y) =>
    y
      .option('topology', {
        type: 'string',
        default: 'topology.json',
        describe: 'the topology file (its auth.tokens says how to sign)',
      })
      .option('sub', { type: 'string', describe: 'the subject (user id)' })
      .option('subscribe', {
        type: 'string',
        array: true,
        default: [],
        describe: 'topics or patterns the client may subscribe to',
      })
      .option('publish', {
        type: 'string',
        array: true,
        default: [],
        describe: 'topics or patterns the client may publish to',
      })
      .option('tunnel', {
        type: 'string',
        array: true,
        default: [],
        describe: 'tunnels the client may open over WebSocket ("*" for all)',
      })
      .option('ttl', { type: 'number', default: 3600, describe: 'seconds until the token expires' })
      .option('private-key', { type: 'string', describe: 'PKCS#8 PEM private key (EdDSA, RS256)' }) as never,
  handler: async (args) => {
    const topology = await loadTopologyOrExit(args.topology);
    const config = topology.auth.tokens;
    if (!config) {
      fail(
        `relaymesh token: ${topology.file} configures no client tokens (auth.tokens); its edges accept clients without one`,
      );
    }
    let key;
    if (config.alg === 'HS256') {
      key = new TextEncoder().encode(process.env[config.secretEnv!]!);
    } else {
      if (!args['private-key']) {
        fail(`relaymesh token: ${config.alg} tokens are signed with a private key: pass --private-key FILE`);
      }
      key = await importPKCS8(await readFile(args['private-key'], 'utf8'), config.alg);
    }
    const claims = {
      topics: { subscribe: args.subscribe, publish: args.publish },
      ...(args.tunnel.length > 0 ? { tunnels: args.tunnel } : {}),
    };
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: config.alg })
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + args.ttl);
    if (args.sub) jwt.setSubject(args.sub);
    process.stdout.write(`${await jwt.sign(key)}\n`);
  },
};
