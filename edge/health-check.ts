// Health checks of other nodes (a primary core before failing back, a peer edge before redirecting to it):
// a GET of /healthz that must answer 2xx in time, over https against the same CA the uplink trusts, and through the
// same forward proxy.

import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { proxyAgent, type ProxyRoute } from './proxy.js';

/** Whether a GET of `url` answers 2xx within `timeoutMs`; an https URL is checked against `ca`, as the uplink is. */
export function answersOk(
  url: string,
  ca: Buffer | string | undefined,
  timeoutMs: number,
  proxy?: ProxyRoute,
): Promise<boolean> {
  const route = proxy?.(url);
  return new Promise((resolve) => {
    const options = { ca, signal: AbortSignal.timeout(timeoutMs), ...(route ? { agent: proxyAgent(route) } : {}) };
    const answered = (response: IncomingMessage): void => {
      response.resume();
      const status = response.statusCode ?? 0;
      resolve(status >= 200 && status < 300);
    };
    const request = url.startsWith('https:') ? httpsGet(url, options, answered) : httpGet(url, options, answered);
    request.on('error', () => resolve(false));
  });
}
