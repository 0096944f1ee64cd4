/**
 * The peer actor: the member's end of the network (DESIGN.md's network actor), on the main thread
 * beside the sockets. Raft sends it every message for another member; it hands them to the
 * transport and tells Raft when one could not go (`raft.unreachable`: the peer is down or too far
 * behind; Raft probes again later). Messages the transport receives come back in through
 * `deliver` and go to the raft actor.
 *
 * MsgSnap is never sent: snapshot transfer (a copy of the member's env) is not built, and a Raft
 * snapshot here carries no data. Raft is told the snapshot failed, so it keeps the follower
 * probing; the refusal is logged at most once per SNAPSHOT_WARN_INTERVAL_MS per peer.
 */
import { assert, assertNever } from '../../src/base/index.js';
import type { Message } from '../../src/raft/index.js';
import type { Actor, ActorContext, Address } from '../../src/runtime/index.js';
import type { PeerInbox } from './messages.js';

/** The transport as the actor sees it. */
export interface PeerLink {
  /** Sends `m` to `m.to`; false when it was dropped. */
  send(m: Message): boolean;
  /** Whether `type` may cross the wire. */
  crossesWire(type: Message['type']): boolean;
}

export interface PeerActorOptions {
  readonly raftAddress: Address;
}

const SNAPSHOT_WARN_INTERVAL_MS = 60_000;

export class PeerActor implements Actor<PeerInbox> {
  readonly #o: PeerActorOptions;
  #link: PeerLink | null = null;
  #ctx: ActorContext<PeerInbox> | null = null;
  readonly #snapshotWarnedAt = new Map<bigint, number>();

  constructor(options: PeerActorOptions) {
    this.#o = options;
  }

  /** Binds the transport (it is started after the actor is built: it delivers into it). */
  attach(link: PeerLink): void {
    assert(this.#link === null, 'peer link attached once');
    this.#link = link;
  }

  start(ctx: ActorContext<PeerInbox>): void {
    this.#ctx = ctx;
  }

  receive(message: PeerInbox, ctx: ActorContext<PeerInbox>): void {
    switch (message.type) {
      case 'raft.step': {
        const m = message.message;
        const link = this.#link;
        if (link === null) {
          ctx.send(this.#o.raftAddress, { type: 'raft.unreachable', member: m.to });
        } else if (m.type === 'MsgSnap') {
          this.#refuseSnapshot(m.to, ctx);
        } else {
          assert(link.crossesWire(m.type), `${m.type} is not sent to peers`);
          if (!link.send(m)) ctx.send(this.#o.raftAddress, { type: 'raft.unreachable', member: m.to });
        }
        break;
      }
      default:
        assertNever(message.type, 'peer message');
    }
  }

  /** A message from a peer (already validated by the transport). Before start: dropped. */
  deliver(m: Message): void {
    this.#ctx?.send(this.#o.raftAddress, { type: 'raft.step', message: m });
  }

  #refuseSnapshot(to: bigint, ctx: ActorContext<PeerInbox>): void {
    const now = ctx.now();
    const last = this.#snapshotWarnedAt.get(to);
    if (last === undefined || now - last >= SNAPSHOT_WARN_INTERVAL_MS) {
      this.#snapshotWarnedAt.set(to, now);
      ctx.logger.warn('a follower needs a snapshot, which cannot be sent yet (snapshot transfer is not built); it stays behind',
        { peer: to.toString(16) });
    }
    ctx.send(this.#o.raftAddress, { type: 'raft.snapshotFailed', member: to });
  }
}
