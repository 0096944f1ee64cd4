/**
 * MvccStore: etcd's multi-version key space over a Backend. Every change gets a revision, stored
 * as one record keyed by revision (codec.ts); the key index (key -> its revisions) lives in
 * memory, derived from those records and shared by the stores of one thread (key-index.ts), as
 * etcd keeps its treeIndex beside the key bucket. Another thread with its own Backend on the same
 * env catches its index up from the records a read sees.
 *
 * Writes: `write(fn, { appliedIndex })` runs `fn` inside ONE backend write transaction. Each
 * Put / DeleteRange / Txn inside it is one etcd write: it either changes at least one key and
 * takes the next revision, or changes nothing. Its events are derived in exactly one place,
 * `Writer.endRevision`, into a ChangeSet; the promise resolves with all ChangeSets of the batch,
 * in revision order, once the backend says the transaction is committed and durable. The current
 * revision, the compaction state and the applied Raft index are stored in the same transaction.
 * Txns are evaluated, then executed: compares (nested ones too) and pre-checks run against the
 * state before the txn, so a Txn that fails writes nothing.
 *
 * Reads: `read(fn)` (or `range(req)`) opens a consistent read view that never blocks the writer.
 *
 * Expected failures are values ({ ok: false, code }); assertions are programmer errors.
 */
import { assert, bytesEqual, compareBytes, copyBytes, limits, prefixEnd, utf8 } from '../base/index.js';
import type { Backend, ReadTxn, WriteTxn } from '../backend/index.js';
import { backendLimits } from '../backend/index.js';
import {
  decodeKv, decodeMeta, INITIAL_META, encodeKv, encodeMeta, encodeTombstone, indexKeyOf,
  PRESENT_MARK, ownBytes, leaseKey, leasePrefix, META_KEY, revKey, revKeyMain, revKeyScratch,
  revKeySub, TABLES, decodePutOwned,
  decodeLeaseRecord, encodeLeaseRecord, leaseRecordKey, alarmKey, decodeAlarmKey,
  decodeMemberRecord, encodeMemberRecord, memberKey, MEMBER_PREFIX,
} from './codec.js';
import type { MetaState } from './codec.js';
import { crc32c } from '../base/index.js';
import { dropKeyIndex, keyIndexOf } from './key-index.js';
import type { Found, KeyHistory, KeyIndex } from './key-index.js';
import {
  validateDeleteRange, validatePut, validateRange, validateSize, validateTxn,
} from './validate.js';
import { err } from './types.js';
import type {
  ChangeSet, Compare, CompactionRequest, CompactionResponse, DeleteRangeRequest,
  DeleteRangeResponse, HashKVResponse, HashResponse, KeyValue, LeaseChecker, MvccError, MvccEvent,
  PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseOp, Result, TxnRequest,
  TxnResponse, StoredAlarm, StoredLease, StoredMember,
} from './types.js';

export interface MvccLimits {
  /** etcd --max-request-bytes. */
  readonly requestBytesMax: number;
  /** etcd --max-txn-ops. */
  readonly txnOpsMax: number;
  /**
   * User keys longer than this name their lease attachments by prefix + hash (LMDB keys stop at
   * 1978 bytes).
   */
  readonly indexKeyBytesMax: number;
  /** Revision records a `compactSlice` call examines at most, so writes never stall for long. */
  readonly compactionSliceRevisions: number;
}

export const mvccLimits: MvccLimits = {
  requestBytesMax: 1.5 * 1024 * 1024,
  txnOpsMax: 128,
  indexKeyBytesMax: 1900,
  compactionSliceRevisions: limits.compactionSliceRevisions,
};

export interface MvccOptions {
  /** Put's lease validation; without it every non-zero lease is "not found". */
  readonly leases?: LeaseChecker;
  readonly limits?: Partial<MvccLimits>;
}

export interface WriteResult<T> {
  readonly result: T;
  /** One ChangeSet per write that changed something, in revision order. */
  readonly changes: ChangeSet[];
  /** The store revision after the batch. */
  readonly revision: number;
}

const NO_LEASES: LeaseChecker = { exists: () => false };
const EMPTY = new Uint8Array(0);

export class MvccStore {
  readonly limits: MvccLimits;
  private readonly backend: Backend;
  private readonly leases: LeaseChecker;
  private readonly metaCache = new MetaCache();

