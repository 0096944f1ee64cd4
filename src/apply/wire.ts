/**
 * The mapping between etcd's wire messages (src/api, proto field names) and the MVCC store's
 * requests and responses (src/mvcc, camelCase). Requests keep only non-default fields, so what
 * goes into the Raft log is small; responses get the full etcd header. One function a message,
 * no logic beyond the mapping.
 */
import * as api from '../api/index.js';
import type * as mvcc from '../mvcc/index.js';
import type * as watch from '../watch/index.js';

const SORT_ORDERS: readonly mvcc.SortOrder[] = ['NONE', 'ASCEND', 'DESCEND'];
const SORT_TARGETS: readonly mvcc.SortTarget[] = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'];
const RESULTS: readonly mvcc.CompareResult[] = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'];
const TARGETS: readonly mvcc.CompareTarget[] = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'];

/** etcd's header: cluster and member ids, the revision the response reflects, the raft term. */
export interface HeaderSource {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  raftTerm(): number;
}

export function header(src: HeaderSource, revision: number): api.ResponseHeader {
  return { cluster_id: src.clusterId, member_id: src.memberId, revision, raft_term: src.raftTerm() };
}

/** Sub-responses inside a txn carry only a revision (etcd 3.4, observed). */
function subHeader(revision: number): api.ResponseHeader {
  return { cluster_id: 0n, member_id: 0n, revision, raft_term: 0 };
}

const nonEmpty = (b: Uint8Array): boolean => b.length > 0;

export function rangeFromWire(w: api.RangeRequest): mvcc.RangeRequest {
  return {
    key: w.key,
    ...(nonEmpty(w.range_end) && { rangeEnd: w.range_end }),
    ...(w.limit !== 0 && { limit: w.limit }),
    ...(w.revision !== 0 && { revision: w.revision }),
    ...(w.sort_order !== 0 && { sortOrder: SORT_ORDERS[w.sort_order] ?? 'NONE' }),
    ...(w.sort_target !== 0 && { sortTarget: SORT_TARGETS[w.sort_target] ?? 'KEY' }),
    ...(w.serializable && { serializable: true }),
    ...(w.keys_only && { keysOnly: true }),
    ...(w.count_only && { countOnly: true }),
    ...(w.min_mod_revision !== 0 && { minModRevision: w.min_mod_revision }),
    ...(w.max_mod_revision !== 0 && { maxModRevision: w.max_mod_revision }),
    ...(w.min_create_revision !== 0 && { minCreateRevision: w.min_create_revision }),
    ...(w.max_create_revision !== 0 && { maxCreateRevision: w.max_create_revision }),
  };
}

export function putFromWire(w: api.PutRequest): mvcc.PutRequest {
  return {
    key: w.key,
    value: w.value,
    ...(w.lease !== 0n && { lease: w.lease }),
    ...(w.prev_kv && { prevKv: true }),
    ...(w.ignore_value && { ignoreValue: true }),
    ...(w.ignore_lease && { ignoreLease: true }),
  };
}

export function deleteRangeFromWire(w: api.DeleteRangeRequest): mvcc.DeleteRangeRequest {
  return {
    key: w.key,
    ...(nonEmpty(w.range_end) && { rangeEnd: w.range_end }),
    ...(w.prev_kv && { prevKv: true }),
  };
}

function compareFromWire(w: api.Compare): mvcc.Compare {
  const target = TARGETS[w.target] ?? 'VERSION';
  return {
    result: RESULTS[w.result] ?? 'EQUAL',
    target,
    key: w.key,
    ...(nonEmpty(w.range_end) && { rangeEnd: w.range_end }),
    ...(target === 'VERSION' && { version: w.version ?? 0 }),
    ...(target === 'CREATE' && { createRevision: w.create_revision ?? 0 }),
    ...(target === 'MOD' && { modRevision: w.mod_revision ?? 0 }),
    ...(target === 'VALUE' && { value: w.value ?? new Uint8Array(0) }),
    ...(target === 'LEASE' && { lease: w.lease ?? 0n }),
  };
}

function opFromWire(w: api.RequestOp): mvcc.RequestOp {
  if (w.request_range !== undefined) return { requestRange: rangeFromWire(w.request_range) };
  if (w.request_put !== undefined) return { requestPut: putFromWire(w.request_put) };
  if (w.request_delete_range !== undefined) {
    return { requestDeleteRange: deleteRangeFromWire(w.request_delete_range) };
  }
  if (w.request_txn !== undefined) return { requestTxn: txnFromWire(w.request_txn) };
  return {};
}

