/**
 * The lease actor's messages. Its inbox: the replicated lease changes from apply (the stored
 * leases once at start, then every applied batch's lease ops with the applied index), Raft state
 * from raft (who leads), keepalive and time-to-live requests from the front, and its own tick.
 * Its outbox: answers to the front, and revoke / checkpoint proposals to raft.
 */
import type { LeaseOp } from '../../src/apply/index.js';
import type { RoleName } from '../../src/raft/index.js';

/** A stored lease as apply loaded it at start (plain data; src/lease's LeaseRecord shape). */
export interface RestoredLease {
  readonly id: bigint;
  readonly ttlSeconds: number;
  readonly remainingTtlSeconds: number;
}

/**
 * What a front request gets back. `ttlSeconds` is the renewed TTL (keepalive; 0 = lease gone)
 * or the remaining whole seconds (time-to-live; -1 = lease gone). ErrNotPrimary: this member
 * does not lead, so it cannot answer (followers forward in etcd; see lease-actor.ts).
 */
export type LeaseAnswer =
  | { readonly ok: true; readonly ttlSeconds: number; readonly grantedTtlSeconds: number }
  | { readonly ok: false; readonly code: 'ErrNotPrimary' | 'ErrTooManyRequests' };

export type LeaseInbox =
  /** Apply, once at start: every stored lease and the applied index they reflect. */
  | {
    readonly type: 'lease.restored'; readonly appliedIndex: number;
    readonly leases: readonly RestoredLease[];
  }
  /** Apply, after every written batch (even one with no lease ops: the index gates requests). */
  | { readonly type: 'lease.applied'; readonly appliedIndex: number; readonly ops: readonly LeaseOp[] }
  /** Raft, whenever its state changes (the same facts front.raftState carries). */
  | {
    readonly type: 'lease.raftState'; readonly term: number; readonly leader: bigint;
    readonly role: RoleName; readonly commit: number; readonly lastIndex: number;
  }
  /**
   * Front: keepalive (`renew`) or time-to-live of lease `id`, answered once this actor has seen
   * every batch up to `minApplied` (the front's applied index when the client asked), so a
   * client that saw its grant answered never finds the lease missing here.
   */
  | {
    readonly type: 'lease.request'; readonly requestId: number; readonly op: 'renew' | 'timeToLive';
    readonly id: bigint; readonly minApplied: number;
    /** Set when another member's front asked (forwarded by the peer actors): answer it there. */
    readonly replyTo?: bigint;
  }
  | { readonly type: 'lease.tick' };

export type LeaseOutbox =
  | { readonly type: 'front.leaseAnswered'; readonly requestId: number; readonly answer: LeaseAnswer }
  | { readonly type: 'peer.leaseAnswer'; readonly to: bigint; readonly requestId: number; readonly answer: LeaseAnswer }
  | { readonly type: 'raft.propose'; readonly ids: readonly number[]; readonly data: readonly Uint8Array[] };
