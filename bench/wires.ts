// How each benchmark candidate is spoken to: its WebSocket path and subprotocol, the frames that subscribe and
// publish, the frame that confirms a subscription, and how a probe reads back the timestamp of a delivery.

import { NatsStream } from './nats-stream.js';
import type { MessageStream } from './raw-ws-client.js';

export type CandidateKind = 'naive-ws' | 'socketio' | 'nats' | 'relaymesh';
/** In report order: relaymesh last, beside its strongest peer. */
export const candidateKinds: readonly CandidateKind[] = ['naive-ws', 'socketio', 'nats', 'relaymesh'];
/** The candidates run in-process by Node (server-process.ts): NATS, an outside binary, runs in fan-out and latency only. */
export const nodeCandidateKinds: readonly CandidateKind[] = candidateKinds.filter((kind) => kind !== 'nats');

export interface Stamp {
  seq: number;
  /** Intended send time (performance.timeOrigin + now), in ms. */
  t: number;
}

/** Frames to send, then the answer to wait for before the next step. */
export interface SetupStep {
  send: string[];
  until(payload: string): boolean;
}

export interface Wire {
  subscriberPath: string;
  publisherPath: string;
  protocol?: string;
  /** What a subscriber does after the upgrade until its subscription is in place. */
  subscribe(topic: string): SetupStep[];
  /** What a publisher does after the upgrade before it may publish. */
  openPublisher(): SetupStep[];
  publish(topic: string, stamp: Stamp, pad: string): string;
  /** The stamp inside a delivered message, or undefined for any other frame. */
  stampOf(payload: string): Stamp | undefined;
  /** When messages are not one frame each (NATS): what reads and counts them (then stampOf reads a message). */
  stream?: (send: (text: string) => void) => MessageStream;
}

/** What a NATS client says first; verbose off, so the server sends no +OK per command. */
export const natsConnect = 'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\n';

const stampJson = (stamp: Stamp, pad: string): string => JSON.stringify({ seq: stamp.seq, t: stamp.t, pad });

export const wires: Record<CandidateKind, Wire> = {
  // Everything published is sent to every subscriber: no topics, no protocol.
  'naive-ws': {
    subscriberPath: '/sub',
    publisherPath: '/pub',
    subscribe: () => [],
    openPublisher: () => [],
    publish: (_topic, stamp, pad) => stampJson(stamp, pad),
    stampOf: (payload) => JSON.parse(payload) as Stamp,
  },
  // Engine.IO 4 over WebSocket: "40" joins the default namespace, "42[…]" is an event, "421[…]" one with an ack.
  socketio: {
    subscriberPath: '/socket.io/?EIO=4&transport=websocket',
    publisherPath: '/socket.io/?EIO=4&transport=websocket',
    subscribe: (topic) => [
      { send: ['40'], until: (payload) => payload.startsWith('40') },
      { send: [`421${JSON.stringify(['sub', topic])}`], until: (payload) => payload.startsWith('431') },
    ],
    openPublisher: () => [{ send: ['40'], until: (payload) => payload.startsWith('40') }],
    publish: (topic, stamp, pad) => `42${JSON.stringify(['pub', topic, { seq: stamp.seq, t: stamp.t, pad }])}`,
    stampOf: (payload) =>
      payload.startsWith('42["msg"') ? (JSON.parse(payload.slice(2)) as [string, Stamp])[1] : undefined,
  },
  // The NATS client protocol by hand, to a leaf node's WebSocket port; the subject is the topic itself (both are
  // dot-separated tokens). The publisher speaks the same protocol over TCP to the hub (nats-tcp-client.ts), and
  // carries the naive server's bytes: the stamp's JSON is the whole payload.
  nats: {
    subscriberPath: '/',
    // Unused: the publisher connects to the hub over TCP, where CONNECT and a PING are all it sends before publishing.
    publisherPath: '/',
    subscribe: (topic) => [
      { send: [], until: (payload) => payload.startsWith('INFO ') },
      // A SUB is not confirmed; the PONG to a PING after it is, as the server reads a connection in order.
      { send: [`${natsConnect}SUB ${topic} 1\r\nPING\r\n`], until: (payload) => payload.includes('PONG\r\n') },
    ],
    openPublisher: () => [],
    publish: (topic, stamp, pad) => {
      const payload = stampJson(stamp, pad);
      return `PUB ${topic} ${Buffer.byteLength(payload)}\r\n${payload}\r\n`;
    },
    stampOf: (payload) => JSON.parse(payload) as Stamp,
    stream: (send) => new NatsStream(send),
  },
  relaymesh: {
    subscriberPath: '/v1/ws',
    publisherPath: '/v1/ws',
    protocol: 'relaymesh.v1.json',
    subscribe: (topic) => [
      {
        send: [JSON.stringify({ op: 'connect' }), JSON.stringify({ op: 'sub', id: 1, topic })],
        until: (payload) => payload.includes('"op":"subok"'),
      },
    ],
    openPublisher: () => [
      { send: [JSON.stringify({ op: 'connect' })], until: (payload) => payload.includes('"op":"welcome"') },
    ],
    publish: (topic, stamp, pad) => JSON.stringify({ op: 'pub', topic, data: { seq: stamp.seq, t: stamp.t, pad } }),
    stampOf: (payload) => {
      if (!payload.startsWith('{"op":"msg"')) return undefined;
      return (JSON.parse(payload) as { data: Stamp }).data;
    },
  },
};
