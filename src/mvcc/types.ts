/**
 * Requests and responses of the MVCC store, mirroring etcd's protobuf messages field by field
 * (camelCase), so the server maps protobuf <-> these directly. Keys and values are Uint8Array,
 * revisions and versions are numbers (safe to 2^53), lease ids are bigint. Responses carry only
 * the header revision; the server adds cluster id, member id and raft term.
 */

/** etcd's sentinel names; src/api/errors.ts maps them to wire errors. */
export type MvccErrorCode =
  | 'ErrCompacted' | 'ErrFutureRev' | 'ErrLeaseNotFound' | 'ErrKeyNotFound' | 'ErrDuplicateKey'
  | 'ErrTooManyOps' | 'ErrEmptyKey' | 'ErrValueProvided' | 'ErrLeaseProvided'
  | 'ErrRequestTooLarge';

export type MvccError = { readonly ok: false; readonly code: MvccErrorCode };
export type Result<T> = ({ readonly ok: true } & T) | MvccError;

export const err = (code: MvccErrorCode): MvccError => ({ ok: false, code });

export interface MvccHeader {
  /** Store revision relevant to the response (etcd §4.12); 0 in a nested TxnResponse. */
  readonly revision: number;
}

export interface KeyValue {
  readonly key: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly value: Uint8Array;
  readonly lease: bigint;
}

export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND';
export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

export interface RangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly limit?: number;
  readonly revision?: number;
  readonly sortOrder?: SortOrder;
  readonly sortTarget?: SortTarget;
  readonly serializable?: boolean;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
  readonly minModRevision?: number;
  readonly maxModRevision?: number;
  readonly minCreateRevision?: number;
  readonly maxCreateRevision?: number;
}

export interface RangeResponse {
  readonly header: MvccHeader;
  readonly kvs: KeyValue[];
  readonly more: boolean;
  readonly count: number;
}

export interface PutRequest {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  readonly lease?: bigint;
  readonly prevKv?: boolean;
  readonly ignoreValue?: boolean;
  readonly ignoreLease?: boolean;
}

export interface PutResponse {
  readonly header: MvccHeader;
  readonly prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly prevKv?: boolean;
}

export interface DeleteRangeResponse {
  readonly header: MvccHeader;
  readonly deleted: number;
  readonly prevKvs: KeyValue[];
}

export type CompareResult = 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL';
export type CompareTarget = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';

/** The operand oneof is flattened: the field named by `target` is read, absent means 0/empty. */
export interface Compare {
  readonly result: CompareResult;
  readonly target: CompareTarget;
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  readonly version?: number;
  readonly createRevision?: number;
  readonly modRevision?: number;
  readonly value?: Uint8Array;
  readonly lease?: bigint;
}

/** RequestOp's oneof; an op with none set is etcd's "key not found" quirk. */
export interface RequestOp {
  readonly requestRange?: RangeRequest;
  readonly requestPut?: PutRequest;
  readonly requestDeleteRange?: DeleteRangeRequest;
  readonly requestTxn?: TxnRequest;
}

export type ResponseOp =
  | { readonly responseRange: RangeResponse }
  | { readonly responsePut: PutResponse }
  | { readonly responseDeleteRange: DeleteRangeResponse }
  | { readonly responseTxn: TxnResponse };

export interface TxnRequest {
  readonly compare?: readonly Compare[];
  readonly success?: readonly RequestOp[];
  readonly failure?: readonly RequestOp[];
}

export interface TxnResponse {
  readonly header: MvccHeader;
  readonly succeeded: boolean;
  readonly responses: ResponseOp[];
}

export interface CompactionRequest {
  readonly revision: number;
  readonly physical?: boolean;
}

export interface CompactionResponse {
  readonly header: MvccHeader;
}

export interface HashKVResponse {
  readonly header: MvccHeader;
  readonly hash: number;
  /** Compaction revision when hashing began, -1 if never compacted. */
  readonly compactRevision: number;
  readonly hashRevision: number;
}

export interface HashResponse {
  readonly header: MvccHeader;
  readonly hash: number;
}

/** One change of a write: DELETE events carry only key and modRevision (the deletion revision). */
export interface MvccEvent {
  readonly type: 'PUT' | 'DELETE';
  readonly kv: KeyValue;
  /** The key's value before the change, always filled when the key existed (watchers may drop it). */
  readonly prevKv?: KeyValue;
}

/** The change list of one revision: every event of one Put / DeleteRange / Txn, in sub order. */
export interface ChangeSet {
  readonly revision: number;
  readonly events: readonly MvccEvent[];
}

/** The consumer-owned lease check Put needs (src/lease implements it; mvcc never imports lease). */
export interface LeaseChecker {
  exists(id: bigint): boolean;
}

/**
 * A lease as persisted in the `leases` table (src/lease's LeaseRecord has this shape). The store
 * only keeps these records so they commit in the same write transaction as the batch that
 * changed them; what they mean is the lease subsystem's business.
 */
export interface StoredLease {
  readonly id: bigint;
  readonly ttlSeconds: number;
  readonly remainingTtlSeconds: number;
}

/** A raised alarm as persisted in the `alarms` table; apply decides what the names mean. */
export interface StoredAlarm {
  readonly memberId: bigint;
  readonly alarm: string;
}

/**
 * A cluster member as persisted in the meta table (written by apply as membership changes
 * commit, so a snapshot of the env carries the membership). Removed members stay, marked, so
 * their ids are never taken again (etcd's members_removed).
 */
export interface StoredMember {
  readonly id: bigint;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
  readonly removed: boolean;
}
