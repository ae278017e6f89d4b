// Tests for the TCP fault proxy in test/helpers/, against a real echo server on 127.0.0.1 port 0,
// so the faults other tests rely on (cut, black hole, refusal, latency, throttling) are known to work.
import net from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';

const DEADLINE_MS = 10_000;

interface EchoServer {
  port: number;
  /** Accepted sockets, in accept order. */
  sockets: net.Socket[];
  waitForSockets(n: number): Promise<void>;
}

/** Rejects unless `emitter` emits `event` within the deadline. */
function waitEvent<T extends unknown[]>(emitter: NodeJS.EventEmitter, event: string, ms = DEADLINE_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    const onEvent = (...args: unknown[]): void => {
      clearTimeout(timer);
      resolve(args as T);
    };
    emitter.once(event, onEvent);
  });
}

async function startEcho(t: ExecutionContext): Promise<EchoServer> {
  const sockets: net.Socket[] = [];
  const accepted = new net.Server((socket) => {
    socket.on('error', () => {});
    sockets.push(socket);
    socket.pipe(socket);
  });
  accepted.setMaxListeners(50);
  t.teardown(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => accepted.close(resolve));
  });
  await new Promise<void>((resolve) => accepted.listen(0, '127.0.0.1', resolve));
  const { port } = accepted.address() as net.AddressInfo;
  const waitForSockets = async (n: number): Promise<void> => {
    const deadline = Date.now() + DEADLINE_MS;
    while (sockets.length < n) {
      await waitEvent(accepted, 'connection', Math.max(1, deadline - Date.now()));
    }
  };
  return { port, sockets, waitForSockets };
}

async function startProxy(t: ExecutionContext, port: number): Promise<TcpProxy> {
  const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port } });
  t.teardown(() => proxy.close());
  return proxy;
}

/** A socket that collects everything it receives and records how it closed. */
interface Client {
  socket: net.Socket;
  received(): Buffer;
  /** Resolves with the first `n` bytes received once they are there. */
  read(n: number): Promise<Buffer>;
  /** Resolves when the socket has closed; error is the one it closed with, if any. */
  closed: Promise<{ error: NodeJS.ErrnoException | undefined }>;
}

function connect(t: ExecutionContext, port: number): Client {
  const socket = net.connect({ host: '127.0.0.1', port });
  t.teardown(() => {
    socket.destroy();
  });
  const chunks: Buffer[] = [];
  let size = 0;
  let error: NodeJS.ErrnoException | undefined;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    size += chunk.length;
  });
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err));
  const closed = new Promise<{ error: NodeJS.ErrnoException | undefined }>((resolve) => {
    socket.once('close', () => resolve({ error }));
  });
  const received = (): Buffer => Buffer.concat(chunks);
  const read = async (n: number): Promise<Buffer> => {
    const deadline = Date.now() + DEADLINE_MS;
    while (size < n) {
      if (socket.destroyed) throw new Error(`socket closed after ${size} of ${n} bytes`);
      await Promise.race([waitEvent(socket, 'data', Math.max(1, deadline - Date.now())), closed.then(() => {})]);
    }
    return received().subarray(0, n);
  };
  return { socket, received, read, closed };
}

async function connected(t: ExecutionContext, port: number): Promise<Client> {
  const client = connect(t, port);
  await waitEvent(client.socket, 'connect');
  return client;
}

/** A recognisable pattern, so reordering or loss shows up as a mismatch. */
function pattern(length: number, seed = 0): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return bytes;
}

test('forwards bytes both ways and counts them', async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  t.is(proxy.host, '127.0.0.1');
  t.true(proxy.port > 0);
  t.is(proxy.url, `ws://127.0.0.1:${proxy.port}`);

  const client = await connected(t, proxy.port);
  await proxy.waitForConnections(1);
  const payload = Buffer.concat([Buffer.from('hello'), pattern(256 * 1024)]);
  client.socket.write(payload);
  t.deepEqual(await client.read(payload.length), payload);
  t.is(proxy.bytesToTarget, payload.length);
  t.is(proxy.bytesFromTarget, payload.length);
  t.is(proxy.connections, 1);
  t.is(proxy.totalConnections, 1);

  proxy.resetCounters();
  t.is(proxy.bytesToTarget, 0);
  t.is(proxy.bytesFromTarget, 0);
  client.socket.write('again');
  t.is((await client.read(payload.length + 5)).subarray(payload.length).toString(), 'again');
  t.is(proxy.bytesToTarget, 5);
  t.is(proxy.bytesFromTarget, 5);
});

