/**
 * The plain data that crosses the lease core's edges: the persisted form of a lease, the
 * commands the leader asks to have proposed through Raft, the writes the apply side must make
 * durable, and the expected failures (etcd's sentinels, by name).
 */
import type { LeaseId } from '../base/index.js';

/**
 * A lease as it is persisted in the `mvcc` env (etcd's leasepb.Lease): what every member
 * agrees on because it was applied from the Raft log. Attached keys are not part of it: a key's
 * lease is stored on the key itself (KeyValue.lease), so after a restart the apply side
 * re-attaches each key it loads, exactly as etcd rebuilds its itemSet from mvcc. Storing the
 * key list twice would give two sources of truth that a crash between writes could split.
 */
export interface LeaseRecord {
  readonly id: LeaseId;
  /** Granted TTL in seconds, after the minimum-TTL clamp. */
  readonly ttlSeconds: number;
  /** Remaining TTL from the last checkpoint, or 0 when none is in force. */
  readonly remainingTtlSeconds: number;
}

/** A lease with its attached keys, for TimeToLive and snapshots (a copy; safe to keep). */
export interface LeaseView extends LeaseRecord {
  /** Attached keys in ascending byte order. */
  readonly keys: readonly Uint8Array[];
}

/** One remaining-TTL checkpoint (etcd LeaseCheckpoint). */
export interface LeaseCheckpoint {
  readonly id: LeaseId;
  readonly remainingTtlSeconds: number;
}

/**
 * What the leader's lease core asks to have proposed through Raft. Nothing happens until the
 * proposal commits and its apply calls `Lessor.revoke` / `Lessor.checkpoint` on every member.
 */
export type LeaseCommand =
  | { readonly type: 'revoke'; readonly id: LeaseId }
  | ({ readonly type: 'checkpoint' } & LeaseCheckpoint);

/**
 * A change the apply side must write to the `mvcc` env in the same write transaction as the
 * rest of the entry (the lease core does no I/O; see `LeaseStore`).
 */
export type LeaseWrite =
  | { readonly type: 'put'; readonly record: LeaseRecord }
  | { readonly type: 'delete'; readonly id: LeaseId };

/**
 * The storage the lease core's consumer provides for leases (the consumer owns the interface it
 * needs; the lease core only describes it). `load` is called on startup and after a snapshot is
 * installed; `put` and `delete` run inside the apply side's write transaction.
 */
export interface LeaseStore {
  /** Every persisted lease, in any order. Records are copies the caller may keep. */
  load(): LeaseRecord[];
  put(record: LeaseRecord): void;
  delete(id: LeaseId): void;
}

/** Applies `writes` to `store`, in order. */
export function writeLeases(store: LeaseStore, writes: readonly LeaseWrite[]): void {
  for (const w of writes) {
    if (w.type === 'put') store.put(w.record);
    else store.delete(w.id);
  }
}

/**
 * Expected failures, named after etcd's sentinels (server/lease/lessor.go and
 * api/v3rpc/rpctypes): the wire catalog maps them to etcd's exact strings.
 * - ErrLeaseNotFound: "etcdserver: requested lease not found"
 * - ErrLeaseExist: "etcdserver: lease already exists"
 * - ErrLeaseTTLTooLarge: "etcdserver: too large lease TTL"
 * - ErrNotPrimary: this member is not the leader; the request must go to the leader
 *   ("etcdserver: not primary" in etcd, normally forwarded, never shown to clients)
 * - ErrLeaseExpired: renew of a lease whose deadline passed and whose revoke is pending. etcd
 *   blocks the keepalive until the revoke applies (then answers TTL 0) or leadership is lost
 *   (then ErrNotPrimary); the actor does that waiting, the core only reports the state.
 */
export type LeaseErrorCode =
  | 'ErrLeaseNotFound'
  | 'ErrLeaseExist'
  | 'ErrLeaseTTLTooLarge'
  | 'ErrNotPrimary'
  | 'ErrLeaseExpired';

export interface LeaseFailure<C extends LeaseErrorCode> {
  readonly ok: false;
  readonly code: C;
}
