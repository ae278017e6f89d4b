// A candidate with its subscribers, a probe and a publisher, opened together and always closed together.

import { startCandidate, type Candidate } from './candidate.js';
import { startLoad, type Load } from './load.js';
import { Probe, Publisher } from './probe.js';
import type { CandidateKind } from './wires.js';

export interface Traffic {
  candidate: Candidate;
  /** `subscribers` counting sockets in load processes. */
  load: Load;
  /** One more subscriber, which reads stamps (latency, how far deliveries got). */
  probe: Probe;
  publisher: Publisher;
  /** The one the load and the probe subscribe to. */
  topic: string;
}

export async function withTraffic<T>(
  kind: CandidateKind,
  topic: string,
  subscribers: number,
  use: (traffic: Traffic) => Promise<T>,
): Promise<T> {
  const candidate = await startCandidate(kind);
  let load: Load | undefined;
  let probe: Probe | undefined;
  let publisher: Publisher | undefined;
  try {
    load = await startLoad(kind, candidate.url, topic, subscribers);
    probe = await Probe.open(kind, candidate.url, topic);
    publisher = await Publisher.open(kind, candidate.publisherUrl);
    return await use({ candidate, load, probe, publisher, topic });
  } finally {
    probe?.close();
    publisher?.close();
    await load?.stop();
    candidate.stop();
  }
}