test('a graceful end is forwarded after the data', async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  proxy.setLatency(20);
  const client = await connected(t, proxy.port);
  client.socket.end('bye');
  await waitEvent(client.socket, 'end');
  t.is(client.received().toString(), 'bye');
  t.is((await client.closed).error, undefined);
});

test('cut() resets current connections and new ones still work', async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  const first = await connected(t, proxy.port);
  const second = await connected(t, proxy.port);
  await proxy.waitForConnections(2);
  await echo.waitForSockets(2);

  proxy.cut();
  t.is(proxy.connections, 0);
  const [a, b] = await Promise.all([first.closed, second.closed]);
  t.is(a.error?.code, 'ECONNRESET');
  t.is(b.error?.code, 'ECONNRESET');
  // The target side is torn down too, as the core would see it.
  await Promise.all(echo.sockets.map((socket) => (socket.closed ? undefined : waitEvent(socket, 'close'))));

  const third = await connected(t, proxy.port);
  third.socket.write('still here');
  t.is((await third.read(10)).toString(), 'still here');
  t.is(proxy.connections, 1);
  t.is(proxy.totalConnections, 3);
});

test('blackhole drops bytes both ways but keeps sockets open, and traffic flows again afterwards', async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  const kept = await connected(t, proxy.port);
  kept.socket.write('before');
  t.is((await kept.read(6)).toString(), 'before');
  const upward = await connected(t, proxy.port);
  await echo.waitForSockets(2);
  const downward = await connected(t, proxy.port);
  await echo.waitForSockets(3);
  const [, upwardServer, downwardServer] = echo.sockets;
  if (upwardServer === undefined || downwardServer === undefined) throw new Error('echo sockets missing');
  proxy.resetCounters();

  proxy.blackhole(true);
  // A FIN still passes a black hole and follows the data through the proxy, so its arrival proves
  // the data ahead of it was dropped rather than still on its way.
  const upwardServerData: Buffer[] = [];
  upwardServer.on('data', (chunk: Buffer) => upwardServerData.push(chunk));
  upward.socket.end('lost on the way up');
  await waitEvent(upwardServer, 'end');
  t.is(Buffer.concat(upwardServerData).length, 0);

  downwardServer.unpipe(downwardServer);
  downwardServer.end('lost on the way down');
  await waitEvent(downward.socket, 'end');
  t.is(downward.received().length, 0);
  t.is(proxy.bytesToTarget, 0);
  t.is(proxy.bytesFromTarget, 0);

  t.false(kept.socket.destroyed);
  t.true(proxy.connections >= 1);

  proxy.blackhole(false);
  kept.socket.write('after');
  t.is((await kept.read(11)).toString(), 'beforeafter');
  t.is(proxy.bytesToTarget, 5);
  t.is(proxy.bytesFromTarget, 5);
});

/** The target side of the echo server's `n`-th connection, with its echo stopped and what it receives collected. */
async function silencedServerSide(
  echo: EchoServer,
  n: number,
): Promise<{ socket: net.Socket; data: ReturnType<typeof collect> }> {
  await echo.waitForSockets(n);
  const socket = echo.sockets[n - 1];
  if (socket === undefined) throw new Error('echo socket missing');
  socket.unpipe(socket);
  return { socket, data: collect(socket) };
}

/** Collects what `socket` receives; `read(n)` resolves with the first n bytes once they are there. */
function collect(socket: net.Socket): { read(n: number): Promise<Buffer>; received(): Buffer } {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // unpipe() leaves a socket paused, and a 'data' listener alone does not make it flow again.
  socket.resume();
  const received = (): Buffer => Buffer.concat(chunks);
  const read = async (n: number): Promise<Buffer> => {
    const deadline = Date.now() + DEADLINE_MS;
    while (received().length < n) {
      if (socket.destroyed) throw new Error(`socket closed after ${received().length} of ${n} bytes`);
      await waitEvent(socket, 'data', Math.max(1, deadline - Date.now()));
    }
    return received().subarray(0, n);
  };
  return { read, received };
}

