/**
 * Named limits. Every queue, batch and buffer in strata has a maximum, and it is named here (or
 * next to the one structure it bounds, referring to this file). Defaults follow etcd 3.4.
 */
export const limits = {
  /** etcd --max-request-bytes default: 1.5 MiB. */
  requestBytesMax: 1.5 * 1024 * 1024,
  /** etcd --max-txn-ops default. */
  txnOpsMax: 128,
  /** etcd --quota-backend-bytes default: 2 GiB. */
  backendQuotaBytes: 2 * 1024 * 1024 * 1024,
  /** gRPC receive limit on top of the request limit, as etcd adds for envelope overhead. */
  grpcOverheadBytes: 512 * 1024,
  /** Messages an actor mailbox holds before its sender is told to back off. */
  mailboxDepthMax: 65_536,
  /** Messages batched into one cross-thread postMessage. */
  crossThreadBatchMax: 256,
  /** Raft entries appended or sent in one message. */
  raftEntriesPerMessageMax: 256,
  /** Raft messages in flight to one follower in replicate state. */
  raftInflightMessagesMax: 256,
  /** Proposals buffered by the raft actor before it refuses more. */
  raftPendingProposalsMax: 4_096,
  /** Watch events in one WatchResponse before the rest go in the next one. */
  watchEventsPerResponseMax: 1_000,
  /** Leases revoked per second at most by the leader on expiry. */
  leaseRevokesPerSecondMax: 1_000,
  /** Revision records examined per compaction slice (the MVCC store's default). */
  compactionSliceRevisions: 10_000,
} as const;

export type Limits = typeof limits;
