// Binding an HTTP server to an address and closing it completely, for every node.

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Address } from './topology.js';

export async function listen(server: Server, address: Address): Promise<Address> {
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

export function urlOf(scheme: 'ws' | 'http', address: Address): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${scheme}://${host}:${address.port}`;
}
