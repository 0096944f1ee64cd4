/**
 * src/apply: committed Raft entries become MVCC operations, and wire messages become store
 * requests. Owns the Proposal format (what a Raft entry carries), the Applier (one backend
 * transaction per batch, applied index stored with the data, physical compaction in slices,
 * alarms) and the wire <-> store mapping. Invariant: every member applies the same entries to the
 * same results; only the proposing member answers a client.
 */
export { Applier, storedAlarms } from './applier.js';
export type {
  AlarmMember, AppliedBatch, ApplyResult, CommandResponse, CommittedEntry, LeaseOp,
} from './applier.js';
export { decodeProposal, encodeProposal } from './proposal.js';
export type { AlarmKind, Command, LeaseCheckpointData, Proposal } from './proposal.js';
export {
  deleteRangeFromWire, deleteRangeToWire, header, kvToWire, putFromWire, putToWire,
  rangeFromWire, rangeToWire, txnFromWire, txnToWire, watchCreateFromWire, watchResponseToWire,
} from './wire.js';
export type { HeaderSource } from './wire.js';
export {
  LEARNERS_MAX, changedMember, checkMemberChange, confStateOf, currentMembers, decodeMemberContext,
  encodeMemberContext, readyToAddVoter, readyToRemoveVoter, withMember,
} from './membership.js';
export type { MemberChangeError, MemberContext } from './membership.js';
export { Compactor, REVISION_COMPACT_INTERVAL_MS } from './compactor.js';
export type { CompactionMode } from './compactor.js';
