// Creating a node's HTTP(S) server, binding it to an address and closing it completely, for every node.

import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server as NetServer } from 'node:net';
import type { Address, TlsConfig } from './topology.js';

/** Plain HTTP without `tls`; HTTPS (TLS 1.2 or newer) with it. The PEM files are read now, so a bad path fails the start. */
export function createNodeServer(handler: RequestListener, tls?: TlsConfig, headerTimeoutMs = 10_000): Server {
  // Slow handshakes (slowloris): the request head must arrive within the timeout, checked often enough to matter.
  const timeouts = {
    headersTimeout: headerTimeoutMs,
    requestTimeout: headerTimeoutMs * 3,
    connectionsCheckingInterval: Math.min(1000, headerTimeoutMs),
  };
  if (!tls) return createHttpServer(timeouts, handler);
  return createHttpsServer(
    { ...timeouts, cert: readPem(tls.cert, 'certificate'), key: readPem(tls.key, 'key'), minVersion: 'TLSv1.2' },
    handler,
  );
}

/** Reads a PEM file, naming it when it cannot. */
export function readPem(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read TLS ${what} ${file}: ${(error as Error).message}`);
  }
}

/** Binds any server, HTTP or plain TCP (a tunnel's forward). */
export async function listen(server: NetServer, address: Address): Promise<Address> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = server.address() as AddressInfo;
  return { host: address.host, port: bound.port };
}

/** Stops accepting and ends every open connection, so `close()` resolves promptly. */
export async function closeServer(server: Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** `secure` turns `ws`/`http` into `wss`/`https`, for a node serving TLS. */
export function urlOf(scheme: 'ws' | 'http', address: Address, secure = false): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${scheme}${secure ? 's' : ''}://${host}:${address.port}`;
}