  constructor(backend: Backend, options: MvccOptions = {}) {
    this.limits = { ...mvccLimits, ...options.limits };
    const l = this.limits;
    assert(l.indexKeyBytesMax >= 1, 'indexKeyBytesMax must be positive');
    assert(l.indexKeyBytesMax + 8 <= backendLimits.keyBytesMax - 8,
      'long index keys (+hash, +lease prefix) must fit a backend key');
    assert(l.txnOpsMax >= 1, 'txnOpsMax must be positive');
    assert(l.compactionSliceRevisions >= 1, 'compactionSliceRevisions must be positive');
    for (const t of Object.values(TABLES)) {
      assert(backend.tables.includes(t), `backend lacks table ${t}`);
    }
    this.backend = backend;
    this.leases = options.leases ?? NO_LEASES;
  }

  read<T>(fn: (view: MvccReader) => T): T {
    return this.backend.read((txn) => {
      const { meta, keys } = this.view(txn);
      return fn(new Reader(txn, this.limits, meta, keys));
    });
  }

  /** The meta state `txn` sees, and this thread's key index brought up to it. */
  private view(txn: ReadTxn): { meta: MetaState; keys: KeyIndex } {
    const meta = this.metaCache.of(txn);
    const keys = keyIndexOf(this.backend);
    keys.sync(txn, meta);
    return { meta, keys };
  }

  range(req: RangeRequest): Result<RangeResponse> {
    return this.read((view) => view.range(req));
  }

  /** The persisted meta state: revisions, compaction progress, applied index. */
  state(): MetaState {
    return this.read((view) => view.meta);
  }

  async write<T>(
    fn: (writer: MvccWriter) => T, options: { appliedIndex?: number } = {},
  ): Promise<WriteResult<T>> {
    const staged = this.writeStaged(fn, options);
    await staged.durable;
    return staged.visible;
  }

  /**
   * `write` in two steps (Backend.writeStaged): `visible` once every reader sees the batch,
   * `durable` once it is on disk too. `options.appliedIndex` may also be a function of the
   * batch's view, for callers that decide the index inside the transaction.
   */
  writeStaged<T>(
    fn: (writer: MvccWriter) => T, options: { appliedIndex?: number | ((w: MvccWriter) => number) } = {},
  ): { readonly visible: PromiseLike<WriteResult<T>>; readonly durable: PromiseLike<void> } {
    const backend = this.backend;
    const staged = backend.writeStaged((txn) => {
      const { meta, keys } = this.view(txn);
      try {
        const w = new Writer(txn, this.limits, meta, keys, this.leases);
        const applied = typeof options.appliedIndex === 'function' ? options.appliedIndex(w) : options.appliedIndex;
        const result = fn(w);
        w.finish(applied);
        return { result, changes: w.changes, revision: w.meta.current };
      } catch (error) {
        // The backend rolls the transaction back; the index has to be rebuilt from what is left.
        dropKeyIndex(backend);
        throw error;
      }
    });
    return staged;
  }
}

/** A read view: everything is as of the moment the view opened. */
export interface MvccReader {
  readonly meta: MetaState;
  range(req: RangeRequest): Result<RangeResponse>;
  hashKV(revision: number): Result<HashKVResponse>;
  /** crc32c over every table of the backend (etcd's Hash: deterministic for identical storage). */
  hash(tables: readonly string[]): HashResponse;
  /** Keys currently attached to a lease, in index order. */
  keysOfLease(lease: bigint): Uint8Array[];
  /** Every lease record in the `leases` table (written by the lease subsystem through apply). */
  leaseRecords(): StoredLease[];
  /** The raised alarms (written by apply), ordered by member id, then name. */
  alarmRecords(): StoredAlarm[];
  /** The cluster's members, removed ones included (written by apply), ordered by id. */
  memberRecords(): StoredMember[];
  /**
   * The events of revisions fromRevision.. (whole revisions, ascending, with prevKv where the
   * previous version is still kept) whose key `wanted` accepts, for watchers catching up.
   */
  history(query: MvccHistoryQuery): MvccHistoryResult;
}

/** A bounded read of the event history (the watch hub's catch-up reads). */
export interface MvccHistoryQuery {
  readonly fromRevision: number;
  readonly toRevision: number;
  readonly wanted: (key: Uint8Array) => boolean;
  /** Stop after the revision at which this many events were collected. */
  readonly eventsMax: number;
  /** Stop after the revision at which the keys and values collected reach this many bytes. */
  readonly bytesMax: number;
  /** Cover at most this many revisions. */
  readonly revisionsMax: number;
}

export type MvccHistoryResult =
  | { readonly compacted: false; readonly events: MvccEvent[]; readonly nextRevision: number }
  | { readonly compacted: true; readonly compactRevision: number };

