/**
 * The peer actor's messages. Its inbox: Raft messages for other members (from raft), lease
 * questions for the leader (from the front) and answers to other members' questions (from the
 * lease actor). Its outbox: what other members sent, each to the actor it is for, and reports of
 * Raft messages that could not be sent.
 */
import type { Message as RaftMessage } from '../../src/raft/index.js';
import type { LeaseAnswer } from '../lease/messages.js';

export type PeerInbox =
  | { readonly type: 'raft.step'; readonly message: RaftMessage }
  /** Front: a keepalive or time-to-live question for the leader `to` (etcd forwards these). */
  | {
    readonly type: 'peer.leaseRequest'; readonly to: bigint; readonly requestId: number;
    readonly op: 'renew' | 'timeToLive'; readonly id: bigint; readonly minApplied: number;
  }
  /** Lease actor: the answer to member `to`'s question. */
  | { readonly type: 'peer.leaseAnswer'; readonly to: bigint; readonly requestId: number; readonly answer: LeaseAnswer };

export type PeerOutbox =
  | { readonly type: 'raft.step'; readonly message: RaftMessage }
  | { readonly type: 'raft.unreachable'; readonly member: bigint }
  | { readonly type: 'raft.snapshotStatus'; readonly member: bigint; readonly ok: boolean }
  | {
    readonly type: 'lease.request'; readonly requestId: number; readonly op: 'renew' | 'timeToLive';
    readonly id: bigint; readonly minApplied: number; readonly replyTo: bigint;
  }
  | { readonly type: 'front.leaseAnswered'; readonly requestId: number; readonly answer: LeaseAnswer };
