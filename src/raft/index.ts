/**
 * src/raft: Raft as a pure state machine (etcd-io/raft's design). A shell drives a RawNode with
 * tick(), step(message), propose(...), readIndex(...) and transferLeader(...), drains ready()
 * and acknowledges each Ready with advance(); the Ready doc comment states the persistence
 * order. The core reads its log through RaftStorageReader and never writes: the shell persists
 * each Ready through RaftStorageWriter. Invariants asserted throughout: terms never go back,
 * committed entries are never rewritten, applied <= committed <= last index, every queue is
 * bounded (in-flight appends per follower, read rounds, uncommitted bytes).
 */
export type {
  ConfChange, ConfChangeType, ConfState, Entry, EntryType, HardState, Message, MessageType, Ready,
  ReadState, RoleName, Snapshot, SnapshotMetadata, SoftState, StepErrorCode, StepResult,
} from './types.js';
export { NONE, STEP_OK } from './types.js';
export type { RaftConfig, ResolvedRaftConfig } from './config.js';
export { RAFT_DEFAULTS, RaftConfigError, resolveRaftConfig } from './config.js';
export type {
  InitialState, PersistBatch, RaftStorage, RaftStorageReader, RaftStorageWriter, StorageError,
} from './storage.js';
export {
  EMPTY_HARD_STATE, ENTRY_OVERHEAD_BYTES, MemoryRaftStorage, assertContiguous, emptySnapshot,
  entrySize, limitSize,
} from './storage.js';
export { CONF_CHANGE_BYTES, decodeConfChange, encodeConfChange } from './conf-change.js';
export { RaftLog } from './log.js';
export { Inflights, Progress, ProgressTracker } from './progress.js';
export type { ProgressState } from './progress.js';
export { CAMPAIGN_TRANSFER, PENDING_READS_MAX, READ_ROUNDS_MAX, Raft, message } from './raft.js';
export type { MessageFields } from './raft.js';
export { RawNode, mustSync } from './raw-node.js';
export type { RaftStatus } from './raw-node.js';
export {
  describeEntries, describeEntry, describeHardState, describeMessage, describeReady,
  describeSnapshot, describeSoftState,
} from './describe.js';
