// The kernel's view of this machine's TCP connections (/proc/net/tcp), for tests that must know whether a server
// really let go of a socket: a peer that does not read cannot tell from its side.

import { readFile } from 'node:fs/promises';

/** The state of the IPv4 connection from local port `localPort` to remote port `remotePort`, or undefined when there is none. */
export async function tcpState(localPort: number, remotePort: number): Promise<string | undefined> {
  const text = await readFile('/proc/net/tcp', 'utf8');
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4) continue;
    const local = Number.parseInt(fields[1]!.split(':')[1]!, 16);
    const remote = Number.parseInt(fields[2]!.split(':')[1]!, 16);
    if (local === localPort && remote === remotePort) return states[fields[3]!] ?? fields[3];
  }
  return undefined;
}

const states: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
};
