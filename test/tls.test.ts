// TLS on every node that configures it: the uplink verifies the core against the edge's CA (name included),
// clients and HTTP reach a TLS edge over wss:// and https://, servers refuse TLS older than 1.2, and the failback
// health check trusts the same CA. Certificates come from a throwaway CA made with `openssl` per test.

import test, { type ExecutionContext } from 'ava';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { promisify } from 'node:util';
import { pino, type Logger } from 'pino';
import WebSocket from 'ws';
import { startCore, type CoreHandle } from '../core/start-core.js';
import { startEdge, type EdgeHandle } from '../edge/start-edge.js';
import type { TlsConfig } from '../shared/topology.js';
import { silentLogger } from './helpers/mesh.js';

const execFileAsync = promisify(execFile);
const fastUplink = { heartbeatMs: 200, reconnectBaseMs: 10, reconnectMaxMs: 50, failbackMs: 100 };

interface Pki {
  /** Path of the CA certificate (PEM). */
  ca: string;
  caPem: Buffer;
  /** A certificate and key signed by the CA for these subject alternative names, e.g. ['DNS:localhost', 'IP:127.0.0.1']. */
  issue(name: string, altNames: string[]): Promise<TlsConfig>;
}

/** A throwaway CA in a temporary directory, removed in teardown. */
async function makePki(t: ExecutionContext): Promise<Pki> {
  const dir = await mkdtemp(join(tmpdir(), 'relaymesh-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const openssl = (...args: string[]): Promise<unknown> => execFileAsync('openssl', args, { cwd: dir });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await writeFile(
    join(dir, 'req.cnf'),
    [
      '[req]',
      'distinguished_name = dn',
      'x509_extensions = ca_ext',
      'prompt = no',
      '[dn]',
      'CN = relaymesh test CA',
      '[ca_ext]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign',
      'subjectKeyIdentifier = hash',
    ].join('\n'),
  );
  await openssl(
    'req',
    '-x509',
    ...ecKey,
    '-config',
    'req.cnf',
    '-keyout',
    'ca-key.pem',
    '-out',
    'ca.pem',
    '-days',
    '1',
  );
  let serial = 1;
  return {
    ca: join(dir, 'ca.pem'),
    caPem: await readFile(join(dir, 'ca.pem')),
    async issue(name, altNames) {
      await writeFile(
        join(dir, `${name}.ext`),
        [
          `subjectAltName = ${altNames.join(',')}`,
          'basicConstraints = CA:FALSE',
          'keyUsage = critical,digitalSignature',
          'extendedKeyUsage = serverAuth',
        ].join('\n'),
      );
      await openssl(
        'req',
        '-new',
        ...ecKey,
        '-config',
        'req.cnf',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        `${name}-key.pem`,
        '-out',
        `${name}.csr`,
      );
      await openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca-key.pem',
        '-set_serial',
        String(serial++),
        '-days',
        '1',
        '-extfile',
        `${name}.ext`,
        '-out',
        `${name}.pem`,
      );
      return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}-key.pem`) };
    },
  };
}

type LogEntry = Record<string, unknown> & { msg?: string };

/** A pino destination that keeps every entry, so a test can wait for the one it expects. */
class LogLines {
  readonly entries: LogEntry[] = [];
  private readonly waiters = new Set<() => void>();

  write(line: string): void {
    this.entries.push(JSON.parse(line) as LogEntry);
    for (const wake of [...this.waiters]) wake();
  }

  logger(): Logger {
    return pino({ level: 'info' }, this);
  }

  /** Resolves once `count` entries match (counting those already logged). */
  waitFor(match: (entry: LogEntry) => boolean, count = 1, timeoutMs = 10_000): Promise<LogEntry[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.entries.filter(match);
        if (found.length < count) return false;
        clearTimeout(timer);
        this.waiters.delete(wake);
        resolve(found);
        return true;
      };
      const wake = (): void => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(
          new Error(
            `no ${count} matching log entries within ${timeoutMs} ms; last: ${JSON.stringify(this.entries.slice(-3))}`,
          ),
        );
      }, timeoutMs);
      if (!check()) this.waiters.add(wake);
    });
  }
}

const localhost = ['DNS:localhost', 'IP:127.0.0.1'];

async function tlsCore(
  t: ExecutionContext,
  pki: Pki,
  options: { id?: string; altNames?: string[]; listen?: CoreHandle['address'] } = {},
): Promise<CoreHandle> {
  const id = options.id ?? 'central';
  const core = await startCore({
    id,
    logger: silentLogger,
    tls: await pki.issue(id, options.altNames ?? localhost),
    ...(options.listen ? { listen: options.listen } : {}),
  });
  t.teardown(() => core.close());
  return core;
}

async function edgeOf(
  t: ExecutionContext,
  cores: CoreHandle[],
  options: { ca?: string; tls?: TlsConfig; logger?: Logger } = {},
): Promise<EdgeHandle> {
  const edge = await startEdge({
    id: 'eu-1',
    region: 'eu',
    cores: cores.map((core) => ({ id: core.id, url: core.url })),
    uplink: fastUplink,
    logger: silentLogger,
    ...options,
  });
  t.teardown(() => edge.close());
  return edge;
}

/** An HTTPS request trusting only `ca`. */
function fetchTls(
  url: string,
  ca: Buffer,
  init: { method?: string; body?: string } = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: init.method ?? 'GET', ca, signal: AbortSignal.timeout(10_000) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** A JSON client on `${edgeUrl}/v1/ws` that trusts `ca`; resolves each op it receives in turn. */
async function wssClient(
  t: ExecutionContext,
  edgeUrl: string,
  ca: Buffer,
): Promise<{ send(op: object): void; next(match: (op: LogEntry) => boolean): Promise<LogEntry> }> {
  const ws = new WebSocket(`${edgeUrl}/v1/ws`, ['relaymesh.v1.json'], { ca });
  t.teardown(() => ws.terminate());
  const received: LogEntry[] = [];
  const waiters: Array<{ match: (op: LogEntry) => boolean; resolve: (op: LogEntry) => void }> = [];
  ws.on('message', (data) => {
    const op = JSON.parse(data.toString()) as LogEntry;
    const index = waiters.findIndex((waiter) => waiter.match(op));
    if (index >= 0) waiters.splice(index, 1)[0]!.resolve(op);
    else received.push(op);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return {
    send: (op) => ws.send(JSON.stringify(op)),
    next: (match) => {
      const index = received.findIndex(match);
      if (index >= 0) return Promise.resolve(received.splice(index, 1)[0]!);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no matching op within 10 s')), 10_000);
        waiters.push({
          match,
          resolve: (op) => {
            clearTimeout(timer);
            resolve(op);
          },
        });
      });
    },
  };
}

/** How a TLS handshake with these options ends: the negotiated protocol, or the error code. */
function handshake(port: number, options: ConnectionOptions): Promise<{ protocol: string | null } | { error: string }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
    socket.once('secureConnect', () => {
      resolve({ protocol: socket.getProtocol() });
      socket.destroy();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

test('an edge trusting the CA connects to a TLS core over wss://', async (t) => {
  const pki = await makePki(t);
  const core = await tlsCore(t, pki);
  t.regex(core.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
  const edge = await edgeOf(t, [core], { ca: pki.ca });
  await edge.ready();
  t.true(core.uplinks.has('eu-1'));
  t.is(edge.url.slice(0, 5), 'ws://', 'an edge without tls stays plain');
});

test('a client subscribes over wss:// to a TLS edge and receives a publish; /healthz answers over https', async (t) => {
  const pki = await makePki(t);
  const core = await tlsCore(t, pki);
  const edge = await edgeOf(t, [core], { ca: pki.ca, tls: await pki.issue('eu-1', localhost) });
  t.regex(edge.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
  await edge.ready();

  const edgeHttps = edge.url.replace(/^wss/, 'https');
  const coreHttps = core.url.replace(/^wss/, 'https');
  t.is((await fetchTls(`${edgeHttps}/healthz`, pki.caPem)).status, 200);
  t.is((await fetchTls(`${coreHttps}/healthz`, pki.caPem)).status, 200);

  const client = await wssClient(t, edge.url, pki.caPem);
  client.send({ op: 'connect' });
  await client.next((op) => op.op === 'welcome');
  client.send({ op: 'sub', id: 1, topic: 'prices.eur-usd' });
  t.like(await client.next((op) => op.id === 1), { op: 'subok' });
  // Through the edge: its https API, then the TLS uplink to the core and back.
  const published = await fetchTls(`${edgeHttps}/v1/publish`, pki.caPem, {
    method: 'POST',
    body: JSON.stringify({ topic: 'prices.eur-usd', data: { n: 1 } }),
  });
  t.is(published.status, 200, published.body);
  t.like(await client.next((op) => op.op === 'msg'), { topic: 'prices.eur-usd', data: { n: 1 }, offset: 1 });
});

test('an edge without the CA cannot connect to a TLS core', async (t) => {
  const pki = await makePki(t);
  const core = await tlsCore(t, pki);
  const logs = new LogLines();
  const edge = await edgeOf(t, [core], { logger: logs.logger() });

  // Two failed dials in a row: the first is not a fluke of timing, and the edge keeps failing while it retries.
  const errors = await logs.waitFor((entry) => entry.msg === 'uplink error', 2);
  t.regex(String(errors[0]!.err), /unable to verify the first certificate|unable to get local issuer certificate/);
  t.false(edge.uplink.connected);
  t.is(core.uplinks.size, 0);
  t.is((await fetch(`${edge.url.replace(/^ws/, 'http')}/healthz`)).status, 503);
  t.false(logs.entries.some((entry) => entry.msg === 'uplink connected'));
});

test('an edge refuses a core whose certificate names another host, even from its CA', async (t) => {
  const pki = await makePki(t);
  const core = await tlsCore(t, pki, { altNames: ['DNS:other.example'] });
  const logs = new LogLines();
  const edge = await edgeOf(t, [core], { ca: pki.ca, logger: logs.logger() });

  const errors = await logs.waitFor((entry) => entry.msg === 'uplink error', 2);
  t.regex(String(errors[0]!.err), /does not match certificate's altnames/);
  t.false(edge.uplink.connected);
  t.is(core.uplinks.size, 0);
});

test('TLS nodes refuse TLS 1.1 and accept TLS 1.2', async (t) => {
  const pki = await makePki(t);
  const core = await tlsCore(t, pki);
  const edge = await edgeOf(t, [core], { ca: pki.ca, tls: await pki.issue('eu-1', localhost) });
  for (const node of [core, edge]) {
    // SECLEVEL=0 lets this client offer TLS 1.1 at all, so the refusal is the server's.
    const old = await handshake(node.address.port, {
      ca: pki.caPem,
      minVersion: 'TLSv1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
    });
    t.deepEqual(old, { error: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' }, `${node.id} refuses TLS 1.1`);
    t.deepEqual(
      await handshake(node.address.port, { ca: pki.caPem, maxVersion: 'TLSv1.2' }),
      { protocol: 'TLSv1.2' },
      `${node.id} accepts TLS 1.2`,
    );
  }
});

test('an edge on its recovery core fails back to a TLS primary once its https health check passes', async (t) => {
  const pki = await makePki(t);
  const primary = await startCore({ id: 'primary', logger: silentLogger, tls: await pki.issue('primary', localhost) });
  await primary.close();
  const recovery = await tlsCore(t, pki, { id: 'recovery' });
  const logs = new LogLines();
  await edgeOf(t, [primary, recovery], { ca: pki.ca, logger: logs.logger() });
  await logs.waitFor((entry) => entry.msg === 'uplink connected' && entry.core === 'recovery');

  const restarted = await tlsCore(t, pki, { id: 'primary', listen: primary.address });
  await logs.waitFor((entry) => entry.msg === 'primary core is back; failing back');
  await logs.waitFor((entry) => entry.msg === 'uplink connected' && entry.core === 'primary');
  t.true(restarted.uplinks.has('eu-1'));
});

test('a TLS file that cannot be read stops the start with its path', async (t) => {
  const missing = join(tmpdir(), 'relaymesh-no-such-dir', 'core.pem');
  const error = await t.throwsAsync(
    startCore({ id: 'central', logger: silentLogger, tls: { cert: missing, key: missing } }),
  );
  t.true(error?.message.includes(missing));
  const edgeError = await t.throwsAsync(
    startEdge({
      id: 'eu-1',
      region: 'eu',
      cores: [{ id: 'central', url: 'wss://127.0.0.1:1' }],
      ca: missing,
      logger: silentLogger,
    }),
  );
  t.true(edgeError?.message.includes(missing));
});
