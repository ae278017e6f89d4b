// How each benchmark candidate is spoken to: its WebSocket path and subprotocol, the frames that subscribe and
// publish, the frame that confirms a subscription, and how a probe reads back the timestamp of a delivery.

export type CandidateKind = 'naive-ws' | 'socketio' | 'relaymesh';
export const candidateKinds: readonly CandidateKind[] = ['naive-ws', 'socketio', 'relaymesh'];

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
}

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
