// An HTTP-streaming client that subscribes and then never reads its stream: the session is opened and subscribed
// over plain requests, the stream is a bare TCP socket paused right after the response head.

import { connect } from 'node:net';
import { httpJson } from './attack-http.js';
import type { UnreadClient } from './attack-unread-ws.js';

/** How often the client asks whether its session still exists: a paused socket cannot tell it was cut. */
const probeEveryMs = 1000;

export class StreamRefused extends Error {}

export async function openUnreadStream(
  host: string,
  port: number,
  localAddress: string,
  topic: string,
  timeoutMs = 10_000,
): Promise<UnreadClient> {
  const base = `http://${host}:${port}`;
  const opened = await httpJson(
    'POST',
    `${base}/v1/session`,
    JSON.stringify({ op: 'connect' }),
    localAddress,
    timeoutMs,
  );
  if (opened.status !== 201) throw new StreamRefused(`session refused: HTTP ${opened.status}`);
  const paths = JSON.parse(opened.text) as { stream: string; send: string };
  const subscribed = await httpJson(
    'POST',
    `${base}${paths.send}`,
    JSON.stringify({ op: 'sub', id: 1, topic }),
    localAddress,
    timeoutMs,
  );
  if (subscribed.status !== 202) throw new StreamRefused(`sub refused: HTTP ${subscribed.status}`);
  const socket = await pausedStream(host, port, localAddress, paths.stream, timeoutMs);
  const gone = new Promise<void>((wake) => socket.on('close', () => wake()));
  const probe = setInterval(() => {
    httpJson('POST', `${base}${paths.send}`, JSON.stringify({ op: 'ping' }), localAddress, timeoutMs).then(
      // 404: the edge ended the session (and its stream socket, which we would never notice by not reading).
      (answer) => {
        if (answer.status === 404) socket.destroy();
      },
      () => {},
    );
  }, probeEveryMs);
  void gone.then(() => clearInterval(probe));
  return { gone, close: () => (socket.destroyed ? undefined : socket.resetAndDestroy()) };
}

/** GET of the stream on a raw socket; once the response head is in, the socket reads nothing more. */
function pausedStream(
  host: string,
  port: number,
  localAddress: string,
  path: string,
  timeoutMs: number,
): Promise<ReturnType<typeof connect>> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, localAddress });
    socket.on('error', () => {});
    const fail = (error: Error): void => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error('no stream head in time')), timeoutMs);
    socket.once('close', () => fail(new Error('closed before the stream head')));
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.startsWith('HTTP/1.1 200'))
        return fail(new StreamRefused(`stream refused: ${head.slice(0, head.indexOf('\r\n'))}`));
      clearTimeout(timer);
      socket.off('data', onData);
      socket.pause();
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('connect', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nAccept: text/event-stream\r\n\r\n`),
    );
  });
}
