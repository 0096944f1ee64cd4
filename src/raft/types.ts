/**
 * The data Raft exchanges: log entries, messages, hard and soft state, snapshots and the Ready
 * batch. Everything here is plain data (no classes, no functions) so it can cross threads by
 * structured clone and be msgpack-encoded for the peer transport unchanged.
 *
 * Indexes and terms are numbers (safe integers, asserted where they enter the core); member ids
 * are 64-bit bigints as in etcd. Index 0 / term 0 mean "before the first entry"; member id 0n
 * means "nobody" (NONE).
 */
import type { MemberId } from '../base/index.js';

/** Member id 0 means "no member": no leader known, no vote cast. */
export const NONE = 0n as MemberId;

export type EntryType = 'normal' | 'confChange';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** Owned by the entry: whoever builds one hands its bytes over and never mutates them. */
  readonly data: Uint8Array;
}

/** What a Raft member must persist before it answers: its term, its vote, the commit index. */
export interface HardState {
  readonly term: number;
  readonly vote: MemberId;
  readonly commit: number;
}

export type RoleName = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** Volatile state worth reporting to the shell when it changes (leader, role). */
export interface SoftState {
  readonly lead: MemberId;
  readonly role: RoleName;
}

/** The membership: voters decide elections and commits, learners only receive the log. */
export interface ConfState {
  readonly voters: readonly MemberId[];
  readonly learners: readonly MemberId[];
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The application's state at metadata.index, opaque to Raft. */
  readonly data: Uint8Array;
}

/**
 * One membership change at a time (Raft paper section 6, single-server changes): add a voter,
 * add a learner, promote a learner (addNode on an existing learner), or remove a member.
 * `updateNode` (etcd's ConfChangeUpdateNode: a member's peer URLs change) travels the same way
 * and changes nothing in Raft.
 */
export type ConfChangeType = 'addNode' | 'addLearner' | 'removeNode' | 'updateNode';

export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: MemberId;
  /** The application's description of the change (etcd: the member as JSON); Raft ignores it. */
  readonly context?: Uint8Array;
}

export type MessageType =
  /** Local: start an election now (the election timer fired). */
  | 'MsgHup'
  /** Local to the leader: send heartbeats now. */
  | 'MsgBeat'
  /** Local to the leader: check that a quorum was active during the last election timeout. */
  | 'MsgCheckQuorum'
  /** A proposal: entries to append; followers forward it to the leader. */
  | 'MsgProp'
  | 'MsgApp'
  | 'MsgAppResp'
  | 'MsgVote'
  | 'MsgVoteResp'
  | 'MsgPreVote'
  | 'MsgPreVoteResp'
  | 'MsgSnap'
  | 'MsgHeartbeat'
  | 'MsgHeartbeatResp'
  /** Local to the leader: the transport could not reach `from`. */
  | 'MsgUnreachable'
  /** Local to the leader: a snapshot to `from` was delivered (reject = false) or failed. */
  | 'MsgSnapStatus'
  /** Ask the leader to hand leadership to `from`. */
  | 'MsgTransferLeader'
  /** From the leader to the transferee: campaign now, skipping PreVote and leases. */
  | 'MsgTimeoutNow'
  /** A linearizable read: context is the caller's request id. */
  | 'MsgReadIndex'
  | 'MsgReadIndexResp';

/**
 * A Raft message. Every field is always present (like etcd's protobuf message) so messages have
 * one shape; fields that a type does not use hold 0, false, [] or null.
 */
export interface Message {
  readonly type: MessageType;
  readonly to: MemberId;
  readonly from: MemberId;
  readonly term: number;
  /** MsgApp: term of the entry at `index`. MsgAppResp reject: term of the hint. Votes: last log term. */
  readonly logTerm: number;
  /** MsgApp: index preceding `entries`. MsgAppResp: last index matched (or rejected). Votes: last index. */
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly snapshot: Snapshot | null;
  /** Heartbeats: the ReadIndex round. MsgReadIndex(Resp): the request id. Votes: 'transfer' flag. */
  readonly context: Uint8Array | null;
}

/** A ReadIndex result: the read identified by requestCtx may be served once applied >= index. */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

/**
 * Ready: everything the core wants done, handed out by RawNode.ready() and acknowledged by
 * RawNode.advance(ready). The shell must handle it in this order:
 *
 * 1. `messages` may be sent at once, in parallel with step 2: they promise nothing about this
 *    member's disk (a leader's appends and heartbeats; the leader counts its own copy of an entry
 *    only after advance() reports it durable, so a commit always rests on durable copies).
 * 2. Persist, durably (fsync), in one atomic write: `snapshot` (if any), then `entries`
 *    (replacing any stored suffix from the first entry's index on), then `hardState` (if any).
 *    Many proposals arrive in one Ready, so one fsync covers them all (group commit).
 * 3. Only then send `messagesAfterPersist`: votes, vote grants and append acknowledgements, each
 *    a promise that rests on the term, vote and log just persisted.
 * 4. Apply `committedEntries` in order (they may include entries persisted in step 2; never
 *    acknowledge a commit to a client before step 2 finished). Call applyConfChange() for each
 *    confChange entry as it is applied. Serve `readStates` once applied reaches their index.
 * 5. Call advance(ready). Step and tick may be called at any time in between; ready() may not be
 *    called again before advance().
 */
export interface Ready {
  /** Present only when it changed since the previous Ready. */
  readonly softState: SoftState | null;
  /** Present only when it changed since the previous Ready. */
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | null;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly messagesAfterPersist: readonly Message[];
  readonly readStates: readonly ReadState[];
}

/** Expected outcomes of a proposal (returned as values, never thrown). */
export type StepResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: StepErrorCode; readonly why: string };

export type StepErrorCode = 'ErrProposalDropped' | 'ErrStepPeerNotFound' | 'ErrStepLocalMsg';

export const STEP_OK: StepResult = { ok: true };
