// Presence through a hub (docs/protocol.md §9): the hub's core side keeps the members of the edges behind it (with
// their grace periods) and reports them to its own core as its own, as an edge reports its sessions; it asks its core
// about the rest of the mesh, and watches there the topics its edges watch.

import type { PresenceShare, StoredMember } from '../core/presence-book.js';
import type { Uplink } from '../edge/uplink.js';
import { frameType } from '../shared/protocol.js';

type EventListener = (topic: string, session: string, member: StoredMember, joined: boolean) => void;

export class HubPresence implements PresenceShare {
  /** The members behind this hub, as its core side holds them: topic → session → user. */
  private readonly members = new Map<string, Map<string, string>>();
  /** `topic session` of members that joined while no core heard: news to it when they are reported. */
  private readonly unreported = new Set<string>();
  /** Members its core heard of that left while it heard nothing: [topic, session, user] by `topic session`. */
  private readonly leftUnreported = new Map<string, [string, string, string]>();
  private readonly watched = new Set<string>();
  private readonly listeners: EventListener[] = [];
  private arrivedElsewhere: (edge: string) => void = () => {};

  constructor(
    private readonly uplink: Uplink,
    /** The hub's id: its core shows the members behind it under it. */
    private readonly hubId: string,
    private readonly holdMs: number,
  ) {}

  changed(topic: string, session: string, member: StoredMember, joined: boolean, known: boolean): void {
    let sessions = this.members.get(topic);
    if (joined) {
      if (!sessions) this.members.set(topic, (sessions = new Map()));
      sessions.set(session, member.user);
    } else {
      sessions?.delete(session);
      if (sessions?.size === 0) this.members.delete(topic);
    }
    const key = `${topic} ${session}`;
    if (!this.uplink.connected) {
      // Reported on connect: a join as news; a leave of a member the core heard of, as a leave.
      if (joined) this.unreported.add(key);
      else if (!this.unreported.delete(key)) this.leftUnreported.set(key, [topic, session, member.user]);
      return;
    }
    this.uplink.sendPresence(
      joined
        ? [frameType.presenceJoin, topic, session, member.user, known]
        : [frameType.presenceLeave, topic, session, member.user],
    );
  }

  /** The hub's core announces what the hub reports, to everyone. */
  announce(): void {}

  edgeArrived(): void {}

  edgeExpired(): void {}

  /**
   * The rest of the mesh, as the hub's core answers: its members less those it has from this hub, and how many it
   * counted beyond those it listed.
   */
  async othersOf(topic: string): Promise<{ members: Map<string, StoredMember>; unlisted: number }> {
    const { count, members } = await this.uplink.queryPresence(topic, this.holdMs);
    const others = new Map<string, StoredMember>();
    for (const { session, user, edge } of members)
      if (edge !== this.hubId) others.set(session, { user: user ?? '', edge });
    const elsewhere = count - (this.members.get(topic)?.size ?? 0);
    return { members: others, unlisted: Math.max(0, elsewhere - others.size) };
  }

  onEvent(listener: EventListener): void {
    this.listeners.push(listener);
  }

  onEdgeArrived(listener: (edge: string) => void): void {
    this.arrivedElsewhere = listener;
  }

  onEdgeExpired(): void {}

  /**
   * The core's view shows `edge` connected elsewhere (it failed over from behind this hub): the members it left here
   * are let go without a word, as they never left.
   */
  edgeElsewhere(edge: string): void {
    this.arrivedElsewhere(edge);
  }

  watching(topic: string, on: boolean): void {
    if (on) this.watched.add(topic);
    else this.watched.delete(topic);
    this.uplink.sendPresence([frameType.presenceWatch, topic, on]);
  }

  /** The uplink is (back): every member again (those heard before as known), the leaves it missed, the watches, then
   * `synced`. */
  upstreamConnected(): void {
    for (const [topic, sessions] of this.members)
      for (const [session, user] of sessions)
        this.uplink.sendPresence([
          frameType.presenceJoin,
          topic,
          session,
          user,
          !this.unreported.has(`${topic} ${session}`),
        ]);
    this.unreported.clear();
    for (const [topic, session, user] of this.leftUnreported.values())
      if (!this.members.get(topic)?.has(session))
        this.uplink.sendPresence([frameType.presenceLeave, topic, session, user]);
    this.leftUnreported.clear();
    for (const topic of this.watched) this.uplink.sendPresence([frameType.presenceWatch, topic, true]);
    this.uplink.sendPresence([frameType.presenceSynced]);
  }

  /** A join or leave elsewhere in the mesh; the hub's own, which its core echoes, were told here already. */
  upstreamEvent(topic: string, joined: boolean, session: string, user: string, edge: string): void {
    if (edge === this.hubId) return;
    for (const listener of this.listeners) listener(topic, session, { user, edge }, joined);
  }
}