test("blackhole(true, 'toTarget') drops only client→target bytes, on existing and new connections", async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  const existing = await connected(t, proxy.port);
  const { socket: existingServer, data: existingServerData } = await silencedServerSide(echo, 1);
  proxy.resetCounters();

  proxy.blackhole(true, 'toTarget');
  existingServer.write('down passes');
  t.is((await existing.read(11)).toString(), 'down passes');
  // The FIN follows the data through the proxy, so its arrival proves the data ahead of it was dropped.
  existing.socket.end('up is lost');
  await waitEvent(existingServer, 'end');
  t.is(existingServerData.received().length, 0);

  // A connection made while the black hole is open gets it too.
  const fresh = await connected(t, proxy.port);
  const { socket: freshServer, data: freshServerData } = await silencedServerSide(echo, 2);
  freshServer.write('down');
  t.is((await fresh.read(4)).toString(), 'down');
  fresh.socket.end('up');
  await waitEvent(freshServer, 'end');
  t.is(freshServerData.received().length, 0);
  t.is(proxy.bytesToTarget, 0);
  t.is(proxy.bytesFromTarget, 15);

  proxy.blackhole(false, 'toTarget');
  const after = await connected(t, proxy.port);
  after.socket.write('both ways');
  t.is((await after.read(9)).toString(), 'both ways');
  t.is(proxy.bytesToTarget, 9);
});

test("blackhole(true, 'fromTarget') drops only target→client bytes, and lifting one direction leaves the other", async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  const existing = await connected(t, proxy.port);
  const { socket: existingServer, data: existingServerData } = await silencedServerSide(echo, 1);
  proxy.resetCounters();

  proxy.blackhole(true, 'fromTarget');
  existing.socket.write('up passes');
  t.is((await existingServerData.read(9)).toString(), 'up passes');
  existingServer.end('down is lost');
  await waitEvent(existing.socket, 'end');
  t.is(existing.received().length, 0);

  // On a new connection the echo comes back through the black hole: it arrives at the target, then is lost.
  const fresh = await connected(t, proxy.port);
  await echo.waitForSockets(2);
  const freshServerData = collect(echo.sockets[1]!);
  fresh.socket.end('echo me');
  t.is((await freshServerData.read(7)).toString(), 'echo me');
  await waitEvent(fresh.socket, 'end');
  t.is(fresh.received().length, 0);
  t.is(proxy.bytesToTarget, 16);
  t.is(proxy.bytesFromTarget, 0);

  // Both ways black-holed, then only client→target lifted: the way back stays dark.
  proxy.blackhole(true);
  proxy.blackhole(false, 'toTarget');
  const third = await connected(t, proxy.port);
  await echo.waitForSockets(3);
  const thirdServerData = collect(echo.sockets[2]!);
  third.socket.end('half');
  t.is((await thirdServerData.read(4)).toString(), 'half');
  await waitEvent(third.socket, 'end');
  t.is(third.received().length, 0);

  proxy.blackhole(false);
  const fourth = await connected(t, proxy.port);
  fourth.socket.write('open again');
  t.is((await fourth.read(10)).toString(), 'open again');
});

test('blackhole() refuses an unknown direction', async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  t.throws(() => proxy.blackhole(true, 'sideways' as 'both'), { instanceOf: RangeError });
});

test('refuse(true) resets new connections and leaves existing ones alone', async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  const existing = await connected(t, proxy.port);
  await proxy.waitForConnections(1);

  proxy.refuse(true);
  const refused = connect(t, proxy.port);
  refused.socket.on('connect', () => refused.socket.write('anyone?'));
  const { error } = await refused.closed;
  t.truthy(error, 'the refused connection closes with an error');
  t.is(refused.received().length, 0);
  t.is(proxy.totalConnections, 1);

  existing.socket.write('ok');
  t.is((await existing.read(2)).toString(), 'ok');

  proxy.refuse(false);
  const accepted = await connected(t, proxy.port);
  accepted.socket.write('in');
  t.is((await accepted.read(2)).toString(), 'in');
  t.is(proxy.totalConnections, 2);
});

test('latency delays delivery but keeps byte order, even when it changes mid-stream', async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  proxy.setLatency(40);
  const client = await connected(t, proxy.port);
  const pieces: Buffer[] = [];
  for (let i = 0; i < 40; i++) {
    const piece = pattern(1000 + i * 37, i);
    pieces.push(piece);
    client.socket.write(piece);
    // Separate turns give the proxy separate chunks with separate due times.
    await new Promise((resolve) => setImmediate(resolve));
    // Shorter latency later must not let new bytes overtake older ones.
    if (i === 20) proxy.setLatency(0);
    if (i === 30) proxy.setLatency(15);
  }
  const expected = Buffer.concat(pieces);
  t.true(expected.equals(await client.read(expected.length)));
  t.is(proxy.bytesToTarget, expected.length);
  t.is(proxy.bytesFromTarget, expected.length);
});

