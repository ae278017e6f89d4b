// MQTT clients for tests: the real mqtt.js client on an edge's /v1/ws (messages collected, awaited with deadlines,
// ended in teardown), and a raw MQTT socket that sends packets by hand (mqtt-packet) and parses what comes back.

import type { ExecutionContext } from 'ava';
import { connect, type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import { generate, parser, type Packet } from 'mqtt-packet';
import WebSocket from 'ws';
import { firstMatch, within } from './within.js';

export interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

export interface MqttTestClient {
  client: MqttClient;
  connack: IConnackPacket | undefined;
  received: Received[];
  /** Waits until `count` messages have arrived (in all). */
  until(count: number): Promise<Received[]>;
  /** Resolves when the socket closes. */
  closed: Promise<void>;
}

let clients = 0;

/**
 * A connected mqtt.js client (no reconnects unless asked), watched from before its CONNECT so that messages that
 * follow the CONNACK at once (a resumed session) are not missed; ended in teardown.
 */
export async function connectMqtt(
  t: ExecutionContext,
  edgeUrl: string,
  options: IClientOptions = {},
): Promise<MqttTestClient> {
  const client = connect(`${edgeUrl}/v1/ws`, {
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    clientId: `test-${process.pid}-${++clients}`,
    ...options,
  });
  t.teardown(() => client.end(true));
  const observed = observe(client);
  observed.connack = await within(
    new Promise<IConnackPacket>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
      client.once('close', () => reject(new Error('closed before CONNACK')));
    }),
    'MQTT CONNACK',
  );
  return observed;
}

/** Collects what an mqtt.js client receives. */
export function observe(client: MqttClient): MqttTestClient {
  const received: Received[] = [];
  const waiters: Array<() => void> = [];
  client.on('message', (topic, payload, packet) => {
    received.push({ topic, payload, packet });
    for (const waiter of waiters.splice(0)) waiter();
  });
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  return {
    client,
    connack: undefined,
    received,
    closed,
    until(count) {
      return within(
        new Promise<Received[]>((resolve) => {
          const check = (): void => (received.length >= count ? resolve(received) : void waiters.push(check));
          check();
        }),
        `${count} MQTT messages (got ${received.length}: ${received.map((r) => r.topic).join(', ')})`,
      );
    },
  };
}

/** An MQTT socket driven by hand: packets out as bytes, packets in parsed. */
export class RawMqtt {
  readonly packets: Packet[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly waiters: Array<() => void> = [];

  private constructor(
    readonly ws: WebSocket,
    version: 4 | 5,
  ) {
    const incoming = parser({ protocolVersion: version });
    incoming.on('packet', (packet: Packet) => this.packets.push(packet));
    incoming.on('error', (error: Error) => {
      throw new Error(`the server sent a malformed packet: ${error.message}`);
    });
    ws.on('message', (data: Buffer) => {
      incoming.parse(data);
      for (const waiter of this.waiters.splice(0)) waiter();
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const waiter of this.waiters.splice(0)) waiter();
      }),
    );
  }

  static async open(t: ExecutionContext, edgeUrl: string, version: 4 | 5 = 4): Promise<RawMqtt> {
    const ws = new WebSocket(`${edgeUrl}/v1/ws`, ['mqtt']);
    t.teardown(() => ws.terminate());
    await within(
      new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      }),
      'MQTT socket open',
    );
    t.is(ws.protocol, 'mqtt');
    return new RawMqtt(ws, version);
  }

  /** Opens and sends CONNECT, waiting for CONNACK. */
  static async connected(
    t: ExecutionContext,
    edgeUrl: string,
    version: 4 | 5 = 4,
    connect: Partial<Packet> = {},
  ): Promise<RawMqtt> {
    const raw = await RawMqtt.open(t, edgeUrl, version);
    raw.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: version,
      clean: true,
      clientId: `raw-${process.pid}-${++clients}`,
      keepalive: 0,
      ...connect,
    } as Packet);
    await raw.next((packet) => packet.cmd === 'connack');
    return raw;
  }

  send(packet: Packet, version: 4 | 5 = 4): void {
    this.ws.send(generate(packet, { protocolVersion: version }));
  }

  /** The first packet (received so far or later) that matches, with a deadline. */
  next(match: (packet: Packet) => boolean, what = 'a matching MQTT packet'): Promise<Packet> {
    return firstMatch(
      this.packets,
      this.waiters,
      match,
      `${what} (got ${this.packets.map((packet) => packet.cmd).join(', ')})`,
    );
  }
}
