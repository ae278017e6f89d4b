// The core's side of one edge's uplink: answers its frames, sends through a bounded outbox (control first, then live
// messages, replays behind both in bounded chunks), and drops an edge that stops answering pings or reading. The
// edge's tunnel link is a peer of this class too, in the `tunnels` role: the same identity, tunnel streams only.

import type { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { WebSocket } from 'ws';
import { checkPayload, decodeEdgeFrames, encodeFrame } from '../shared/codec.js';
import { challengeNonce } from '../shared/edge-proof.js';
import { RelayError, closeCodes, toRelayError } from '../shared/errors.js';
import { beat, type Heartbeat } from '../shared/heartbeat.js';
import { InterestDigest, type DigestValue } from '../shared/interest-digest.js';
import { edgeReportOf, type EdgeReport, type EdgeRow } from '../shared/mesh-status.js';
import {
  frameType,
  oldestEdgeProtocolVersion,
  protocolVersion,
  streamsProtocolVersion,
  type CoreFrame,
  type EdgeFrame,
  type FrameOf,
  type Position,
} from '../shared/protocol.js';
import { isPattern, subscriptionProblem, topicProblem } from '../shared/topics.js';
import { UplinkOutbox, type FrameClass } from '../shared/uplink-outbox.js';
import { RoundTrip } from '../shared/round-trip.js';
import { StreamMux, tunnelLinkLowWaterBytes, type MuxStream, type StreamCounters } from '../shared/stream-mux.js';
import type { Engine } from './engine.js';
import type { PresenceBook } from './presence-book.js';
import { streamReplay, type ReplayTarget } from './replay-stream.js';
import { identityProblem, type KnownEdge, type UplinkRefusal } from './uplink-identity.js';

export type { KnownEdge, UplinkRefusal } from './uplink-identity.js';
import type { Router, RouteTarget } from './router.js';
import type { CoreMetrics } from './metrics.js';

export interface UplinkPeerContext {
  coreId: string;
  engine: Engine;
  router: Router<UplinkPeer>;
  metrics: CoreMetrics;
  logger: Logger;
  /** Positions of recent publishes by `${edge}:${edge instance}:${publish id}`, so a publish resent after a reconnect is not sequenced twice. */
  recentPublishes: LRUCache<string, Promise<Position>>;
  /** Edge id → secret. When set, the core challenges each uplink and accepts only a hello that proves one of these. */
  edgeSecrets?: ReadonlyMap<string, string>;
  /**
   * Called once the edge has said who it is (`proven`: with the proof of its secret): the core takes it in, replacing
   * an older uplink (or tunnel link) of the same edge, or says why not.
   */
  admit(peer: UplinkPeer, proven: boolean): UplinkRefusal | undefined;
  /** The client URL and region of each edge as the topology gives them; absent: any id, as the edge reports itself. */
  knownEdges?: ReadonlyMap<string, KnownEdge>;
  /** The edge reported its health and load; `previous` is its report before. */
  onReport(peer: UplinkPeer, previous: EdgeReport | undefined): void;
  onClosed(peer: UplinkPeer): void;
  /** Bytes waiting for one edge (queued here and in the socket) beyond which the edge is too slow and is dropped. */
  maxQueueBytes: number;
  /** Payload bytes one replay may carry; a resume that needs more is answered `recovered: false`. */
  maxReplayBytes: number;
  /** The edge opened a tunnel stream: attach to it or reset it, before returning (core/tunnel-relay.ts). */
  onStream(peer: UplinkPeer, stream: MuxStream): void;
  /** Tunnel bytes received from one edge and not yet passed on, beyond which the streams holding most are reset. */
  tunnelBufferMaxBytes: number;
  streamCounters?: StreamCounters;
  /** Who is present on which topic: the members each edge reports, and the watchers of joins and leaves. */
  presence: PresenceBook;
}

/** `history` replays one edge may have in progress; more are answered `unavailable` (its client resyncs). */
const maxHistoryReplays = 1024;

/** Edges a hub may list behind it; more are left out of the mesh view. */
const maxRelayedEdges = 10_000;

/** A relayed publish's identity: `edge:instance:publishId` as the edge's own core would make it. */
const originPattern = /^([A-Za-z0-9_.-]{1,200}):([A-Za-z0-9_-]{1,64}):(\d{1,16})$/;

/** An uplink says who it is within this, or is closed (a hub takes uplinks on its public port). */
const helloTimeoutMs = 10_000;

/** Edge ids in refusal logs are cut to this: they come from whoever connected, not from the topology. */
const loggedIdLength = 200;

/** How a refused hello is logged, and the close its connection gets. */
function refusalAnswer(reason: UplinkRefusal): { code: number; reason: string; log: string } {
  switch (reason) {
    case 'id_in_use':
      return {
        code: closeCodes.edgeIdInUse,
        reason: 'edge id in use',
        log: 'uplink refused: another uplink holds this edge id and this one proved nothing',
      };
    case 'no_uplink':
      return {
        code: closeCodes.edgeIdInUse,
        reason: 'no uplink of this edge process here',
        log: 'tunnel link refused: this edge process has no uplink on this core',
      };
    default:
      return {
        code: closeCodes.unauthorized,
        reason: 'edge not authenticated',
        log: 'uplink refused: the edge did not prove its identity',
      };
  }
}

export class UplinkPeer implements RouteTarget, Heartbeat {
  routeStamp = 0;
  edgeId = '';
  region = '';
  /** The edge's last report of its health and load (shared/mesh-status.ts). */
  report: EdgeReport | undefined;
  /** A hub's: the edges behind it, as it last listed them (`meshEdges`). */
  relayed: readonly EdgeRow[] = [];
  /** A pong since the last liveness sweep: frames do not count, as an edge that sends but never reads is not alive. */
  alive = true;
  /** The round trip to the edge, for the tunnel streams' windows. */
  private readonly roundTrip = new RoundTrip();
  /** Random per edge process, and never shown to anyone but the core: only that process can claim it again. */
  instance = '';
  /** Subscription → the number of the `sub` that added it, so a failed `sub` removes only what it added. */
  private readonly subscriptions = new Map<string, number>();
  private subscriptionsAdded = 0;
  private readonly interestDigest = new InterestDigest();
  private readonly outbox: UplinkOutbox;
  /** The tunnel streams, on a tunnel link only. */
  private readonly streams: StreamMux | undefined;
  private readonly replayTarget: ReplayTarget;
  /** `history` requests being replayed; a `cancel` from the edge removes its id, and the replay stops. */
  private readonly historyReplays = new Set<number>();
  /** Settles once every `sub` received so far has read its position; `pub`s wait for it (holdPublishesUntil). */
  private publishGate: Promise<void> | undefined;
  private closed = false;
  /** The nonce of this connection's challenge, when the core checks edge identity. */
  private readonly nonce: string | undefined;
  private helloTimer: NodeJS.Timeout | undefined;

  /** `remoteAddress` is only for logs. */
  constructor(
    private readonly socket: WebSocket,
    private readonly context: UplinkPeerContext,
    private readonly remoteAddress = '',
    /** `uplink`: everything but tunnel streams; `tunnels`: tunnel streams only (the edge's tunnel link). */
    readonly role: 'uplink' | 'tunnels' = 'uplink',
  ) {
    this.outbox = new UplinkOutbox({
      send: (message, sent) => {
        if (socket.readyState === socket.OPEN) socket.send(message, sent);
      },
      buffered: () => socket.bufferedAmount,
      ...(role === 'tunnels' ? { lowWaterBytes: tunnelLinkLowWaterBytes } : {}),
      // Tunnel bytes have metrics of their own: these count the uplink.
      onSend: (bytes, frames) => {
        if (role !== 'uplink') return;
        context.metrics.uplinkMessagesSent.inc({ edge: this.edgeId });
        context.metrics.uplinkFramesSent.inc({ edge: this.edgeId }, frames);
        context.metrics.uplinkBytesSent.inc({ edge: this.edgeId }, bytes);
      },
    });
    if (role === 'tunnels') {
      this.streams = new StreamMux({
        side: 'core',
        sendControl: (frame) => this.sendFrame(frame),
        wake: () => this.outbox.wake(),
        onOpen: (stream) => context.onStream(this, stream),
        maxBufferedBytes: context.tunnelBufferMaxBytes,
        counters: context.streamCounters,
        roundTripMs: () => this.roundTrip.ms,
      });
      this.outbox.carry(this.streams);
    }
    this.replayTarget = {
      engine: context.engine,
      metrics: context.metrics,
      maxReplayBytes: context.maxReplayBytes,
      bulkRoom: () => this.outbox.bulkRoom(),
      sendReplay: (id, offset, data) => this.sendFrame([frameType.replay, id, offset, data], 'bulk'),
    };
    socket.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    socket.on('pong', (payload) => {
      this.alive = true;
      this.roundTrip.answered(payload);
    });
    socket.on('close', () => this.cleanup());
    socket.on('error', (error) =>
      context.logger.warn({ edge: this.edgeId, err: error.message }, 'uplink socket error'),
    );
    this.helloTimer = setTimeout(() => {
      context.logger.warn({ remote: this.remoteAddress }, 'uplink sent no hello in time; dropping it');
      this.close(closeCodes.protocolViolation, 'no hello in time');
    }, helloTimeoutMs);
    this.helloTimer.unref();
    if (context.edgeSecrets) {
      // A fresh nonce per connection: a hello captured on one uplink proves nothing on another.
      this.nonce = challengeNonce();
      this.sendFrame([frameType.challenge, this.nonce]);
    }
  }

  /** A live message from the router (or, as `control`, the mesh view); an edge that cannot keep up is dropped. */
  deliver(frame: Buffer, frameClass: FrameClass = 'message'): void {
    this.send(frame, frameClass);
  }

  /** Tunnel streams open on this tunnel link now, either way. */
  get streamCount(): number {
    return this.streams?.size ?? 0;
  }

  /** Tunnel bytes received from the edge and not yet passed on (at most a window per stream). */
  get tunnelBufferedBytes(): number {
    return this.streams?.buffered ?? 0;
  }

  /** A new tunnel stream down to the edge, on its tunnel link; undefined when the link is gone (or this is none). */
  openStream(tunnel: string): MuxStream | undefined {
    if (this.closed || !this.edgeId) return undefined;
    return this.streams?.open(tunnel);
  }

  /** Called once per liveness period: the core pings, and an edge that answered nothing since the last ping is gone. */
  sweep(): void {
    if (beat(this, () => this.socket.ping(this.roundTrip.stamp()))) return;
    this.context.logger.warn(
      { edge: this.edgeId },
      'uplink did not answer a ping within a liveness period; dropping it',
    );
    this.socket.terminate();
    this.cleanup();
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.outbox.flush();
    this.socket.close(code, reason);
    this.cleanup();
  }

  private send(frame: Buffer, frameClass: FrameClass): void {
    if (this.closed) return;
    this.outbox.push(frame, frameClass);
    if (this.outbox.pendingBytes <= this.context.maxQueueBytes) return;
    // Dropping the link loses nothing: the edge resubscribes from its positions and the gap is replayed (or reset).
    this.context.logger.warn(
      { edge: this.edgeId, pendingBytes: this.outbox.pendingBytes },
      'edge does not read its uplink fast enough; dropping it',
    );
    this.socket.terminate();
    this.cleanup();
  }

  private sendFrame(frame: CoreFrame, frameClass: FrameClass = 'control'): void {
    this.send(encodeFrame(frame), frameClass);
  }

  private receive(data: Buffer, isBinary: boolean): void {
    let frames: EdgeFrame[];
    try {
      if (!isBinary) throw new RelayError('bad_request', 'uplink messages are binary');
      frames = decodeEdgeFrames(data);
    } catch (error) {
      this.context.logger.warn({ edge: this.edgeId, err: (error as Error).message }, 'bad uplink message');
      this.close(closeCodes.protocolViolation, 'bad uplink message');
      return;
    }
    for (const frame of frames) {
      if (this.closed) return;
      try {
        this.handle(frame);
      } catch (error) {
        this.context.logger.error({ edge: this.edgeId, frame: frame[0], err: error }, 'uplink frame failed');
      }
    }
  }

  private handle(frame: EdgeFrame): void {
    if (!this.edgeId && frame[0] !== frameType.hello) {
      this.close(closeCodes.protocolViolation, 'hello first');
      return;
    }
    const isStream = frame[0] >= frameType.streamOpen && frame[0] <= frameType.streamReset;
    if (frame[0] !== frameType.hello && isStream !== (this.role === 'tunnels')) {
      this.context.logger.warn({ edge: this.edgeId, frame: frame[0], role: this.role }, 'frame on the wrong link');
      return this.close(
        closeCodes.protocolViolation,
        isStream ? 'tunnel streams go on the tunnel link' : 'only tunnel streams on the tunnel link',
      );
    }
    switch (frame[0]) {
      case frameType.hello: {
        const [, version, edgeId, region, instance, proof] = frame;
        return this.hello(version, edgeId, region, instance, proof);
      }
      case frameType.sub:
        return void this.subscribe(frame).catch((error) => this.fail(frame[1], error));
      case frameType.unsub: {
        const [, subscription] = frame;
        return this.unsubscribe(subscription);
      }
      case frameType.pub: {
        const [, id, topic, data] = frame;
        const key = `${this.edgeId}:${this.instance}:${id}`;
        return void this.publish(id, topic, data, key).catch((error) => this.fail(id, error));
      }
      case frameType.pubFrom: {
        const [, id, topic, data, origin] = frame;
        if (!this.relays()) return this.close(closeCodes.protocolViolation, 'only hubs relay publishes');
        const edge = originPattern.exec(origin)?.[1];
        if (edge === undefined || !this.relaysFor(edge))
          return this.fail(id, new RelayError('forbidden', 'not a publish of an edge behind this hub'));
        return void this.publish(id, topic, data, origin).catch((error) => this.fail(id, error));
      }
      case frameType.meshEdges: {
        const [, rows] = frame;
        if (!this.relays()) return this.close(closeCodes.protocolViolation, 'only hubs list edges behind them');
        const before = this.relayed;
        this.relayed = this.checkedRows(rows);
        // Edges coming, going or changing health behind the hub are news to the mesh at once; figures can wait.
        return this.context.onReport(this, sameHealth(before, this.relayed) ? this.report : undefined);
      }
      case frameType.history:
        return void this.history(frame).catch((error) => this.fail(frame[1], error));
      case frameType.cancel: {
        const [, id] = frame;
        return void this.historyReplays.delete(id);
      }
      case frameType.digest: {
        const [, count, sum, xor] = frame;
        return this.compareDigest([count, sum, xor]);
      }
      case frameType.edgeStatus: {
        const [, report] = frame;
        return this.reported(edgeReportOf(report));
      }
      case frameType.presenceJoin: {
        const [, topic, session, user, known] = frame;
        if (topicProblem(topic)) return this.badPresence(topic);
        return this.context.presence.join(this.edgeId, topic, session, user, known);
      }
      case frameType.presenceLeave: {
        const [, topic, session, user] = frame;
        return this.context.presence.leave(this.edgeId, topic, session, user);
      }
      case frameType.presenceSynced:
        return this.context.presence.synced(this.edgeId);
      case frameType.presenceWatch: {
        const [, topic, on] = frame;
        if (topicProblem(topic)) return this.badPresence(topic);
        return this.context.presence.watch(this, topic, on);
      }
      case frameType.presenceQuery:
        return void this.presenceQuery(frame).catch((error) => this.fail(frame[1], error));
      case frameType.streamOpen:
      case frameType.streamData:
      case frameType.streamWindow:
      case frameType.streamEnd:
      case frameType.streamReset: {
        // Only a tunnel link gets here (the role check above), and it has streams.
        const problem = this.streams!.receive(frame);
        if (problem === undefined) return;
        this.context.logger.warn(
          { edge: this.edgeId, err: problem },
          'tunnel stream protocol violation; dropping the uplink',
        );
        return this.close(closeCodes.protocolViolation, 'tunnel stream protocol violation');
      }
    }
  }

  private hello(version: number, edgeId: string, region: string, instance: string, proof: string): void {
    if (this.edgeId) return this.close(closeCodes.protocolViolation, 'hello twice');
    if (version < oldestEdgeProtocolVersion || version > protocolVersion)
      return this.close(
        closeCodes.protocolViolation,
        `uplink protocol ${version} is not between ${oldestEdgeProtocolVersion} and ${protocolVersion}`,
      );
    if (!edgeId || !instance) return this.close(closeCodes.protocolViolation, 'empty edge id or instance');
    if (this.role === 'tunnels' && version < streamsProtocolVersion)
      return this.close(
        closeCodes.protocolViolation,
        `tunnel links start with uplink protocol ${streamsProtocolVersion}`,
      );
    const refusal = identityProblem(this.context, { edgeId, instance, proof, nonce: this.nonce });
    if (refusal) return this.refuse(edgeId, refusal);
    this.edgeId = edgeId;
    this.region = this.context.knownEdges?.get(edgeId)?.region ?? region;
    this.instance = instance;
    const taken = this.context.admit(this, this.context.edgeSecrets !== undefined);
    if (taken) {
      this.edgeId = '';
      return this.refuse(edgeId, taken);
    }
    clearTimeout(this.helloTimer);
    this.sendFrame([frameType.welcome, this.context.coreId]);
    // A first round trip now rather than a liveness period later: tunnel windows wait for one before they grow.
    if (this.streams) this.socket.ping(this.roundTrip.stamp());
  }

  /** The edge never becomes identified, so it takes no one's place in `uplinks`. Neither secret nor proof is logged. */
  private refuse(edgeId: string, reason: UplinkRefusal): void {
    this.context.metrics.uplinksRefused.inc({ reason });
    const answer = refusalAnswer(reason);
    this.context.logger.warn(
      { edge: edgeId.slice(0, loggedIdLength), remote: this.remoteAddress, reason, role: this.role },
      answer.log,
    );
    this.close(answer.code, answer.reason);
  }

  private async subscribe([, id, subscription, since]: FrameOf<typeof frameType.sub>): Promise<void> {
    const problem = subscriptionProblem(subscription);
    if (problem) throw new RelayError('invalid_topic', `subscription ${problem}`);
    // Interest first, position second: a message sequenced in between goes out live, and the edge
    // (which holds live messages of a topic until its subok) sorts it out by offset. An engine that follows its
    // topics from elsewhere (Redis pub/sub) must be following this one before the position is read, or a message
    // sequenced between the read and the start of the following would be neither replayed nor sent live.
    const added = this.addInterest(subscription);
    const held = this.subscriptions.get(subscription);
    const positioned = (async () => {
      await this.context.engine.ready(subscription);
      return isPattern(subscription) ? undefined : this.context.engine.position(subscription);
    })();
    this.holdPublishesUntil(positioned);
    try {
      const position = await positioned;
      if (!position) return this.sendFrame([frameType.subok, id, '', 0, false], 'message');
      // An unsubscribe while the replay is on its way cancels it: a `sub`/`unsub` loop costs the core one chunk each.
      const wanted = (): boolean => !this.closed && this.subscriptions.get(subscription) === held;
      const replayed = since ? await this.replaySince(id, subscription, since, position, wanted) : false;
      if (!wanted())
        return this.fail(id, new RelayError('not_subscribed', `unsubscribed from ${subscription} during its replay`));
      // Never ahead of what it follows: the live messages queued before it (those up to its position reach the edge
      // first, as a pattern of the edge may deliver them), and its replay frames.
      this.sendFrame([frameType.subok, id, position.epoch, position.offset, replayed], since ? 'bulk' : 'message');
    } catch (error) {
      // The edge drops a subscription that failed, so the core does too (a resubscribe it already held stays).
      if (added !== undefined && this.subscriptions.get(subscription) === added) this.unsubscribe(subscription);
      throw error;
    }
  }

  /**
   * The replay a `sub` with `since` gets: the messages after it when its epoch is current, or, when the epoch changed
   * (a restarted core) and the new stream is whole, every message of the new epoch, so the edge can reset its clients
   * to the start of it and lose none of them. False when it cannot (history gone, or over the replay bound).
   */
  private async replaySince(
    id: number,
    topic: string,
    [epoch, offset]: [string, number],
    position: Position,
    wanted: () => boolean,
  ): Promise<boolean> {
    if (epoch === position.epoch)
      return offset <= position.offset && this.replay(id, topic, position.epoch, offset + 1, position.offset, wanted);
    return position.offset > 0 && this.replay(id, topic, position.epoch, 1, position.offset, wanted);
  }

  private unsubscribe(subscription: string): void {
    if (!this.subscriptions.delete(subscription)) return;
    this.interestDigest.remove(subscription);
    this.context.router.remove(this, subscription);
  }

  /**
   * Frames of one uplink take effect in order: a `pub` sent after a `sub` is sequenced after that subscription's
   * position is read, so the edge's client sees its own message (the engine may need a round trip before the read).
   */
  private holdPublishesUntil(positioned: Promise<unknown>): void {
    const gate = Promise.all([this.publishGate, positioned]).then(
      () => undefined,
      () => undefined,
    );
    this.publishGate = gate;
    void gate.then(() => {
      if (this.publishGate === gate) this.publishGate = undefined;
    });
  }

  /** `key` names the publish for de-duplication: its edge process's and its id there (relayed as is by hubs). */
  private async publish(id: number, topic: string, data: Uint8Array, key: string): Promise<void> {
    const problem = topicProblem(topic);
    if (problem) throw new RelayError('invalid_topic', `topic ${problem}`);
    checkPayload(data);
    if (this.publishGate) await this.publishGate;
    let sequenced = this.context.recentPublishes.get(key);
    if (!sequenced) {
      sequenced = this.context.engine.publish(topic, data, key).then(({ epoch, offset }) => ({ epoch, offset }));
      this.context.recentPublishes.set(key, sequenced);
      sequenced.catch(() => this.context.recentPublishes.delete(key));
    }
    const position = await sequenced;
    if (!this.closed) this.sendFrame([frameType.puback, id, position.epoch, position.offset]);
  }

  private async presenceQuery([, id, topic]: FrameOf<typeof frameType.presenceQuery>): Promise<void> {
    const problem = topicProblem(topic);
    if (problem) throw new RelayError('invalid_topic', `topic ${problem}`);
    // Each answer waits until the uplink has room, as replays do: questions asked faster than the edge reads the
    // answers wait here (the edge bounds how many), instead of growing this edge's queue until it is dropped.
    await this.outbox.bulkRoom();
    const { count, members } = await this.context.presence.query(topic);
    const rows = members.map(({ session, user, edge }): [string, string, string] => [session, user ?? '', edge]);
    // With the events (`message`): an answer comes after every event of the topic that it reflects.
    if (!this.closed) this.sendFrame([frameType.presenceAnswer, id, count, rows], 'message');
  }

  /** Whether this edge may relay for others: any edge of a mesh without a topology, else a hub of it. */
  private relays(): boolean {
    const known = this.context.knownEdges;
    return known === undefined || known.get(this.edgeId)?.behind !== undefined;
  }

  /** Whether this hub relays for `edge`: itself (its own clients), or an edge whose `cores` lead to it. */
  private relaysFor(edge: string): boolean {
    const known = this.context.knownEdges;
    return known === undefined || edge === this.edgeId || known.get(this.edgeId)?.behind?.has(edge) === true;
  }

  /**
   * The edges a hub lists behind it, as far as they may be; where their clients go and their region are the
   * topology's, never the hub's word (as for an edge's own report).
   */
  private checkedRows(rows: readonly EdgeRow[]): EdgeRow[] {
    const checked: EdgeRow[] = [];
    for (const row of rows) {
      if (checked.length === maxRelayedEdges) break;
      if (!this.relaysFor(row[0])) continue;
      const known = this.context.knownEdges?.get(row[0]);
      checked.push(known ? ([row[0], known.region, row[2], known.url, ...row.slice(4)] as EdgeRow) : row);
    }
    return checked;
  }

  /** Edges check topics before they report them: one that does not is broken, and its report is ignored. */
  private badPresence(topic: string): void {
    this.context.logger.warn({ edge: this.edgeId, topic: topic.slice(0, loggedIdLength) }, 'presence for a bad topic');
  }

  private async history([, id, topic, epoch, from, to]: FrameOf<typeof frameType.history>): Promise<void> {
    // Each waits its turn for room, holding little; still, an edge gets only so many at once.
    if (this.historyReplays.size >= maxHistoryReplays)
      throw new RelayError('unavailable', `${maxHistoryReplays} replays already in progress for this edge`);
    this.historyReplays.add(id);
    try {
      const wanted = (): boolean => !this.closed && this.historyReplays.has(id);
      const recovered = await this.replay(id, topic, epoch, from, to, wanted);
      if (wanted()) this.sendFrame([frameType.historyEnd, id, recovered], 'bulk');
    } finally {
      this.historyReplays.delete(id);
    }
  }

  /**
   * Sends the messages [from, to] of `topic` in `epoch` as `replay` frames, in chunks that wait behind live traffic and
   * other replays, while `wanted()` holds. False when any of them is gone, or they carry more than the replay bound
   * (the edge drops a replay that does not end recovered).
   */
  private replay(
    id: number,
    topic: string,
    epoch: string,
    from: number,
    to: number,
    wanted: () => boolean,
  ): Promise<boolean> {
    return streamReplay(this.replayTarget, { id, topic, epoch, from, to }, wanted);
  }

  private reported(report: EdgeReport): void {
    const previous = this.report;
    // Where clients go is the operator's word (the topology), never the edge's: a stranger's report must not steer /v1/locate.
    const url = this.context.knownEdges?.get(this.edgeId)?.url;
    this.report = url === undefined ? report : { ...report, url };
    this.context.onReport(this, previous);
  }

  /** The number of this addition when the subscription is new to this uplink; undefined when it was held already. */
  private addInterest(subscription: string): number | undefined {
    if (this.subscriptions.has(subscription)) return undefined;
    const added = ++this.subscriptionsAdded;
    this.subscriptions.set(subscription, added);
    this.interestDigest.add(subscription);
    this.context.router.add(this, subscription);
    return added;
  }

  /** Frames are ordered, so the edge's digest describes exactly the subscriptions received before it. */
  private compareDigest(edgeDigest: DigestValue): void {
    if (this.interestDigest.matches(edgeDigest)) return;
    this.context.metrics.digestMismatches.inc({ edge: this.edgeId });
    this.context.logger.warn(
      { edge: this.edgeId, edgeCount: edgeDigest[0], coreCount: this.subscriptions.size },
      "subscription digest differs; sending the core's set",
    );
    this.sendFrame([frameType.digestMismatch, [...this.subscriptions.keys()]]);
  }

  private fail(id: number, error: unknown): void {
    const relayError = toRelayError(error);
    if (relayError.code === 'internal')
      this.context.logger.error({ edge: this.edgeId, err: error }, 'uplink request failed');
    if (!this.closed) this.sendFrame([frameType.error, id, relayError.code, relayError.message]);
  }

  private cleanup(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.helloTimer);
    for (const subscription of this.subscriptions.keys()) this.context.router.remove(this, subscription);
    this.subscriptions.clear();
    this.historyReplays.clear();
    this.outbox.close();
    this.streams?.close();
    this.context.onClosed(this);
  }
}

/** Whether two lists of relayed rows name the same edges with the same URL and draining state. */
function sameHealth(a: readonly EdgeRow[], b: readonly EdgeRow[]): boolean {
  return (
    a.length === b.length && a.every((row, i) => row[0] === b[i]![0] && row[3] === b[i]![3] && row[4] === b[i]![4])
  );
}
