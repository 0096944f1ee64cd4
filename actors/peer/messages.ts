/**
 * The peer actor's messages. Its inbox: Raft messages for other members, from the raft actor. Its
 * outbox: Raft messages from other members, and reports of ones that could not be sent, to the
 * raft actor.
 */
import type { Message as RaftMessage } from '../../src/raft/index.js';

export type PeerInbox = { readonly type: 'raft.step'; readonly message: RaftMessage };

export type PeerOutbox =
  | { readonly type: 'raft.step'; readonly message: RaftMessage }
  | { readonly type: 'raft.unreachable'; readonly member: bigint }
  | { readonly type: 'raft.snapshotFailed'; readonly member: bigint };
