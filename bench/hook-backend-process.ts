// The backend that the presence scenario's edge asks through its hooks (docs/protocol.md §9), in a process of its own
// so its CPU is its own: it allows everything, as the cheapest real backend would, and answers `stats`.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { answerStats } from './process-stats.js';

const allow = Buffer.from('{"allow":true}');

const server = createServer((req, res) => {
  // The body is read to its end (as a backend deciding on it would), then left unparsed: every answer is the same.
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': allow.length });
    res.end(allow);
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
answerStats();
process.send!({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
process.on('disconnect', () => process.exit(0));