export function txnFromWire(w: api.TxnRequest): mvcc.TxnRequest {
  return {
    compare: w.compare.map(compareFromWire),
    success: w.success.map(opFromWire),
    failure: w.failure.map(opFromWire),
  };
}

export function kvToWire(kv: mvcc.KeyValue): api.KeyValue {
  return {
    key: kv.key, create_revision: kv.createRevision, mod_revision: kv.modRevision,
    version: kv.version, value: kv.value, lease: kv.lease,
  };
}

export function rangeToWire(r: mvcc.RangeResponse, h: api.ResponseHeader): api.RangeResponse {
  return { header: h, kvs: r.kvs.map(kvToWire), more: r.more, count: r.count };
}

export function putToWire(r: mvcc.PutResponse, h: api.ResponseHeader): api.PutResponse {
  return { header: h, ...(r.prevKv !== undefined && { prev_kv: kvToWire(r.prevKv) }) };
}

export function deleteRangeToWire(r: mvcc.DeleteRangeResponse, h: api.ResponseHeader): api.DeleteRangeResponse {
  return { header: h, deleted: r.deleted, prev_kvs: r.prevKvs.map(kvToWire) };
}

function opToWire(r: mvcc.ResponseOp): api.ResponseOp {
  if ('responseRange' in r) {
    return { response_range: rangeToWire(r.responseRange, subHeader(r.responseRange.header.revision)) };
  }
  if ('responsePut' in r) return { response_put: putToWire(r.responsePut, subHeader(r.responsePut.header.revision)) };
  if ('responseDeleteRange' in r) {
    return {
      response_delete_range: deleteRangeToWire(r.responseDeleteRange,
        subHeader(r.responseDeleteRange.header.revision)),
    };
  }
  return { response_txn: txnToWire(r.responseTxn, subHeader(r.responseTxn.header.revision)) };
}

export function txnToWire(r: mvcc.TxnResponse, h: api.ResponseHeader): api.TxnResponse {
  return { header: h, succeeded: r.succeeded, responses: r.responses.map(opToWire) };
}

const FILTERS: readonly ('NOPUT' | 'NODELETE')[] = ['NOPUT', 'NODELETE'];

/** A wire WatchCreateRequest as the watch core takes it (strata's extension fields included). */
export function watchCreateFromWire(w: api.WatchCreateRequest): watch.WatchCreateRequest {
  const filters = w.filters.map((f) => FILTERS[f]).filter((f) => f !== undefined);
  return {
    key: w.key,
    ...(nonEmpty(w.range_end) && { rangeEnd: w.range_end }),
    ...(w.start_revision !== 0 && { startRevision: w.start_revision }),
    ...(w.progress_notify && { progressNotify: true }),
    ...(filters.length > 0 && { filters }),
    ...(w.prev_kv && { prevKv: true }),
    ...(w.watch_id !== 0 && { watchId: w.watch_id }),
    ...(w.fragment && { fragment: true }),
    ...(w.end_revision !== 0 && { endRevision: w.end_revision }),
    ...(w.extra_ranges.length > 0 && {
      extraRanges: w.extra_ranges.map((r) => ({ key: r.key, ...(nonEmpty(r.range_end) && { rangeEnd: r.range_end }) })),
    }),
  };
}

function eventToWire(e: watch.WatchEvent): api.Event {
  return {
    type: e.type === 'PUT' ? 0 : 1,
    kv: kvToWire(e.kv),
    ...(e.prevKv !== undefined && { prev_kv: kvToWire(e.prevKv) }),
  };
}

/**
 * A watch core response on the wire. etcd sends a compaction cancel with a header that has no
 * revision, which the core marks with headerRevision 0.
 */
export function watchResponseToWire(r: watch.WatchResponse, src: HeaderSource): api.WatchResponse {
  return {
    header: header(src, r.headerRevision),
    watch_id: r.watchId,
    created: r.created,
    canceled: r.canceled,
    compact_revision: r.compactRevision,
    cancel_reason: r.cancelReason,
    fragment: r.fragment,
    events: r.events.map(eventToWire),
  };
}
