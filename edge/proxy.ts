// Reaching cores and peers through a forward proxy (docs/protocol.md §6 `edges[].proxy`): an HTTP CONNECT tunnel per
// connection, for the uplink and for the health checks of other nodes, with Basic credentials when the proxy wants
// them. Branch offices often let traffic out only this way.

import type { Agent } from 'node:http';
import { HttpsProxyAgent } from 'https-proxy-agent';

export interface ProxySettings {
  /** http://host:port, without credentials. */
  url: string;
  /** `user:password` for Basic authentication; never logged. */
  credentials?: string;
}

/** The proxy through which `target` (a ws/wss/http/https URL) is reached, or undefined to connect directly. */
export type ProxyRoute = (target: string) => ProxySettings | undefined;

/** An agent that opens each connection as a CONNECT tunnel through the proxy (TLS to the target inside it). */
export function proxyAgent(settings: ProxySettings): Agent {
  const url = new URL(settings.url);
  if (settings.credentials) {
    const colon = settings.credentials.indexOf(':');
    url.username = encodeURIComponent(colon < 0 ? settings.credentials : settings.credentials.slice(0, colon));
    url.password = encodeURIComponent(colon < 0 ? '' : settings.credentials.slice(colon + 1));
  }
  return new HttpsProxyAgent(url);
}

/**
 * What went wrong on the way to a core, in an operator's words: the proxy's refusal (403: not allowed there, 407: it
 * wants credentials), or its silence.
 */
export function proxyProblem(settings: ProxySettings, error: Error): string {
  const status = /Unexpected server response: (\d{3})/.exec(error.message)?.[1];
  if (status === '407') return `the proxy ${settings.url} wants credentials (407): set proxyAuthEnv, or check them`;
  if (status) return `the proxy ${settings.url} refused the tunnel (${status})`;
  if (/handshake has timed out/i.test(error.message)) return `no answer through the proxy ${settings.url} in time`;
  return `through the proxy ${settings.url}: ${error.message}`;
}
