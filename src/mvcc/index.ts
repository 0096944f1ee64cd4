/**
 * src/mvcc: etcd's multi-version key space over a Backend: revisions (main, sub), the key index
 * kept in the backend, Range / Put / DeleteRange / Txn / Compact, Hash and HashKV, and the change
 * list of each write (derived in exactly one place). Invariants: revisions grow by one per write
 * that changes something; a write either applies whole or not at all; the current and compacted
 * revisions and the applied Raft index are stored in the same backend transaction as the data.
 */
export type * from './types.js';
export { err } from './types.js';
export { MVCC_TABLES } from './codec.js';
export type { MetaState } from './codec.js';
export { MvccStore, mvccLimits } from './store.js';
export type {
  MvccHistoryQuery, MvccHistoryResult, MvccLimits, MvccOptions, MvccReader, MvccWriter, WriteResult,
} from './store.js';
export {
  estimateRequestBytes, validateDeleteRange, validatePut, validateRange, validateTxn,
} from './validate.js';
export type { ValidationLimits } from './validate.js';
