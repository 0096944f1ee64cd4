/**
 * The apply actor's messages. Its inbox: committed entries from raft, in order, and its own
 * notices that a batch was written. Its outbox: results and the applied index to the front, the
 * durable applied index to raft, each revision's change list to the watch hub.
 */
import type { AlarmMember, ApplyResult, LeaseOp } from '../../src/apply/index.js';
import type { RestoredLease } from '../lease/messages.js';
import type { ChangeSet, StoredMember } from '../../src/mvcc/index.js';
import type { ConfChange, Entry } from '../../src/raft/index.js';

export type ApplyInbox =
  | { readonly type: 'apply.committed'; readonly entries: readonly Entry[] }
  | { readonly type: 'apply.written'; readonly seq: number }
  | { readonly type: 'apply.compactStep' };

export type ApplyOutbox =
  | {
    readonly type: 'front.applied'; readonly appliedIndex: number; readonly revision: number;
    readonly compacted: number; readonly results: readonly ApplyResult[];
    readonly alarms: readonly AlarmMember[];
    /** The member table, when the batch changed it. */
    readonly members?: readonly StoredMember[];
  }
  | { readonly type: 'raft.applied'; readonly index: number }
  | { readonly type: 'raft.confChanged'; readonly changes: readonly ConfChange[] }
  | { readonly type: 'watch.committed'; readonly changes: readonly ChangeSet[]; readonly revision: number }
  | {
    readonly type: 'lease.restored'; readonly appliedIndex: number;
    readonly leases: readonly RestoredLease[];
  }
  | { readonly type: 'lease.applied'; readonly appliedIndex: number; readonly ops: readonly LeaseOp[] };
