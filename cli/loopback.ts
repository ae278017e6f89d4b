// Whether a listener is reachable from other machines: forwards beyond loopback carry their tunnel for anyone.

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

export const forwardBeyondLoopback =
  'OPEN: a forward beyond loopback: whoever reaches it uses its tunnel (firewall it, or bind it to 127.0.0.1)';