/** The operations of one write batch; each Put / DeleteRange / Txn is one etcd revision. */
export interface MvccWriter extends MvccReader {
  put(req: PutRequest): Result<PutResponse>;
  deleteRange(req: DeleteRangeRequest): Result<DeleteRangeResponse>;
  txn(req: TxnRequest): Result<TxnResponse>;
  compact(req: CompactionRequest): Result<CompactionResponse>;
  /** Physically compacts one bounded slice; returns true while more slices remain. */
  compactSlice(): boolean;
  /**
   * Deletes every key attached to `lease` as ONE revision (ascending key order, one DELETE event
   * each; no revision if none): the key side of a lease revocation.
   */
  deleteLeaseKeys(lease: bigint): DeleteRangeResponse;
  /** Stores or replaces a lease record in this batch's transaction. */
  putLeaseRecord(record: StoredLease): void;
  deleteLeaseRecord(id: bigint): void;
  /** Records a raised alarm in this batch's transaction (idempotent). */
  putAlarmRecord(alarm: StoredAlarm): void;
  deleteAlarmRecord(alarm: StoredAlarm): void;
  /** Stores or replaces a member record in this batch's transaction. */
  putMemberRecord(member: StoredMember): void;
}

interface Selected {
  readonly history: KeyHistory;
  readonly found: Found;
}

/**
 * The meta record is read by every request but changes only with writes: a read view compares
 * its bytes with the last ones decoded and reuses that MetaState (immutable) when they match.
 */
class MetaCache {
  private bytes: Uint8Array = new Uint8Array(0);
  private meta: MetaState = INITIAL_META;

  of(txn: ReadTxn): MetaState {
    const bytes = txn.peek !== undefined ? txn.peek(TABLES.meta, META_KEY) : txn.get(TABLES.meta, META_KEY);
    if (bytes === undefined) return INITIAL_META;
    if (bytesEqual(bytes, this.bytes)) return this.meta;
    this.meta = decodeMeta(bytes);
    this.bytes = copyBytes(bytes);
    return this.meta;
  }
}

class Reader implements MvccReader {
  meta: MetaState;

  constructor(
    protected readonly btxn: ReadTxn, protected readonly limits: MvccLimits, meta: MetaState,
    protected readonly keys: KeyIndex,
  ) {
    this.meta = meta;
  }

  /** The revision a "latest" read sees; inside a write it includes the write's own changes. */
  protected readRevision(): number {
    return this.meta.current;
  }

  /**
   * The compacted revision reads obey: the view's, or the index's when this thread's writer has
   * compacted it ahead of what is committed (the revisions below are gone from the index).
   */
  protected compacted(): number {
    return Math.max(this.meta.compacted, this.keys.compacted);
  }

  protected checkRevision(rev: number): MvccError | undefined {
    if (rev > this.readRevision()) return err('ErrFutureRev');
    if (rev < this.compacted()) return err('ErrCompacted');
    return undefined;
  }

  /** The put at `found` of the key whose index copy is `key` (events and replies may keep it). */
  protected loadKv(found: Found, key: Uint8Array): KeyValue {
    const txn = this.btxn;
    const at = revKeyScratch(found.main, found.sub);
    const bytes = txn.peek !== undefined ? txn.peek(TABLES.rev, at) : txn.get(TABLES.rev, at);
    assert(bytes !== undefined, `revision ${found.main}.${found.sub} has a record`);
    return decodePutOwned(bytes, key);
  }

  protected kvOf(s: Selected): KeyValue {
    return this.loadKv(s.found, s.history.key);
  }

  /** Keys of [key, rangeEnd) that exist at `rev`, in ascending key order. */
  protected select(key: Uint8Array, rangeEnd: Uint8Array | undefined, rev: number): Selected[] {
    if (rangeEnd === undefined || rangeEnd.length === 0) {
      const history = this.keys.get(key);
      const found = history?.findAt(rev);
      return found === undefined ? [] : [{ history: history!, found }];
    }
    const toEnd = rangeEnd.length === 1 && rangeEnd[0] === 0;
    if (!toEnd && compareBytes(rangeEnd, key) <= 0) return [];
    const out: Selected[] = [];
    for (const history of this.keys.between(key, toEnd ? undefined : rangeEnd)) {
      const found = history.findAt(rev);
      if (found !== undefined) out.push({ history, found });
    }
    return out;
  }

