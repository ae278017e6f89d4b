// GET /v1/presence?topic=T, the same on cores and edges (docs/protocol.md §9): behind the publish keys when there are
// some, as it names sessions and users.

import type { IncomingMessage } from 'node:http';
import { RelayError } from './errors.js';
import { sendJson, type HttpRoutes } from './http.js';
import type { PresenceAnswer } from './protocol.js';
import type { PublishKeys } from './publish-keys.js';
import { topicProblem } from './topics.js';

export function presenceRoute(
  publishKeys: PublishKeys,
  /** `req`: whose question it is (an edge counts questions per client address). */
  query: (topic: string, req: IncomingMessage) => Promise<PresenceAnswer>,
): HttpRoutes {
  return {
    '/v1/presence': {
      GET: async (req, res) => {
        publishKeys.check(req);
        const topics = new URL(req.url ?? '/', 'http://node').searchParams.getAll('topic');
        if (topics.length !== 1) throw new RelayError('bad_request', 'give one `topic` parameter');
        const topic = topics[0]!;
        const problem = topicProblem(topic);
        if (problem) throw new RelayError('invalid_topic', `topic ${problem}`);
        const { count, members } = await query(topic, req);
        sendJson(res, 200, { topic, count, members }, { 'cache-control': 'no-store' });
      },
    },
  };
}
