/**
 * The front's inbox: what raft and apply tell it. The front lives on the main thread next to the
 * gRPC server; client calls reach it as method calls, and it reaches raft only by messages.
 */
import type { AlarmMember, ApplyResult } from '../../src/apply/index.js';
import type { StoredMember } from '../../src/mvcc/index.js';
import type { RoleName } from '../../src/raft/index.js';
import type { LeaseAnswer } from '../lease/messages.js';
import type { WatchResponse } from '../../src/watch/index.js';

export type FrontInbox =
  | {
    readonly type: 'front.applied'; readonly appliedIndex: number; readonly revision: number;
    readonly compacted: number; readonly results: readonly ApplyResult[];
    /**
     * The commonest result flat, `[id, revision, id, revision, ...]`: a put that succeeded and
     * asked for no prev_kv (a structured clone of two numbers instead of four small objects).
     */
    readonly puts: readonly number[];
    readonly alarms: readonly AlarmMember[];
    /** Keys put and keys deleted by the batch (etcd_mvcc_put_total / etcd_mvcc_delete_total). */
    readonly putEvents?: number;
    readonly deleteEvents?: number;
    /** The member table, when the batch changed it. */
    readonly members?: readonly StoredMember[];
  }
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
  | { readonly type: 'front.watchResponses'; readonly streamId: number; readonly responses: readonly WatchResponse[] }
  | { readonly type: 'front.leaseAnswered'; readonly requestId: number; readonly answer: LeaseAnswer }
  | { readonly type: 'front.sweep' };