  /** The KeyValue of `key` at `rev`, if it exists then: `select` for one key, without its rows. */
  private pointKv(key: Uint8Array, rev: number): KeyValue | undefined {
    const history = this.keys.get(key);
    const found = history?.findAt(rev);
    return found === undefined ? undefined : this.loadKv(found, history!.key);
  }

  history(query: MvccHistoryQuery): MvccHistoryResult {
    const compacted = this.compacted();
    if (query.fromRevision < compacted) return { compacted: true, compactRevision: compacted };
    const events: MvccEvent[] = [];
    let bytes = 0;
    const last = Math.min(query.toRevision, this.meta.current, query.fromRevision + query.revisionsMax - 1);
    let next = last + 1;
    let atRev = -1;
    const range = this.btxn.range(TABLES.rev, { start: revKey(query.fromRevision, 0), end: revKey(last + 1, 0) });
    for (const e of range) {
      const main = revKeyMain(e.key);
      if (main !== atRev) {
        // Whole revisions only: stop at a revision boundary once a bound is reached.
        if (atRev >= 0 && (events.length >= query.eventsMax || bytes >= query.bytesMax)) {
          next = main;
          break;
        }
        atRev = main;
      }
      const rec = decodeKv(ownBytes(e.value));
      if (!query.wanted(rec.key)) continue;
      const kv: KeyValue = 'tombstone' in rec
        ? { key: rec.key, createRevision: 0, modRevision: main, version: 0, value: EMPTY, lease: 0n }
        : rec;
      const prev = main - 1 >= compacted ? this.select(rec.key, undefined, main - 1)[0] : undefined;
      const prevKv = prev === undefined ? undefined : this.kvOf(prev);
      events.push({ type: 'tombstone' in rec ? 'DELETE' : 'PUT', kv, ...(prevKv !== undefined && { prevKv }) });
      bytes += kv.key.length + kv.value.length + (prevKv === undefined ? 0 : prevKv.key.length + prevKv.value.length);
    }
    return { compacted: false, events, nextRevision: Math.max(next, query.fromRevision + 1) };
  }

  range(req: RangeRequest): Result<RangeResponse> {
    const invalid = validateRange(req);
    if (invalid !== undefined) return invalid;
    const current = this.readRevision();
    const rev = (req.revision ?? 0) > 0 ? req.revision! : current;
    const bad = this.checkRevision(rev);
    if (bad !== undefined) return bad;
    const header = { revision: current };
    // One key, no revision filter: at most one row, which no sort or limit can change.
    if ((req.rangeEnd === undefined || req.rangeEnd.length === 0) && !filtersRevisions(req)) {
      const kv = this.pointKv(req.key, rev);
      const count = kv === undefined ? 0 : 1;
      const kvs = kv === undefined || req.countOnly === true ? []
        : [req.keysOnly === true ? { ...kv, value: EMPTY } : kv];
      return { ok: true, header, kvs, more: false, count };
    }
    const selected = this.select(req.key, req.rangeEnd, rev);
    if (req.countOnly === true) {
      return { ok: true, header, kvs: [], more: false, count: selected.length };
    }
    let rows = filtersRevisions(req) ? selected.filter((s) => keep(req, s.found)) : selected;
    const order = req.sortOrder === 'NONE' || req.sortOrder === undefined
      ? (req.sortTarget === undefined || req.sortTarget === 'KEY' ? 'NONE' : 'ASCEND')
      : req.sortOrder;
    let kvs: KeyValue[] | undefined;
    if (order !== 'NONE') {
      const target = req.sortTarget ?? 'KEY';
      if (target === 'VERSION' || target === 'VALUE') {
        kvs = rows.map((s) => this.kvOf(s));
        sortKvs(kvs, target, order);
      } else {
        rows = sortRows(rows, target, order);
      }
    }
    const limit = req.limit ?? 0;
    const total = kvs?.length ?? rows.length;
    const more = limit > 0 && total > limit;
    if (kvs === undefined) {
      const n = more ? limit : rows.length;
      kvs = new Array<KeyValue>(n);
      for (let i = 0; i < n; i++) kvs[i] = this.kvOf(rows[i]!);
    } else if (more) {
      kvs = kvs.slice(0, limit);
    }
    if (req.keysOnly === true) kvs = kvs.map((kv) => ({ ...kv, value: EMPTY }));
    return { ok: true, header, kvs, more, count: selected.length };
  }

  alarmRecords(): StoredAlarm[] {
    const out: StoredAlarm[] = [];
    for (const e of this.btxn.range(TABLES.alarms, {})) out.push(decodeAlarmKey(e.key));
    return out;
  }

