// `relaymesh pub [--url U] TOPIC DATA`: publishes one message through a node's HTTP API and prints its position.

import type { CommandModule } from 'yargs';
import { defaultUrl } from '../default-url.js';
import { httpBaseOf } from '../../shared/protocol.js';
import { fail } from '../exit.js';

interface PubArgs {
  url?: string;
  topic: string;
  data: string;
  key?: string;
}

export const pubCommand: CommandModule<object, PubArgs> = {
  command: 'pub <topic> <data>',
  describe: 'Publish one message (DATA is JSON, or else a string)',
  builder: (y) =>
    y
      .positional('topic', { type: 'string', demandOption: true })
      .positional('data', { type: 'string', demandOption: true })
      .option('url', {
        type: 'string',
        describe: 'a core or edge (ws:// or http://); default: the first edge of ./topology.json',
      })
      .option('key', {
        type: 'string',
        describe: 'publish key, sent as a Bearer token (default: $RELAYMESH_PUBLISH_KEY)',
      }) as never,
  handler: async (args) => {
    const base = httpBaseOf(args.url ?? (await defaultUrl('edges')));
    const key = args.key ?? process.env.RELAYMESH_PUBLISH_KEY;
    let response: Response;
    try {
      response = await fetch(`${base}/v1/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
        body: JSON.stringify({ topic: args.topic, data: parseData(args.data) }),
      });
    } catch (error) {
      fail(`relaymesh pub: cannot reach ${base}: ${String((error as Error).cause ?? (error as Error).message)}`);
    }
    const text = await response.text();
    if (!response.ok) {
      fail(`relaymesh pub: ${response.status} ${text}`);
    }
    process.stdout.write(`${text}\n`);
  },
};

function parseData(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
