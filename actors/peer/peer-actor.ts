/**
 * The peer actor: the member's end of the network (DESIGN.md's network actor), on the main thread
 * beside the sockets. Raft sends it every message for another member; it hands them to the
 * transport and tells Raft when one could not go (`raft.unreachable`: the peer is down or too far
 * behind; Raft probes again later). Frames the transport receives come back in through `deliver`:
 * Raft messages go to the raft actor, lease questions from followers to the lease actor (which
 * answers through this actor), answers to this member's questions to the front.
 *
 * Keepalives and time-to-live questions are forwarded to the leader as etcd forwards them: only
 * the leader's lease actor holds deadlines. One that cannot be sent is answered ErrNotPrimary at
 * once (the front reports "no leader" or "not leader"); one whose answer is lost times out in the
 * front.
 *
 * MsgSnap (a follower needs entries the log no longer has) does not travel as a message: the Raft
 * snapshot here carries no data, the keyspace is the member's env. The link streams a copy of the
 * env to the follower on a connection of its own (one at a time per follower) and Raft is told how
 * it went; a failure is logged at most once per SNAPSHOT_WARN_INTERVAL_MS per peer, and Raft
 * tries again.
 */
import { assert, assertNever } from '../../src/base/index.js';
import type { MemberId } from '../../src/base/index.js';
import type { Message } from '../../src/raft/index.js';
import type {
  Actor, ActorContext, Address, LeaseAnswerFrame, LeaseRequestFrame, PeerFrame,
} from '../../src/runtime/index.js';
import type { PeerInbox } from './messages.js';

/** The transport as the actor sees it. */
export interface PeerLink {
  /** Sends `m` to `m.to`; false when it was dropped. */
  send(m: Message): boolean;
  /** Sends a lease frame to `f.to`; false when it was dropped. */
  sendLease(f: LeaseRequestFrame | LeaseAnswerFrame): boolean;
  /** Streams the keyspace to `m.to` as the snapshot `m` names; null once taken, else why not. */
  sendSnapshot(m: Message): Promise<string | null>;
  /** Whether `type` may cross the wire. */
  crossesWire(type: Message['type']): boolean;
}

export interface PeerActorOptions {
  readonly memberId: bigint;
  readonly raftAddress: Address;
  readonly leaseAddress: Address;
  readonly frontAddress: Address;
}

const SNAPSHOT_WARN_INTERVAL_MS = 60_000;

export class PeerActor implements Actor<PeerInbox> {
  readonly #o: PeerActorOptions;
  #link: PeerLink | null = null;
  #ctx: ActorContext<PeerInbox> | null = null;
  readonly #snapshotWarnedAt = new Map<bigint, number>();
  /** Followers a snapshot is being sent to. */
  readonly #sendingSnapshot = new Set<bigint>();

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

  stop(): void {
    this.#ctx = null;
  }

  receive(message: PeerInbox, ctx: ActorContext<PeerInbox>): void {
    switch (message.type) {
      case 'raft.step': {
        const m = message.message;
        const link = this.#link;
        if (link === null) {
          ctx.send(this.#o.raftAddress, { type: 'raft.unreachable', member: m.to });
        } else if (m.type === 'MsgSnap') {
          this.#sendSnapshot(link, m, ctx);
        } else {
          assert(link.crossesWire(m.type), `${m.type} is not sent to peers`);
          if (!link.send(m)) ctx.send(this.#o.raftAddress, { type: 'raft.unreachable', member: m.to });
        }
        break;
      }
      case 'peer.leaseRequest': {
        const sent = this.#link?.sendLease({
          kind: 'leaseRequest', to: message.to as MemberId, from: this.#o.memberId as MemberId,
          requestId: message.requestId, op: message.op, leaseId: message.id, minApplied: message.minApplied,
        }) ?? false;
        if (!sent) {
          ctx.send(this.#o.frontAddress, {
            type: 'front.leaseAnswered', requestId: message.requestId, answer: { ok: false, code: 'ErrNotPrimary' },
          });
        }
        break;
      }
      case 'peer.leaseAnswer':
        // Lost if it cannot go: the asker's front times the question out.
        this.#link?.sendLease({
          kind: 'leaseAnswer', to: message.to as MemberId, from: this.#o.memberId as MemberId,
          requestId: message.requestId, answer: message.answer,
        });
        break;
      default:
        assertNever(message, 'peer message');
    }
  }

  /** A frame from a peer (already validated by the transport). Before start: dropped. */
  deliver(f: PeerFrame<Message>): void {
    const ctx = this.#ctx;
    if (ctx === null) return;
    switch (f.kind) {
      case 'raft':
        ctx.send(this.#o.raftAddress, { type: 'raft.step', message: f.message });
        return;
      case 'leaseRequest':
        ctx.send(this.#o.leaseAddress, {
          type: 'lease.request', requestId: f.requestId, op: f.op, id: f.leaseId, minApplied: f.minApplied,
          replyTo: f.from,
        });
        return;
      case 'leaseAnswer':
        ctx.send(this.#o.frontAddress, { type: 'front.leaseAnswered', requestId: f.requestId, answer: f.answer });
        return;
      default:
        assertNever(f, 'peer frame');
    }
  }

  #sendSnapshot(link: PeerLink, m: Message, ctx: ActorContext<PeerInbox>): void {
    const to = m.to;
    if (this.#sendingSnapshot.has(to)) return;
    this.#sendingSnapshot.add(to);
    ctx.logger.info('sending a snapshot', { peer: to.toString(16), index: m.snapshot?.metadata.index ?? 0 });
    void link.sendSnapshot(m).then((why) => {
      this.#sendingSnapshot.delete(to);
      if (this.#ctx === null) return; // stopped meanwhile
      if (why === null) {
        ctx.logger.info('snapshot sent', { peer: to.toString(16) });
      } else {
        const now = ctx.now();
        const last = this.#snapshotWarnedAt.get(to);
        if (last === undefined || now - last >= SNAPSHOT_WARN_INTERVAL_MS) {
          this.#snapshotWarnedAt.set(to, now);
          ctx.logger.warn('a snapshot did not reach its follower; Raft will try again', { peer: to.toString(16), why });
        }
      }
      ctx.send(this.#o.raftAddress, { type: 'raft.snapshotStatus', member: to, ok: why === null });
    });
  }
}
