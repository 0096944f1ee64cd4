/**
 * The raft actor's messages. Its inbox: proposals and read-index requests from the front,
 * Raft messages from peers, its own tick and persistence notices, and the applied index from
 * apply. Its outbox: committed entries to apply, read indexes, dropped proposals and Raft state
 * to the front, Raft messages to peers.
 */
import type { ConfChange, Entry, Message as RaftMessage, RoleName } from '../../src/raft/index.js';

export type RaftInbox =
  /** Client writes, already encoded as Proposals; `ids` name them for a refusal. */
  | { readonly type: 'raft.propose'; readonly ids: readonly number[]; readonly data: readonly Uint8Array[] }
  /** A linearizable read barrier: answered with front.readIndexed once leadership is confirmed. */
  | { readonly type: 'raft.readIndex'; readonly readId: number }
  /** A Raft message from a peer. */
  | { readonly type: 'raft.step'; readonly message: RaftMessage }
  /** Hand leadership to `transferee` (Maintenance.MoveLeader). */
  | { readonly type: 'raft.transferLeader'; readonly transferee: bigint }
  /** Membership changes apply accepted, in log order: Raft's configuration follows them. */
  | { readonly type: 'raft.confChanged'; readonly changes: readonly ConfChange[] }
  /** Propose a membership change (its context says who answers); refused: front.proposalsDropped. */
  | { readonly type: 'raft.proposeConfChange'; readonly id: number; readonly change: ConfChange }
  /** Apply made entries up to `index` durable in the mvcc env: the log below may be compacted. */
  | { readonly type: 'raft.applied'; readonly index: number }
  | { readonly type: 'raft.tick' }
  /** To itself: propose what raft.propose messages gathered since the last flush. */
  | { readonly type: 'raft.flushProposals' }
  | { readonly type: 'raft.persisted'; readonly seq: number }
  /** The peer actor could not send to `member` (down, or too far behind): Raft probes it again. */
  | { readonly type: 'raft.unreachable'; readonly member: bigint }
  /** The peer actor sent a snapshot to `member` (ok), or could not. */
  | { readonly type: 'raft.snapshotStatus'; readonly member: bigint; readonly ok: boolean };

export type RaftOutbox =
  | { readonly type: 'apply.committed'; readonly entries: readonly Entry[] }
  | { readonly type: 'front.readIndexed'; readonly readId: number; readonly index: number }
  | { readonly type: 'front.readFailed'; readonly readId: number; readonly code: 'ErrNoLeader' }
  | { readonly type: 'front.proposalsDropped'; readonly ids: readonly number[]; readonly code: 'ErrNoLeader' | 'ErrTooManyRequests' }
  | {
    readonly type: 'front.raftState'; readonly term: number; readonly leader: bigint;
    readonly role: RoleName; readonly commit: number; readonly lastIndex: number;
    /** Leading with learners: their match and the leader's own (MemberPromote readiness). */
    readonly learners?: {
      readonly leaderMatch: number; readonly learners: ReadonlyArray<readonly [bigint, number]>;
    };
  }
  | { readonly type: 'raft.step'; readonly message: RaftMessage }
  | {
    readonly type: 'lease.raftState'; readonly term: number; readonly leader: bigint;
    readonly role: RoleName; readonly commit: number; readonly lastIndex: number;
  };