  memberRecords(): StoredMember[] {
    const out: StoredMember[] = [];
    const range = { start: MEMBER_PREFIX, end: prefixEnd(MEMBER_PREFIX) };
    for (const e of this.btxn.range(TABLES.meta, range)) out.push(decodeMemberRecord(e.key, e.value));
    return out;
  }

  leaseRecords(): StoredLease[] {
    const out: StoredLease[] = [];
    for (const e of this.btxn.range(TABLES.leases, {})) out.push(decodeLeaseRecord(e.key, e.value));
    return out;
  }

  keysOfLease(lease: bigint): Uint8Array[] {
    const prefix = leasePrefix(lease);
    const out: Uint8Array[] = [];
    for (const e of this.btxn.range(TABLES.lease, { start: prefix, end: prefixEnd(prefix) })) {
      const indexKey = e.key.subarray(8);
      // A long key's attachment is named by prefix + hash and holds the whole key.
      out.push(indexKey.length <= this.limits.indexKeyBytesMax ? indexKey : e.value);
    }
    return out;
  }

  hashKV(revision: number): Result<HashKVResponse> {
    const current = this.meta.current;
    const compacted = this.compacted();
    if (revision !== 0 && revision <= compacted) return err('ErrCompacted');
    if (revision > current) return err('ErrFutureRev');
    const at = revision > 0 ? revision : current;
    let crc = crc32c(0, utf8('key'));
    for (const e of this.btxn.range(TABLES.rev, { end: revKey(at + 1, 0) })) {
      const main = revKeyMain(e.key);
      const record = decodeKv(e.value);
      const tombstone = 'tombstone' in record;
      // Members differ in how far physical compaction got: a revision at or below the compacted
      // one counts if the (compacted) index kept it, whether or not its record is gone yet.
      if (main <= compacted) {
        const kept = this.keys.get(record.key)?.has(main, revKeySub(e.key)) ?? false;
        if (tombstone || !kept) continue;
      }
      crc = crc32c(crc, e.key);
      if (tombstone) crc = crc32c(crc, TOMBSTONE_MARK);
      crc = crc32c(crc, e.value);
    }
    return {
      ok: true, header: { revision: current }, hash: crc, compactRevision: compacted,
      hashRevision: at,
    };
  }

  hash(tables: readonly string[]): HashResponse {
    let crc = 0;
    for (const table of [...tables].sort()) {
      crc = crc32c(crc, utf8(table));
      for (const e of this.btxn.range(table, {})) {
        crc = crc32c(crc, e.key);
        crc = crc32c(crc, e.value);
      }
    }
    return { header: { revision: this.meta.current }, hash: crc };
  }
}

const TOMBSTONE_MARK = utf8('t');

function filtersRevisions(req: RangeRequest): boolean {
  return (req.minModRevision ?? 0) > 0 || (req.maxModRevision ?? 0) > 0
    || (req.minCreateRevision ?? 0) > 0 || (req.maxCreateRevision ?? 0) > 0;
}

function keep(req: RangeRequest, f: Found): boolean {
  if ((req.minModRevision ?? 0) > 0 && f.main < req.minModRevision!) return false;
  if ((req.maxModRevision ?? 0) > 0 && f.main > req.maxModRevision!) return false;
  if ((req.minCreateRevision ?? 0) > 0 && f.created < req.minCreateRevision!) return false;
  if ((req.maxCreateRevision ?? 0) > 0 && f.created > req.maxCreateRevision!) return false;
  return true;
}

/** Stable sorts: ties keep ascending key order. */
function sortRows(rows: Selected[], target: 'KEY' | 'CREATE' | 'MOD', order: 'ASCEND' | 'DESCEND'):
  Selected[] {
  const sign = order === 'ASCEND' ? 1 : -1;
  const by = (s: Selected): number => (target === 'CREATE' ? s.found.created : s.found.main);
  if (target === 'KEY') return order === 'ASCEND' ? rows : [...rows].reverse();
  return [...rows].sort((a, b) => sign * (by(a) - by(b)));
}

function sortKvs(kvs: KeyValue[], target: 'VERSION' | 'VALUE', order: 'ASCEND' | 'DESCEND'): void {
  const sign = order === 'ASCEND' ? 1 : -1;
  if (target === 'VERSION') kvs.sort((a, b) => sign * (a.version - b.version));
  else kvs.sort((a, b) => sign * compareBytes(a.value, b.value));
}

/** A Txn's chosen path, decided against the state before the txn. */
interface Plan {
  readonly succeeded: boolean;
  readonly ops: readonly RequestOp[];
  /** Plans of nested txns, by op position. */
  readonly nested: Map<number, Plan>;
}

