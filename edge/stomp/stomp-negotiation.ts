// What a STOMP CONNECT negotiates: the protocol version (the highest both sides speak) and the heart-beat periods.

import { stompVersions, type StompVersion } from './stomp-frame.js';

/** The highest version in `accept-version` that we speak; a CONNECT without the header is STOMP 1.0. */
export function negotiateVersion(acceptVersion: string | undefined): StompVersion | undefined {
  if (acceptVersion === undefined) return '1.0';
  const offered = new Set(acceptVersion.split(',').map((version) => version.trim()));
  return [...stompVersions].reverse().find((version) => offered.has(version));
}

export interface HeartBeats {
  /** How often we send an EOL; 0: never. */
  sendEveryMs: number;
  /** How often the client promised to send something; 0: no promise. */
  expectEveryMs: number;
}

/**
 * `heart-beat: cx,cy` from the client against ours `sx,sy` (STOMP 1.1 §Heart-beating): we send every max(sx, cy)
 * unless either is 0, and expect the client every max(cx, sy) unless either is 0. Undefined for a malformed header.
 */
export function negotiateHeartBeats(
  header: string | undefined,
  ours: { sendMs: number; expectMs: number },
): HeartBeats | undefined {
  if (header === undefined) return { sendEveryMs: 0, expectEveryMs: 0 };
  const match = /^\s*(\d{1,9})\s*,\s*(\d{1,9})\s*$/.exec(header);
  if (!match) return undefined;
  const clientSends = Number(match[1]);
  const clientWants = Number(match[2]);
  return {
    sendEveryMs: clientWants === 0 || ours.sendMs === 0 ? 0 : Math.max(ours.sendMs, clientWants),
    expectEveryMs: clientSends === 0 || ours.expectMs === 0 ? 0 : Math.max(clientSends, ours.expectMs),
  };
}
