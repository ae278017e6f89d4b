// The demo page's logic: connect a MeshClient to the edge that served this page, show where and how it is
// connected, and list the messages on one topic with their latency (now − the publisher's `sentAt`).
// Query parameters: ?topic=… (default demo.ticker), ?transport=http-stream (only that transport), ?tick=0 (no ticking).
import { MeshClient } from '/relaymesh.js';

const params = new URLSearchParams(location.search);
const topic = params.get('topic') || 'demo.ticker';
const transport = params.get('transport');
const shownMessages = 50;

const $ = (id) => document.getElementById(id);
const counters = { messages: 0, reconnects: 0, recoveries: 0 };

const client = new MeshClient({ url: location.origin, ...(transport ? { transports: [transport] } : {}) });
// For tests and the curious: the client and what arrived.
window.relaymeshDemo = { client, topic, received: [], subscribed: false };

function showConnection() {
  $('state').textContent = client.state;
  $('state').className = `value ${client.state}`;
  $('edge').textContent = client.welcome?.edge ?? '–';
  $('region').textContent = client.welcome?.region ?? '–';
  // Older SDKs speak only WebSocket and have no `transport` property.
  $('transport').textContent = client.state === 'connected' ? (client.transport ?? 'websocket') : '–';
  $('reconnects').textContent = String(counters.reconnects);
  $('recoveries').textContent = String(counters.recoveries);
}

let connectedBefore = false;
client.on('state', (state) => {
  if (state === 'connected') {
    if (connectedBefore) counters.reconnects++;
    connectedBefore = true;
  }
  showConnection();
});
client.on('welcome', showConnection);
client.on('error', (error) => console.warn('relaymesh:', error.code, error.message));

function textOf(data) {
  if (typeof data === 'object' && data !== null && typeof data.text === 'string')
    return data.from ? `${data.text} (from ${data.from})` : data.text;
  return JSON.stringify(data);
}

function showMessage(message) {
  const sentAt = typeof message.data === 'object' && message.data !== null ? message.data.sentAt : undefined;
  const latency = typeof sentAt === 'number' ? Math.max(0, Date.now() - sentAt) : undefined;
  window.relaymeshDemo.received.push({ offset: message.offset, data: message.data, latency });
  counters.messages++;

  const row = document.createElement('li');
  const cells = [
    ['offset', `#${message.offset}`],
    ['text', textOf(message.data)],
    ['latency', latency === undefined ? '–' : `${latency} ms`],
  ];
  for (const [name, text] of cells) {
    const cell = document.createElement('span');
    cell.className = name;
    cell.textContent = text;
    row.append(cell);
  }
  $('ticker').prepend(row);
  while ($('ticker').children.length > shownMessages) $('ticker').lastElementChild.remove();
  $('count').textContent = String(counters.messages);
  if (latency !== undefined) $('latency').textContent = `${latency} ms`;
}

function publish(text) {
  client
    .publish(topic, { text, sentAt: Date.now(), from: client.welcome?.edge })
    .catch((error) => console.warn('publish failed:', error.message));
}

$('publish').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = $('text').value.trim();
  if (text) publish(text);
  $('text').value = '';
});

let tick = 0;
let ticker;
$('ticking').addEventListener('change', () => {
  clearInterval(ticker);
  if ($('ticking').checked) ticker = setInterval(() => publish(`tick ${++tick}`), 1000);
});

$('topic').textContent = topic;
showConnection();
client
  .subscribe(topic, {
    onMessage: showMessage,
    onSubscribed: ({ recovered }) => {
      if (recovered) counters.recoveries++;
      showConnection();
    },
  })
  .then(
    () => {
      window.relaymeshDemo.subscribed = true;
    },
    (error) => console.warn('subscribe failed:', error.message),
  );

if (params.get('tick') !== '0') {
  $('ticking').checked = true;
  $('ticking').dispatchEvent(new Event('change'));
}