test('throttle caps bandwidth without losing or reordering bytes', async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  proxy.throttle(256 * 1024);
  proxy.setLatency(5);
  const client = await connected(t, proxy.port);
  const payload = pattern(96 * 1024, 3);
  client.socket.write(payload);
  const halfway = await client.read(payload.length / 2);
  // Lifting the cap mid-transfer lets the rest through at once, still in order.
  proxy.throttle(null);
  t.true(halfway.equals(payload.subarray(0, payload.length / 2)));
  t.true(payload.equals(await client.read(payload.length)));
});

test('backpressure from a slow reader reaches the sender, and nothing is lost', async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  const client = await connected(t, proxy.port);
  await echo.waitForSockets(1);
  const [serverSide] = echo.sockets;
  if (serverSide === undefined) throw new Error('echo socket missing');
  // More than the kernel buffers on the way can hold, so something has to stop reading.
  const payload = pattern(32 * 1024 * 1024, 5);
  client.socket.pause();
  const echoPaused = waitEvent(serverSide, 'pause');
  client.socket.write(payload);
  // The echo server's pipe pauses only if its writes back stall, i.e. the proxy stopped reading
  // the target because the paused client was full, instead of buffering everything itself.
  await echoPaused;
  client.socket.resume();
  t.true(payload.equals(await client.read(payload.length)));
  t.is(proxy.bytesToTarget, payload.length);
  t.is(proxy.bytesFromTarget, payload.length);
});

test('setTarget() sends new connections elsewhere; a dead target resets the client', async (t) => {
  const first = await startEcho(t);
  const second = await startEcho(t);
  const proxy = await startProxy(t, first.port);
  const old = await connected(t, proxy.port);
  await first.waitForSockets(1);

  proxy.setTarget({ host: '127.0.0.1', port: second.port });
  const moved = await connected(t, proxy.port);
  await second.waitForSockets(1);
  moved.socket.write('second');
  t.is((await moved.read(6)).toString(), 'second');
  old.socket.write('first');
  t.is((await old.read(5)).toString(), 'first');
  t.is(first.sockets.length, 1);

  const gone = new net.Server();
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
  const deadPort = (gone.address() as net.AddressInfo).port;
  await new Promise((resolve) => gone.close(resolve));
  proxy.setTarget({ host: '127.0.0.1', port: deadPort });
  const orphan = connect(t, proxy.port);
  const { error } = await orphan.closed;
  t.is(error?.code, 'ECONNRESET');
});

test('waitForConnections() resolves on arrival and rejects after its timeout', async (t) => {
  const echo = await startEcho(t);
  const proxy = await startProxy(t, echo.port);
  const waiting = proxy.waitForConnections(2);
  await connected(t, proxy.port);
  await connected(t, proxy.port);
  await waiting;
  t.is(proxy.connections, 2);
  await t.throwsAsync(proxy.waitForConnections(3, 50), { message: /2 of 3 connections/ });
});

// Serial, so no other test's timers are running while the active timers are counted.
test.serial('close() leaves no timers behind', async (t) => {
  const activeTimers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
  const before = activeTimers();
  const echo = await startEcho(t);
  const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: echo.port } });
  t.teardown(() => proxy.close());
  const client = await connected(t, proxy.port);
  client.socket.write('warm');
  await client.read(4);
  const [serverSide] = echo.sockets;
  if (serverSide === undefined) throw new Error('echo socket missing');
  // At 1 byte/s the first byte goes at once and a timer is armed for the rest: close() must clear it.
  proxy.throttle(1);
  const firstByte = waitEvent(serverSide, 'data');
  client.socket.write(pattern(1024));
  await firstByte;
  proxy.setLatency(5000);
  client.socket.write('held back by latency');
  const pending = proxy.waitForConnections(2, 60_000).catch(() => undefined);
  await proxy.close();
  await pending;
  t.is(activeTimers(), before);
});

test('close() stops listening and closes every pair', async (t) => {
  const echo = await startEcho(t);
  const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: echo.port } });
  t.teardown(() => proxy.close());
  proxy.setLatency(1000);
  const client = await connected(t, proxy.port);
  await echo.waitForSockets(1);
  // Data held by the latency timer must not keep anything alive after close().
  client.socket.write('in flight');
  const pending = proxy.waitForConnections(5);

  await proxy.close();
  await t.throwsAsync(pending, { message: /closed/ });
  t.is(proxy.connections, 0);
  await client.closed;
  const [serverSide] = echo.sockets;
  if (serverSide !== undefined && !serverSide.closed) await waitEvent(serverSide, 'close');
  t.is(client.received().length, 0);

  const late = connect(t, proxy.port);
  const { error } = await late.closed;
  t.is(error?.code, 'ECONNREFUSED');
  // A second close() is harmless.
  await proxy.close();
});