class Writer extends Reader implements MvccWriter {
  readonly changes: ChangeSet[] = [];
  private readonly wtxn: WriteTxn;
  /** Revision of the write in progress (current + 1), its next sub-revision and its events. */
  private main = 0;
  private sub = 0;
  private events: MvccEvent[] = [];
  private inWrite = false;

  constructor(
    txn: WriteTxn, limits: MvccLimits, meta: MetaState, keys: KeyIndex,
    private readonly leases: LeaseChecker,
  ) {
    // A private copy: the cached MetaState is shared with readers and never mutated.
    super(txn, limits, { ...meta }, keys);
    this.wtxn = txn;
  }

  protected override readRevision(): number {
    return this.inWrite && this.events.length > 0 ? this.main : this.meta.current;
  }

  /** Stores the meta state; called once at the end of the batch. */
  finish(appliedIndex: number | undefined): void {
    assert(!this.inWrite, 'no write is left open');
    if (appliedIndex !== undefined) {
      assert(appliedIndex >= this.meta.appliedIndex, 'the applied index never goes back');
      this.meta = { ...this.meta, appliedIndex };
    }
    this.wtxn.put(TABLES.meta, META_KEY, encodeMeta(this.meta));
  }

  /** Runs one etcd write (one candidate revision). */
  private revision<T>(fn: () => T): T {
    assert(!this.inWrite, 'writes do not nest');
    this.inWrite = true;
    this.main = this.meta.current + 1;
    this.sub = 0;
    this.events = [];
    try {
      return fn();
    } finally {
      this.inWrite = false;
      this.endRevision();
    }
  }

  /** The one place a write's change list is made. */
  private endRevision(): void {
    if (this.events.length === 0) return;
    assert(this.events.length === this.sub, 'one event per sub-revision');
    // The batch's own copy (see the constructor): no new object per revision.
    (this.meta as { current: number }).current = this.main;
    this.keys.revision = this.main;
    this.changes.push({ revision: this.main, events: this.events });
    this.events = [];
  }

  put(req: PutRequest): Result<PutResponse> {
    const invalid = validatePut(req) ?? validateSize({ requestPut: req }, this.limits);
    if (invalid !== undefined) return invalid;
    const bad = this.checkPut(req);
    if (bad !== undefined) return bad;
    return this.revision(() => ({ ok: true, ...this.doPut(req) }));
  }

  deleteRange(req: DeleteRangeRequest): Result<DeleteRangeResponse> {
    const invalid = validateDeleteRange(req) ?? validateSize({ requestDeleteRange: req }, this.limits);
    if (invalid !== undefined) return invalid;
    return this.revision(() => ({ ok: true, ...this.doDelete(req) }));
  }

  txn(req: TxnRequest): Result<TxnResponse> {
    const invalid = validateTxn(req, this.limits) ?? validateSize({ requestTxn: req }, this.limits);
    if (invalid !== undefined) return invalid;
    const plan = this.plan(req);
    const bad = this.precheck(plan);
    if (bad !== undefined) return bad;
    const before = this.meta.current;
    return this.revision(() => {
      const responses = this.execute(plan);
      const revision = this.events.length > 0 ? this.main : before;
      return { ok: true, header: { revision }, succeeded: plan.succeeded, responses };
    });
  }

  compact(req: CompactionRequest): Result<CompactionResponse> {
    if (req.revision <= this.meta.compacted) return err('ErrCompacted');
    if (req.revision > this.meta.current) return err('ErrFutureRev');
    this.meta = {
      ...this.meta, compacted: req.revision, compactTarget: req.revision, compactCursor: null,
    };
    // The index compacts at once (its dropped revisions are what compactSlice deletes); the
    // records go in slices.
    this.keys.compact(req.revision);
    return { ok: true, header: { revision: this.meta.current } };
  }

  /**
   * Deletes the records of one slice of revisions at or below the compaction target that the
   * (already compacted) index no longer holds, oldest first; the cursor in meta says where the
   * next slice starts.
   */
  compactSlice(): boolean {
    const at = this.meta.compactTarget;
    if (at < 0) return false;
    const cursor = this.meta.compactCursor;
    const max = this.limits.compactionSliceRevisions;
    const slice = [...this.btxn.range(TABLES.rev, {
      start: cursor === null ? undefined : successor(cursor), end: revKey(at + 1, 0), limit: max,
    })];
    for (const e of slice) {
      const { key } = decodeKv(e.value);
      const kept = this.keys.get(key)?.has(revKeyMain(e.key), revKeySub(e.key)) ?? false;
      if (!kept) this.wtxn.delete(TABLES.rev, e.key);
    }
    const done = slice.length < max;
    this.meta = done
      ? { ...this.meta, compactTarget: -1, compactCursor: null }
      : { ...this.meta, compactCursor: copyBytes(slice[slice.length - 1]!.key) };
    return !done;
  }

