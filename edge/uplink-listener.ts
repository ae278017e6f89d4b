// What the edge does with what its uplink hears (`Uplink.listen`, given before `start`): connects and losses,
// messages, digests, the mesh view, presence events; and what it reports of itself.

import type { DigestValue } from '../shared/interest-digest.js';
import { idleReport, type CoreRow, type EdgeReport, type EdgeRow } from '../shared/mesh-status.js';
import type { MuxStream } from '../shared/stream-mux.js';

export interface UplinkListener {
  /** The uplink is up (again): the edge resubscribes everything it holds. */
  onConnected(): void;
  onDisconnected(): void;
  onMessage(topic: string, epoch: string, offset: number, payload: Uint8Array): void;
  /** The digest of the edge's subscriptions, sent to the core periodically. */
  digest(): DigestValue;
  /** The core routes a different set to this edge than the edge holds: here is the core's set. */
  onDigestMismatch(coreSubscriptions: string[]): void;
  /** This edge's health and load, reported to the core at connect, on `reportStatus` and periodically. */
  status(): EdgeReport;
  /** The mesh as the core sees it. */
  onMeshView(cores: CoreRow[], edges: EdgeRow[]): void;
  /** The core opened a tunnel stream to a service this edge dials: attach to it or reset it, before returning. */
  onStream(stream: MuxStream): void;
  /** A member joined or left `topic` somewhere in the mesh (this edge watches it). */
  onPresenceEvent(topic: string, joined: boolean, session: string, user: string, edge: string): void;
}

/** Until `listen`: nothing is heard before `start`, and `start` refuses to run without a listener. */
export const silentListener: UplinkListener = {
  onConnected() {},
  onDisconnected() {},
  onMessage() {},
  digest: () => [0, 0, 0],
  onDigestMismatch() {},
  status: () => idleReport(''),
  onMeshView() {},
  onStream: (stream) => stream.reset('refused'),
  onPresenceEvent() {},
};
