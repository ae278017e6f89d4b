// Subscribers of one topic with probes among them, and one step of S3-style open-loop publishing to them: messages at
// their intended times, latency from those times at the probes, deliveries counted by the load processes.

import hdr from 'hdr-histogram-js';
import { combineLoads, startLoad, type Load } from './load.js';
import { Probe, type Publisher } from './probe.js';

export interface Audience {
  topic: string;
  /** Subscribers in load processes (every subscriber but the probes). */
  loaded: number;
  load: Load;
  probes: Probe[];
  close(): Promise<void>;
}

export interface StepFigures {
  /** Deliveries per second over the step (at least its planned length). */
  achieved: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  /** Not every delivery arrived in time. */
  saturated: boolean;
  elapsedMs: number;
}

/**
 * `subscribers` to `topic` on `url`, 4 of them probes. A node writes its subscribers in the order they came: probes
 * in the `middle` (between two halves of the others) see what the median subscriber sees, in one load process less
 * than S3's spread; probes `first` see the path to the node and through it, without the fan-out to the others.
 */
export async function openAudience(
  url: string,
  topic: string,
  subscribers: number,
  place: 'middle' | 'first' = 'middle',
): Promise<Audience> {
  const probes = 4;
  const loaded = subscribers - probes;
  const parts: Load[] = [];
  const probeClients: Probe[] = [];
  const close = async (): Promise<void> => {
    for (const probe of probeClients) probe.close();
    await Promise.all(parts.map((part) => part.stop()));
  };
  try {
    const before = place === 'first' ? 0 : Math.floor(loaded / 2);
    if (before) parts.push(await startLoad('relaymesh', url, topic, before));
    for (let i = 0; i < probes; i++) probeClients.push(await Probe.open('relaymesh', url, topic));
    parts.push(await startLoad('relaymesh', url, topic, loaded - before));
  } catch (error) {
    await close();
    throw error;
  }
  return { topic, loaded, load: combineLoads('relaymesh', parts), probes: probeClients, close };
}

/** `messages` published `intervalMs` apart, stamped after `afterSeq`; waits three times the step (5 s at least) for them. */
export async function pacedStep(
  audience: Audience,
  publisher: Publisher,
  messages: number,
  intervalMs: number,
  pad: string,
  afterSeq: number,
): Promise<StepFigures> {
  const { load, probes, loaded, topic } = audience;
  for (const probe of probes) probe.histogram.reset();
  const stepMs = messages * intervalMs;
  const timeoutMs = Math.max(stepMs * 3, 5000);
  const framesBefore = (await load.counts()).frames;
  const started = await publisher.publishPaced(topic, messages, intervalMs, pad, afterSeq);
  let saturated = false;
  try {
    await load.waitForFrames(framesBefore + messages * loaded, timeoutMs);
    await Promise.all(probes.map((probe) => probe.until(afterSeq + messages, timeoutMs)));
  } catch {
    saturated = true;
  }
  const elapsedMs = performance.now() - started;
  const merged = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  for (const probe of probes) merged.add(probe.histogram);
  const delivered = (await load.counts()).frames - framesBefore + messages * probes.length;
  return {
    achieved: delivered / (Math.max(elapsedMs, stepMs) / 1000),
    p50Ms: merged.getValueAtPercentile(50) / 1000,
    p99Ms: merged.getValueAtPercentile(99) / 1000,
    p999Ms: merged.getValueAtPercentile(99.9) / 1000,
    saturated,
    elapsedMs,
  };
}