  // ---- execution of single ops (inside `revision`) ----

  private checkPut(req: PutRequest): MvccError | undefined {
    const lease = req.lease ?? 0n;
    if (lease !== 0n && !this.leases.exists(lease)) return err('ErrLeaseNotFound');
    if (req.ignoreValue === true || req.ignoreLease === true) {
      if (this.select(req.key, undefined, this.readRevision()).length === 0) {
        return err('ErrKeyNotFound');
      }
    }
    return undefined;
  }

  private header(): { revision: number } {
    return { revision: this.readRevision() };
  }

  private doPut(req: PutRequest): PutResponse {
    const main = this.main;
    const known = this.keys.get(req.key);
    const found = known?.findAt(main);
    const prev = found === undefined ? undefined : this.loadKv(found, known!.key);
    assert(prev !== undefined || (req.ignoreValue !== true && req.ignoreLease !== true),
      'ignore_value / ignore_lease were prechecked');
    const sub = this.sub++;
    const createRevision = prev === undefined ? main : prev.createRevision;
    if (known !== undefined) known.add(main, sub, createRevision);
    const history = known ?? this.keys.add(req.key, main, sub, createRevision);
    // The index's own copy of the key (exact size, never mutated) serves the events too.
    const key = history.key;
    const kv: KeyValue = {
      key,
      createRevision,
      modRevision: main,
      version: prev === undefined ? 1 : prev.version + 1,
      value: req.ignoreValue === true ? prev!.value : ownBytes(req.value),
      lease: req.ignoreLease === true ? prev!.lease : (req.lease ?? 0n),
    };
    this.wtxn.put(TABLES.rev, revKeyScratch(main, sub), encodeKv(kv));
    this.moveLease(key, prev?.lease ?? 0n, kv.lease);
    this.events.push(prev === undefined ? { type: 'PUT', kv } : { type: 'PUT', kv, prevKv: prev });
    return req.prevKv === true && prev !== undefined
      ? { header: this.header(), prevKv: prev }
      : { header: this.header() };
  }

  private doDelete(req: DeleteRangeRequest): DeleteRangeResponse {
    const selected = this.select(req.key, req.rangeEnd, this.readRevision());
    const prevKvs: KeyValue[] = [];
    for (const s of selected) {
      // The index's own copy of the key: stable, so events may keep it.
      const key = s.history.key;
      const prev = this.kvOf(s);
      const main = this.main;
      const sub = this.sub++;
      this.wtxn.put(TABLES.rev, revKeyScratch(main, sub), encodeTombstone(key));
      s.history.add(main, sub, 0);
      this.moveLease(key, prev.lease, 0n);
      const kv: KeyValue = {
        key, createRevision: 0, modRevision: main, version: 0, value: EMPTY, lease: 0n,
      };
      this.events.push({ type: 'DELETE', kv, prevKv: prev });
      prevKvs.push(prev);
    }
    return {
      header: this.header(), deleted: selected.length, prevKvs: req.prevKv === true ? prevKvs : [],
    };
  }

  deleteLeaseKeys(lease: bigint): DeleteRangeResponse {
    const keys = this.keysOfLease(lease).map((k) => k.slice()).sort(compareBytes);
    const before = this.meta.current;
    return this.revision(() => {
      const prevKvs: KeyValue[] = [];
      for (const key of keys) {
        const r = this.doDelete({ key, prevKv: true });
        assert(r.deleted === 1, 'a key attached to a lease exists');
        prevKvs.push(...r.prevKvs);
      }
      const revision = this.events.length > 0 ? this.main : before;
      return { header: { revision }, deleted: keys.length, prevKvs };
    });
  }

  putLeaseRecord(record: StoredLease): void {
    this.wtxn.put(TABLES.leases, leaseRecordKey(record.id),
      encodeLeaseRecord(record.ttlSeconds, record.remainingTtlSeconds));
  }

  putAlarmRecord(alarm: StoredAlarm): void {
    this.wtxn.put(TABLES.alarms, alarmKey(alarm.memberId, alarm.alarm), PRESENT_MARK);
  }

