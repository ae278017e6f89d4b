// `relaymesh sub [--url U] TOPIC…`: subscribes through an edge and prints one JSON line per message.

import type { CommandModule } from 'yargs';
import { NodeMeshClient } from '../../client/node.js';
import { defaultUrl } from '../default-url.js';

interface SubArgs {
  url?: string;
  topics: string[];
  count?: number;
  token?: string;
}

export const subCommand: CommandModule<object, SubArgs> = {
  command: 'sub <topics..>',
  describe: 'Subscribe to topics or patterns and print one JSON line per message',
  builder: (y) =>
    y
      .positional('topics', { type: 'string', array: true, demandOption: true })
      .option('url', {
        type: 'string',
        describe: 'an edge (ws://host:port); default: the first edge of ./topology.json',
      })
      .option('count', { type: 'number', describe: 'exit after this many messages' })
      .option('token', { type: 'string', describe: 'client token (default: $RELAYMESH_TOKEN)' }) as never,
  handler: async (args) => {
    const client = new NodeMeshClient({
      url: args.url ?? (await defaultUrl('edges')),
      token: args.token ?? process.env.RELAYMESH_TOKEN,
    });
    let received = 0;
    const done = (code: number): void => {
      void client.close().then(() => process.exit(code));
    };
    client.on('error', (error) => process.stderr.write(`relaymesh sub: ${error.message}\n`));
    client.on('state', (state) => {
      if (state === 'reconnecting') process.stderr.write('relaymesh sub: connection lost, reconnecting\n');
    });
    try {
      for (const topic of args.topics) {
        await client.subscribe(topic, {
          onMessage: (message) => {
            process.stdout.write(
              `${JSON.stringify(message, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value))}\n`,
            );
            if (args.count !== undefined && ++received >= args.count) done(0);
          },
          onReset: (position) =>
            process.stderr.write(`relaymesh sub: ${topic} reset to ${position.epoch}:${position.offset}\n`),
        });
      }
    } catch (error) {
      process.stderr.write(`relaymesh sub: ${(error as Error).message}\n`);
      done(1);
      return;
    }
    process.stderr.write(
      `subscribed to ${args.topics.join(', ')} on ${client.welcome?.edge} (${client.welcome?.region})\n`,
    );
    process.on('SIGINT', () => done(0));
    process.on('SIGTERM', () => done(0));
  },
};
