// A load generator process: opens N subscriber sockets to one candidate and counts what they receive.
// Counting happens here, away from the server process, so the server's CPU time is its own.

import WebSocket from 'ws';
import type { CandidateKind } from './server-process.js';

const [kind, url, countText, topic] = process.argv.slice(2) as [CandidateKind, string, string, string];
const count = Number(countText);
let received = 0;
const sockets: WebSocket[] = [];

async function openSubscriber(): Promise<void> {
  const ws = kind === 'relaymesh' ? new WebSocket(`${url}/v1/ws`, 'relaymesh.v1.json', { perMessageDeflate: false }) : new WebSocket(`${url}/sub`, { perMessageDeflate: false });
  sockets.push(ws);
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    if (kind === 'naive-ws') {
      ws.once('open', () => resolve());
    } else {
      ws.once('open', () => {
        ws.send(JSON.stringify({ op: 'connect' }));
        ws.send(JSON.stringify({ op: 'sub', id: 1, topic }));
      });
      // The answer to `sub` arrives after `welcome`: from then on this socket counts.
      ws.on('message', function ready(data) {
        if (String(data).includes('"subok"')) {
          ws.off('message', ready);
          resolve();
        }
      });
    }
  });
  ws.on('message', () => {
    received++;
  });
}

for (let opened = 0; opened < count; opened += 200) {
  await Promise.all(Array.from({ length: Math.min(200, count - opened) }, openSubscriber));
}
process.send!({ ready: true });
process.on('message', (message) => {
  if (message === 'count') process.send!({ received });
});
process.on('disconnect', () => {
  for (const ws of sockets) ws.terminate();
  process.exit(0);
});