  deleteAlarmRecord(alarm: StoredAlarm): void {
    this.wtxn.delete(TABLES.alarms, alarmKey(alarm.memberId, alarm.alarm));
  }

  putMemberRecord(member: StoredMember): void {
    this.wtxn.put(TABLES.meta, memberKey(member.id), encodeMemberRecord(member));
  }

  deleteLeaseRecord(id: bigint): void {
    this.wtxn.delete(TABLES.leases, leaseRecordKey(id));
  }

  private moveLease(key: Uint8Array, from: bigint, to: bigint): void {
    if (from === to) return;
    const n = this.limits.indexKeyBytesMax;
    const indexKey = indexKeyOf(key, n);
    if (from !== 0n) this.wtxn.delete(TABLES.lease, leaseKey(from, indexKey));
    if (to !== 0n) {
      this.wtxn.put(TABLES.lease, leaseKey(to, indexKey), key.length > n ? key : PRESENT_MARK);
    }
  }

  // ---- txn: evaluate, then execute ----

  private plan(req: TxnRequest): Plan {
    const succeeded = (req.compare ?? []).every((c) => this.holds(c));
    const ops = (succeeded ? req.success : req.failure) ?? [];
    const nested = new Map<number, Plan>();
    ops.forEach((op, i) => {
      if (op.requestTxn !== undefined) nested.set(i, this.plan(op.requestTxn));
    });
    return { succeeded, ops, nested };
  }

  private holds(c: Compare): boolean {
    const current = this.meta.current;
    const selected = this.select(c.key, c.rangeEnd, current);
    if (selected.length === 0) {
      if (c.target === 'VALUE') return false;
      return compareNumbers(0n, operand(c), c.result);
    }
    return selected.every((s) => {
      if (c.target === 'VALUE') {
        const kv = this.kvOf(s);
        return compareResult(compareBytes(kv.value, c.value ?? EMPTY), c.result);
      }
      const stored = c.target === 'CREATE' ? BigInt(s.found.created)
        : c.target === 'MOD' ? BigInt(s.found.main)
          : c.target === 'VERSION' ? BigInt(this.kvOf(s).version)
            : this.kvOf(s).lease;
      return compareNumbers(stored, operand(c), c.result);
    });
  }

  private precheck(plan: Plan): MvccError | undefined {
    for (let i = 0; i < plan.ops.length; i++) {
      const op = plan.ops[i]!;
      let bad: MvccError | undefined;
      if (op.requestPut !== undefined) bad = this.checkPut(op.requestPut);
      else if (op.requestRange !== undefined && (op.requestRange.revision ?? 0) > 0) {
        bad = this.checkRevision(op.requestRange.revision!);
      } else if (op.requestTxn !== undefined) bad = this.precheck(plan.nested.get(i)!);
      if (bad !== undefined) return bad;
    }
    return undefined;
  }

  private execute(plan: Plan): ResponseOp[] {
    return plan.ops.map((op, i): ResponseOp => {
      if (op.requestRange !== undefined) {
        const r = this.range(op.requestRange);
        assert(r.ok, 'a prechecked range succeeds');
        const { ok: _, ...responseRange } = r;
        return { responseRange };
      }
      if (op.requestPut !== undefined) return { responsePut: this.doPut(op.requestPut) };
      if (op.requestDeleteRange !== undefined) {
        return { responseDeleteRange: this.doDelete(op.requestDeleteRange) };
      }
      const nested = plan.nested.get(i);
      assert(nested !== undefined, 'a validated op is a range, put, delete or txn');
      const responses = this.execute(nested);
      return { responseTxn: { header: { revision: 0 }, succeeded: nested.succeeded, responses } };
    });
  }
}

function operand(c: Compare): bigint {
  switch (c.target) {
    case 'VERSION': return BigInt(c.version ?? 0);
    case 'CREATE': return BigInt(c.createRevision ?? 0);
    case 'MOD': return BigInt(c.modRevision ?? 0);
    case 'LEASE': return c.lease ?? 0n;
    case 'VALUE': return 0n;
  }
}

function compareNumbers(stored: bigint, want: bigint, result: Compare['result']): boolean {
  return compareResult(stored < want ? -1 : stored > want ? 1 : 0, result);
}

function compareResult(cmp: number, result: Compare['result']): boolean {
  switch (result) {
    case 'EQUAL': return cmp === 0;
    case 'NOT_EQUAL': return cmp !== 0;
    case 'GREATER': return cmp > 0;
    case 'LESS': return cmp < 0;
  }
}

/** The smallest key greater than `key` in memcmp order. */
function successor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}
