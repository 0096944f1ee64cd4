/**
 * LmdbRaftStorage: the Raft log on LMDB, the durable twin of MemoryRaftStorage behind the same
 * RaftStorage interface and contract suite (test/raft/storage-contract.ts). It lives in the
 * member's one env beside the mvcc tables (lmdb-env.ts): on a thread that also applies, a Raft
 * append and the apply of the entries before it share one commit and one fsync.
 *
 * Layout: database `raft.log`, key = the entry index as 8 bytes big-endian (so keys sort
 * numerically), value = a fixed binary record (see encodeEntry; logs written before it hold
 * msgpack [term, index, typeCode, data], which is still read); database `raft.meta` holding
 * `hardState` [term, vote, commit], `snapshot` [index, term, voters, learners, data] and
 * `offset` [index, term], the last compacted entry, whose term stays answerable. A log from
 * before the shared env (its own env, databases `log` and `meta`) is moved in by importRaftLog.
 *
 * Durability, with `deferLmdb` (the `single` placement): a persist of entries and hard state
 * appends one record to the log's write-ahead file (raft-wal.ts: one write and one fdatasync,
 * as etcd's WAL) and resolves once it is on disk. The same writes are staged for LMDB
 * (lmdb-staging.ts), seen at once by reads on this thread through the env's overlay, and reach
 * LMDB with the apply loop's batches (every 100 ms), so a Raft append costs no LMDB commit.
 * Without it (apply, and so its commits, on another thread than the front), a persist's writes
 * go to lmdb-js at once and it resolves once that commit is fsynced: the apply batch committed
 * beside it shares the commit, where a WAL would add a second fsync per append (measured in the
 * `worker` placement: 180 us of CPU per put at 64 clients with the WAL, 109 without). Each
 * staged batch of the WAL path also stores the sequence number of its WAL record (`walSeq`); on
 * open, the WAL records after the stored one are replayed into LMDB in one fsynced transaction
 * and the WAL files removed. WAL files whose records LMDB holds durably are removed as the member
 * runs. Snapshots and
 * compaction (rare) write LMDB directly, after handing over what is staged, and resolve once
 * that commit is fsynced (`env.flushed`; the env is opened with separateFlushed). Reads are
 * synchronous and see a write once its promise has resolved: the in-memory bounds (first/last
 * index, hard state, snapshot) and the tail are updated only then, which is what the core needs
 * (it reads an index only after advance()).
 *
 * The hard state is written lazily when only its commit index moved (etcd-io/raft's MustSync: term,
 * vote and entries need the disk; the commit index is volatile state that a restart relearns). A
 * persist writes `hardState` when its term or vote differs from the one last written, when the
 * batch carries a snapshot, or when the commit ran HARD_STATE_COMMIT_LAG_MAX past the stored one;
 * createSnapshot raises the stored commit to the snapshot's index in the snapshot's own write, so
 * the stored commit is never below the snapshot (the core asserts that on load). The stored commit
 * may thus trail the true one: on restart Raft learns the commit again and re-delivers the entries
 * after the stored commit, which the applier skips up to its own applied index; those entries are
 * never compacted away, since compaction stays below the snapshot index.
 *
 * The tail: the newest durable entries stay in memory (bounded by LOG_TAIL_ENTRIES_MAX and
 * LOG_TAIL_BYTES_MAX), so the reads that follow an append (the term checks of the commit rule,
 * committed entries for apply, entries for followers) cost no LMDB read and no decode, as etcd
 * serves them from its MemoryStorage. The tail always ends at the last index and holds exactly
 * what LMDB holds for its indexes; older entries are read from LMDB.
 */
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { join } from 'node:path';
import { acquireEnv, releaseEnv } from './lmdb-env.js';
import type { EnvOptions } from './lmdb-env.js';
import { stagingOf } from './lmdb-staging.js';
import type { EnvStaging } from './lmdb-staging.js';
import { RaftWal, clearWal, readWal } from './raft-wal.js';
import { Packr } from 'msgpackr';
import {
  assert, assertCount, memberId, readUint64BE, writeUint64BE,
} from '../../base/index.js';
import type { MemberId } from '../../base/index.js';
import type {
  ConfState, Entry, HardState, InitialState, PersistBatch, RaftStorage, Snapshot, SnapshotMetadata, StorageError,
} from '../../raft/index.js';
import {
  EMPTY_HARD_STATE, assertContiguous, emptySnapshot, entrySize, limitSize,
} from '../../raft/index.js';

/**
 * Entries the in-memory tail holds at most. etcd keeps 5,000 (--snapshot-catchup-entries) in its
 * MemoryStorage, but Go's collector is not generational: in V8, entries that live half a second
 * (4,096 of them at 8,000 puts/s) outlive two scavenges, get copied twice and promoted, and die in
 * the old generation. 256 is a few batches, enough for the reads right after an append (commit
 * rule, apply, followers in step); a follower further behind is served from LMDB.
 */
export const LOG_TAIL_ENTRIES_MAX = 256;
/** Bytes (entrySize) the in-memory tail holds at most. */
export const LOG_TAIL_BYTES_MAX = 16 * 1024 * 1024;
/**
 * How far the commit index may run past the stored one before a persist writes the hard state
 * anyway: bounds the committed entries Raft re-delivers (and apply skips) after a restart.
 */
export const HARD_STATE_COMMIT_LAG_MAX = 1_024;

/** The Raft log's databases in the member's env. */
export const RAFT_LOG_TABLE = 'raft.log';
export const RAFT_META_TABLE = 'raft.meta';

/** `path`: the member's env, shared with its mvcc tables. */
export interface LmdbRaftStorageOptions extends Pick<EnvOptions, 'path' | 'noSync'> {
  /** Membership of a brand-new log; ignored when the env already holds a snapshot. */
  readonly bootstrap?: ConfState;
  /** Bounds of the in-memory tail (tests make them small); default LOG_TAIL_*_MAX. */
  readonly tailEntriesMax?: number;
  readonly tailBytesMax?: number;
  /**
   * Leave the log's LMDB writes staged until the env's next hand-over (lmdb-staging.ts) instead
   * of handing each persist's over at once: only where every reader of the log's tables is on
   * this thread (the `single` placement).
   */
  readonly deferLmdb?: boolean;
}

/** The write-ahead files of the log in the env at `path`. */
export function walDirOf(path: string): string {
  return join(path, 'wal');
}

type Db = Database<Uint8Array, Uint8Array>;

const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });
const TYPE_CODES = { normal: 0, confChange: 1 } as const;
const HARD_STATE = new TextEncoder().encode('hardState');
const SNAPSHOT = new TextEncoder().encode('snapshot');
const OFFSET = new TextEncoder().encode('offset');
/** The sequence number of the last WAL record whose writes this env holds. */
const WAL_SEQ = new TextEncoder().encode('walSeq');

export function indexKey(index: number): Uint8Array {
  const key = new Uint8Array(8);
  writeU64(key, 0, index);
  return key;
}

const scratchKey = new Uint8Array(8);

/**
 * The key of `index` in a buffer reused by the next call: only for lmdb-js calls that copy the
 * key before returning (put, remove and get with binary keys do).
 */
function tempKey(index: number): Uint8Array {
  writeU64(scratchKey, 0, index);
  return scratchKey;
}

/** A non-negative safe integer as 8 bytes big-endian at `at`. */
function writeU64(bytes: Uint8Array, at: number, n: number): void {
  assertCount(n, 'log u64');
  writeUint64BE(bytes, at, n);
}

function readU64(bytes: Uint8Array, at: number): number {
  const n = readUint64BE(bytes, at);
  assert(Number.isSafeInteger(n), 'log u64 beyond a safe integer');
  return n;
}

/**
 * The binary entry record: [ENTRY_RECORD, typeCode, term u64 BE, index u64 BE, data...]. The first
 * byte tells it from the msgpack records of older logs (a msgpack 4-array starts with 0x94).
 */
const ENTRY_RECORD = 0xe1;
const ENTRY_HEADER_BYTES = 18;
const MSGPACK_ENTRY = 0x94;

/** Encodes `entries` into one fresh buffer (one allocation, one address for lmdb-js). */
function encodeEntries(entries: readonly Entry[]): Uint8Array[] {
  let total = 0;
  for (const e of entries) total += ENTRY_HEADER_BYTES + e.data.length;
  const buf = new Uint8Array(total);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const e of entries) {
    const end = at + ENTRY_HEADER_BYTES + e.data.length;
    buf[at] = ENTRY_RECORD;
    buf[at + 1] = TYPE_CODES[e.type];
    writeU64(buf, at + 2, e.term);
    writeU64(buf, at + 10, e.index);
    buf.set(e.data, at + ENTRY_HEADER_BYTES);
    out.push(buf.subarray(at, end));
    at = end;
  }
  return out;
}

function decodeEntry(bytes: Uint8Array, expectIndex: number): Entry {
  if (bytes[0] === MSGPACK_ENTRY) return decodeMsgpackEntry(bytes, expectIndex);
  assert(bytes.length >= ENTRY_HEADER_BYTES, `log entry ${expectIndex}: record of ${bytes.length} bytes`);
  assert(bytes[0] === ENTRY_RECORD, `log entry ${expectIndex}: unknown record format ${bytes[0]}`);
  const code = bytes[1];
  assert(code === 0 || code === 1, `log entry ${expectIndex}: unknown type ${code}`);
  const index = readU64(bytes, 10);
  assert(index === expectIndex, `log entry at key ${expectIndex} says index ${index}`);
  // lmdb-js may reuse the buffer it read into: the entry gets its own copy of the data.
  const data = new Uint8Array(bytes.length - ENTRY_HEADER_BYTES);
  data.set(bytes.subarray(ENTRY_HEADER_BYTES));
  return { term: readU64(bytes, 2), index, type: code === 1 ? 'confChange' : 'normal', data };
}

function decodeMsgpackEntry(bytes: Uint8Array, expectIndex: number): Entry {
  const v = packr.unpack(bytes) as [number, number, number, Uint8Array];
  assert(Array.isArray(v) && v.length === 4, 'log entry record malformed');
  assert(v[1] === expectIndex, `log entry at key ${expectIndex} says index ${v[1]}`);
  // msgpackr returns views into a buffer lmdb may reuse: the entry gets its own copy.
  return { term: v[0], index: v[1], type: v[2] === 1 ? 'confChange' : 'normal', data: Uint8Array.from(v[3]) };
}

function encodeSnapshot(s: Snapshot): Uint8Array {
  const m = s.metadata;
  return packr.pack([m.index, m.term, m.confState.voters.map(BigInt), m.confState.learners.map(BigInt), s.data]);
}

function toIds(v: unknown): MemberId[] {
  assert(Array.isArray(v), 'member list malformed');
  return v.map((x) => memberId(BigInt(x as bigint)));
}

function decodeSnapshot(bytes: Uint8Array): Snapshot {
  const v = packr.unpack(bytes) as [number, number, unknown, unknown, Uint8Array];
  assert(Array.isArray(v) && v.length === 5, 'snapshot record malformed');
  return {
    metadata: { index: v[0], term: v[1], confState: { voters: toIds(v[2]), learners: toIds(v[3]) } },
    data: Uint8Array.from(v[4]),
  };
}

/**
 * The newest durable entries, first..last, in a ring indexed by entry index. It is emptied by a
 * snapshot, cut by a conflicting append and by compaction, and drops its oldest entries beyond
 * its bounds. Entries are the very objects persisted: immutable by the Entry contract.
 */
class EntryTail {
  readonly #ring: (Entry | undefined)[];
  readonly #bytesMax: number;
  /** Holds first..last; empty when first === last + 1. */
  #first = 1;
  #last = 0;
  #bytes = 0;

  constructor(entriesMax: number, bytesMax: number) {
    assert(Number.isSafeInteger(entriesMax) && entriesMax >= 1, 'tail holds at least one entry');
    assert(bytesMax >= 0, 'tail bytes max is not negative');
    this.#ring = new Array<Entry | undefined>(entriesMax).fill(undefined);
    this.#bytesMax = bytesMax;
  }

  get first(): number {
    return this.#first;
  }

  get(i: number): Entry | undefined {
    if (i < this.#first || i > this.#last) return undefined;
    const e = this.#ring[i % this.#ring.length];
    assert(e !== undefined && e.index === i, `log tail slot of ${i} holds ${e?.index}`);
    return e;
  }

  /** Empties the tail; the next append starts it at `next`. */
  reset(next: number): void {
    while (this.#first <= this.#last) this.#dropFirst();
    this.#first = next;
    this.#last = next - 1;
  }

  /** Takes a durable append: entries from the first new index on replace what the tail held. */
  append(entries: readonly Entry[]): void {
    const from = entries[0]?.index;
    if (from === undefined) return;
    if (from < this.#first || from > this.#last + 1) {
      this.reset(from);
    } else {
      while (this.#last >= from) this.#dropLast();
    }
    const n = this.#ring.length;
    for (const e of entries) {
      if (this.#last - this.#first + 1 === n) this.#dropFirst();
      this.#ring[e.index % n] = e;
      this.#last = e.index;
      this.#bytes += entrySize(e);
    }
    while (this.#bytes > this.#bytesMax && this.#first <= this.#last) this.#dropFirst();
  }

  /** Drops the entries at or below `index` (compacted away). */
  dropThrough(index: number): void {
    while (this.#first <= this.#last && this.#first <= index) this.#dropFirst();
  }

  #dropFirst(): void {
    const slot = this.#first % this.#ring.length;
    this.#bytes -= entrySize(this.#ring[slot]!);
    this.#ring[slot] = undefined;
    this.#first++;
  }

  #dropLast(): void {
    const slot = this.#last % this.#ring.length;
    this.#bytes -= entrySize(this.#ring[slot]!);
    this.#ring[slot] = undefined;
    this.#last--;
  }
}

export class LmdbRaftStorage implements RaftStorage {
  readonly #env: RootDatabase;
  readonly #log: Db;
  readonly #meta: Db;
  readonly #staging: EnvStaging;
  /** Null without `deferLmdb`: LMDB's own commits make the log durable. */
  readonly #wal: RaftWal | null;
  #hardState: HardState = EMPTY_HARD_STATE;
  #snapshot: Snapshot;
  /** The last compacted entry (or the snapshot's): first index is offset.index + 1. */
  #offset: { index: number; term: number };
  #last: number;
  readonly #tail: EntryTail;
  /**
   * The log as it will be once every issued write commits: validation and the keys a write
   * removes are computed from it, so writes may be issued while earlier ones are still flushing.
   */
  #pending: { offset: number; last: number; snapshotIndex: number; term: number };
  /** The hard state as stored once every issued write commits (the commit may trail #hardState). */
  #pendingHard: HardState;
  #closed = false;

  private constructor(env: RootDatabase, path: string, bootstrap: ConfState, opts: {
    tailEntriesMax: number; tailBytesMax: number; deferLmdb: boolean; noSync: boolean;
  }) {
    this.#env = env;
    this.#log = env.openDB<Uint8Array, Uint8Array>({ name: RAFT_LOG_TABLE, keyEncoding: 'binary', encoding: 'binary' });
    this.#meta = env.openDB<Uint8Array, Uint8Array>({ name: RAFT_META_TABLE, keyEncoding: 'binary', encoding: 'binary' });
    this.#staging = stagingOf(env);
    this.#staging.dbs.set(RAFT_LOG_TABLE, this.#log);
    this.#staging.dbs.set(RAFT_META_TABLE, this.#meta);
    const walDir = walDirOf(path);
    const walSeq = replayWal(env, this.#log, this.#meta, walDir);
    clearWal(walDir);
    this.#wal = opts.deferLmdb ? new RaftWal(walDir, walSeq + 1, { noSync: opts.noSync }) : null;
    const hs = this.#meta.get(HARD_STATE);
    if (hs !== undefined) {
      const v = packr.unpack(hs) as [number, bigint, number];
      this.#hardState = { term: v[0], vote: memberId(BigInt(v[1])), commit: v[2] };
    }
    const snap = this.#meta.get(SNAPSHOT);
    this.#snapshot = snap !== undefined ? decodeSnapshot(snap) : emptySnapshot(bootstrap);
    const off = this.#meta.get(OFFSET);
    const o = off !== undefined ? packr.unpack(off) as [number, number] : [0, 0];
    this.#offset = { index: o[0]!, term: o[1]! };
    let last = this.#offset.index;
    for (const key of this.#log.getKeys({ reverse: true, limit: 1 })) last = keyIndex(key as Uint8Array);
    this.#last = last;
    this.#tail = new EntryTail(opts.tailEntriesMax, opts.tailBytesMax);
    this.#tail.reset(last + 1);
    this.#pending = {
      offset: this.#offset.index, last, snapshotIndex: this.#snapshot.metadata.index, term: this.#hardState.term,
    };
    this.#pendingHard = this.#hardState;
    // Data checked after reading it back: the log is contiguous from the offset on.
    const count = this.#log.getCount({ start: indexKey(this.#offset.index + 1) });
    assert(count === this.#last - this.#offset.index, `log has ${count} entries for ${this.#offset.index + 1}..${this.#last}`);
  }

  static open(options: LmdbRaftStorageOptions): LmdbRaftStorage {
    const env = acquireEnv({ path: options.path, ...(options.noSync === true && { noSync: true }) });
    return new LmdbRaftStorage(env, options.path, options.bootstrap ?? { voters: [], learners: [] }, {
      tailEntriesMax: options.tailEntriesMax ?? LOG_TAIL_ENTRIES_MAX,
      tailBytesMax: options.tailBytesMax ?? LOG_TAIL_BYTES_MAX,
      deferLmdb: options.deferLmdb === true, noSync: options.noSync === true,
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#wal?.close();
    await releaseEnv(this.#env);
  }

  initialState(): InitialState {
    return { hardState: this.#hardState, confState: this.#snapshot.metadata.confState };
  }

  firstIndex(): number {
    return this.#offset.index + 1;
  }

  lastIndex(): number {
    return this.#last;
  }

  term(i: number): number | StorageError {
    assertCount(i, 'term index');
    if (i < this.#offset.index) return 'ErrCompacted';
    if (i === this.#offset.index) return this.#offset.term;
    if (i > this.#last) return 'ErrUnavailable';
    const held = this.#tail.get(i);
    if (held !== undefined) return held.term;
    const bytes = storedEntry(this.#staging, this.#log, tempKey(i));
    assert(bytes !== undefined, `log entry ${i} missing within ${this.firstIndex()}..${this.#last}`);
    return decodeEntry(bytes, i).term;
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] | 'ErrCompacted' {
    assert(lo <= hi, `entries: lo ${lo} > hi ${hi}`);
    assert(hi <= this.#last + 1, `entries: hi ${hi} beyond last ${this.#last}`);
    if (lo <= this.#offset.index) return 'ErrCompacted';
    const out: Entry[] = [];
    let size = 0;
    const tailFirst = this.#tail.first;
    if (lo < tailFirst) {
      size = this.#read(lo, Math.min(hi, tailFirst), maxBytes, out);
      if (size > maxBytes) return limitSize(out, maxBytes);
    }
    for (let i = Math.max(lo, tailFirst); i < hi; i++) {
      const e = this.#tail.get(i)!;
      size += entrySize(e);
      if (size > maxBytes && out.length > 0) break;
      out.push(e);
    }
    assert(out.length === hi - lo || out.length > 0, `log entries ${lo}..${hi} missing`);
    return out;
  }

  /** Reads lo..hi-1 from LMDB into `out` until past maxBytes; returns the size read. */
  #read(lo: number, hi: number, maxBytes: number, out: Entry[]): number {
    let size = 0;
    let expect = lo;
    const bounds = { start: indexKey(lo), end: indexKey(hi) };
    const range = this.#staging.overlay.range(RAFT_LOG_TABLE, bounds,
      () => this.#log.getRange(bounds) as Iterable<{ key: Uint8Array; value: Uint8Array }>);
    for (const { key, value } of range) {
      assert(keyIndex(key as Uint8Array) === expect, `log gap before ${expect}`);
      const e = decodeEntry(value, expect);
      size += entrySize(e);
      out.push(e);
      expect++;
      if (size > maxBytes) break;
    }
    assert(expect === hi || size > maxBytes, `log entries ${expect}..${hi} missing`);
    return size;
  }

  snapshot(): Snapshot {
    return this.#snapshot;
  }

  async persist(batch: PersistBatch): Promise<void> {
    const { snapshot, entries, hardState } = batch;
    if (snapshot === null && entries.length === 0 && hardState === null) return;
    assertContiguous(entries, 'persist');
    const p = this.#pending;
    const oldFirst = p.offset + 1, oldLast = p.last;
    let offset = { index: this.#offset.index, term: this.#offset.term };
    if (snapshot !== null) {
      assert(snapshot.metadata.index > p.snapshotIndex, 'snapshot is not newer');
      offset = { index: snapshot.metadata.index, term: snapshot.metadata.term };
      p.offset = offset.index;
      p.last = offset.index;
      p.snapshotIndex = offset.index;
    }
    const first = entries[0]?.index;
    if (first !== undefined) {
      assert(first > p.offset, `append at ${first} overwrites compacted entries up to ${p.offset}`);
      assert(first <= p.last + 1, `append at ${first} leaves a gap after ${p.last}`);
    }
    if (hardState !== null) {
      assert(hardState.term >= p.term, 'hard state term went back');
      assert(hardState.commit >= this.#pendingHard.commit, 'hard state commit went back');
      p.term = hardState.term;
    }
    const writeHard = hardState !== null && mustWriteHardState(hardState, this.#pendingHard, snapshot !== null);
    if (writeHard) this.#pendingHard = hardState;
    assert(snapshot === null || this.#pendingHard.commit >= snapshot.metadata.index,
      'a snapshot comes with a hard state committing it');
    const lastBefore = p.last;
    const newLast = entries.length > 0 ? entries[entries.length - 1]!.index : p.last;
    p.last = newLast;
    const records = encodeEntries(entries);
    if (snapshot === null) {
      await this.#append(first, newLast, lastBefore, entries, records, writeHard ? hardState : null);
    } else {
      // What is staged goes first, then the snapshot in one fsynced commit of its own.
      void this.#staging.handOver();
      await this.#log.batch(() => {
        for (let i = oldFirst; i <= oldLast; i++) void this.#log.remove(tempKey(i));
        void this.#meta.put(SNAPSHOT, encodeSnapshot(snapshot));
        void this.#meta.put(OFFSET, packr.pack([offset.index, offset.term]));
        if (first !== undefined) {
          for (let k = 0; k < entries.length; k++) void this.#log.put(tempKey(entries[k]!.index), records[k]!);
        }
        if (writeHard) void this.#meta.put(HARD_STATE, encodeHardState(hardState));
      });
      await this.#env.flushed;
    }
    if (snapshot !== null) {
      this.#snapshot = snapshot;
      this.#offset = offset;
      this.#tail.reset(offset.index + 1);
    }
    if (snapshot !== null || first !== undefined) this.#last = newLast;
    this.#tail.append(entries);
    if (hardState !== null) this.#hardState = hardState;
  }

  /**
   * Entries and hard state: one WAL record, durable when this resolves; the same writes staged
   * for LMDB with the record's sequence number. The WAL files LMDB no longer needs go once the
   * staged batch is committed and flushed.
   */
  async #append(
    first: number | undefined, newLast: number, lastBefore: number, entries: readonly Entry[],
    records: readonly Uint8Array[], hardState: HardState | null,
  ): Promise<void> {
    const overlay = this.#staging.overlay;
    const wal = this.#wal;
    const batch = overlay.begin();
    if (first !== undefined) {
      // The conflicting suffix: stored entries past the new last index are dropped, the rest
      // from the first new index on are overwritten.
      for (let i = newLast + 1; i <= lastBefore; i++) overlay.stage(batch, RAFT_LOG_TABLE, tempKey(i), null);
      for (let k = 0; k < entries.length; k++) overlay.stage(batch, RAFT_LOG_TABLE, tempKey(entries[k]!.index), records[k]!);
    }
    if (hardState !== null) overlay.stage(batch, RAFT_META_TABLE, HARD_STATE, encodeHardState(hardState));
    if (batch.ops.length === 0) {
      // Only the commit index moved (its write is lazy): nothing of its own to make durable.
      // Without a WAL it resolves, as it always did, once what was issued before is flushed.
      overlay.end(batch, true);
      if (wal === null) {
        await this.#staging.handOver();
        await this.#env.flushed;
      }
      return;
    }
    if (wal === null) {
      overlay.end(batch, true);
      await this.#staging.enqueue(batch, false);
      await this.#env.flushed;
      return;
    }
    const seq = wal.nextSeq;
    overlay.stage(batch, RAFT_META_TABLE, WAL_SEQ, packr.pack(seq));
    overlay.end(batch, true);
    void this.#staging.enqueue(batch, true)
      .then(() => this.#env.flushed)
      .then(() => wal.release(seq));
    const appended = wal.append(hardState, entries);
    assert(appended.seq === seq, 'WAL record numbered as staged');
    await appended.durable;
  }

  async createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<void> {
    assert(index > this.#snapshot.metadata.index, `snapshot ${index} is not newer`);
    assert(index <= this.#last, `snapshot ${index} beyond last ${this.#last}`);
    const t = this.term(index);
    assert(typeof t === 'number', `snapshot ${index}: term ${String(t)}`);
    const snap: Snapshot = { metadata: { index, term: t, confState }, data };
    assert(index > this.#pending.snapshotIndex, `snapshot ${index} is not newer`);
    this.#pending.snapshotIndex = index;
    // The stored commit may trail (written lazily): raise it to the snapshot's index, which is
    // committed (applied, even), so that it is never below the snapshot on load.
    const hard = this.#pendingHard;
    const raised = hard.commit < index ? { term: hard.term, vote: hard.vote, commit: index } : null;
    if (raised !== null) this.#pendingHard = raised;
    void this.#staging.handOver();
    await this.#meta.batch(() => {
      void this.#meta.put(SNAPSHOT, encodeSnapshot(snap));
      if (raised !== null) void this.#meta.put(HARD_STATE, encodeHardState(raised));
    });
    await this.#env.flushed;
    this.#snapshot = snap;
  }

  async compact(index: number): Promise<void> {
    const offset = this.#offset.index;
    if (index <= offset) return;
    assert(index <= this.#last, `compact ${index} beyond last ${this.#last}`);
    const t = this.term(index);
    assert(typeof t === 'number', `compact ${index}: term ${String(t)}`);
    this.#pending.offset = Math.max(this.#pending.offset, index);
    void this.#staging.handOver();
    await this.#log.batch(() => {
      for (let i = offset + 1; i <= index; i++) void this.#log.remove(tempKey(i));
      void this.#meta.put(OFFSET, packr.pack([index, t]));
    });
    await this.#env.flushed;
    this.#offset = { index, term: t };
    this.#tail.dropThrough(index);
  }
}

/**
 * Whether a persist must write `next` over the hard state stored (or issued) before, `stored`:
 * term and vote always (Raft's safety rests on them), the commit index only with a snapshot (the
 * stored commit must not fall below it) or once it ran HARD_STATE_COMMIT_LAG_MAX ahead.
 */
function mustWriteHardState(next: HardState, stored: HardState, withSnapshot: boolean): boolean {
  return next.term !== stored.term || next.vote !== stored.vote || withSnapshot
    || next.commit - stored.commit >= HARD_STATE_COMMIT_LAG_MAX;
}

function encodeHardState(hs: HardState): Uint8Array {
  return packr.pack([hs.term, BigInt(hs.vote), hs.commit]);
}

function keyIndex(key: Uint8Array): number {
  assert(key.length === 8, `log key of ${key.length} bytes`);
  return readU64(key, 0);
}

/** The record of the entry at `key`: staged on this thread (the newer), else in LMDB. */
function storedEntry(staging: EnvStaging, log: Db, key: Uint8Array): Uint8Array | undefined {
  const staged = staging.overlay.get(RAFT_LOG_TABLE, key);
  return staged === undefined ? log.getBinary(key) : staged ?? undefined;
}

/**
 * Replays the WAL records in `walDir` after the env's `walSeq` into the env, in one fsynced
 * transaction: per record, its entries (past the offset) replace the stored log from their first
 * index on, and its hard state, if any, replaces the stored one. Returns the sequence number the
 * env now holds through.
 */
function replayWal(env: RootDatabase, log: Db, meta: Db, walDir: string): number {
  const stored = meta.get(WAL_SEQ);
  const walSeq = stored === undefined ? 0 : packr.unpack(stored) as number;
  const records = readWal(walDir, walSeq);
  if (records.length === 0) return walSeq;
  const off = meta.get(OFFSET);
  const offset = off !== undefined ? (packr.unpack(off) as [number, number])[0] : 0;
  let last = offset;
  for (const key of log.getKeys({ reverse: true, limit: 1 })) last = keyIndex(key as Uint8Array);
  const through = records[records.length - 1]!.seq;
  env.transactionSync(() => {
    for (const r of records) {
      const entries = r.entries.filter((e) => e.index > offset);
      const first = entries[0]?.index;
      if (first !== undefined) {
        assert(first <= last + 1, `WAL record ${r.seq} leaves a gap after ${last}`);
        for (let i = first; i <= last; i++) log.removeSync(indexKey(i));
        const encoded = encodeEntries(entries);
        for (let k = 0; k < entries.length; k++) log.putSync(indexKey(entries[k]!.index), encoded[k]!);
        last = entries[entries.length - 1]!.index;
      }
      if (r.hardState !== null) meta.putSync(HARD_STATE, encodeHardState(r.hardState));
    }
    meta.putSync(WAL_SEQ, packr.pack(through));
  });
  return through;
}

/**
 * Moves a Raft log kept in its own env (`fromPath`, databases `log` and `meta`: data dirs written
 * before the log shared the member's env) into the env at `toPath`, replacing any log there, in
 * one synchronous, fsynced transaction. The caller removes `fromPath` afterwards; a crash before
 * that just imports the same log again on the next start.
 */
export async function importRaftLog(fromPath: string, toPath: string): Promise<{ entries: number }> {
  const from = open({ path: fromPath });
  const to = acquireEnv({ path: toPath });
  try {
    const names: [string, string][] = [['log', RAFT_LOG_TABLE], ['meta', RAFT_META_TABLE]];
    let entries = 0;
    to.transactionSync(() => {
      for (const [oldName, newName] of names) {
        const src = from.openDB<Uint8Array, Uint8Array>({ name: oldName, keyEncoding: 'binary', encoding: 'binary' });
        const dst = to.openDB<Uint8Array, Uint8Array>({ name: newName, keyEncoding: 'binary', encoding: 'binary' });
        dst.clearSync();
        for (const { key, value } of src.getRange({})) {
          dst.putSync(key as Uint8Array, value);
          if (oldName === 'log') entries++;
        }
      }
    });
    return { entries };
  } finally {
    await from.close();
    // Released only once the import is fsynced.
    await releaseEnv(to);
  }
}

/**
 * Makes the env at `path`, which holds a keyspace received from the leader (the mvcc tables at an
 * applied index of at least `snapshot.index`), a member's env: its Raft log becomes that
 * snapshot (no entries, the offset at the snapshot) with `hardState`, whose commit is the
 * snapshot's index. Fsynced before it resolves.
 */
export async function installRaftSnapshot(path: string, snapshot: SnapshotMetadata, hardState: HardState): Promise<void> {
  assert(hardState.commit === snapshot.index, 'the installed log commits exactly the snapshot');
  assert(hardState.term >= snapshot.term, 'the hard state term is at least the snapshot term');
  const env = acquireEnv({ path });
  try {
    const log = env.openDB<Uint8Array, Uint8Array>({ name: RAFT_LOG_TABLE, keyEncoding: 'binary', encoding: 'binary' });
    const meta = env.openDB<Uint8Array, Uint8Array>({ name: RAFT_META_TABLE, keyEncoding: 'binary', encoding: 'binary' });
    env.transactionSync(() => {
      log.clearSync();
      meta.clearSync();
      meta.putSync(SNAPSHOT, encodeSnapshot({ metadata: snapshot, data: new Uint8Array(0) }));
      meta.putSync(OFFSET, packr.pack([snapshot.index, snapshot.term]));
      meta.putSync(HARD_STATE, encodeHardState(hardState));
    });
  } finally {
    await releaseEnv(env);
  }
}

/** The hard state stored in the member env at `path` (the empty one for a new env). */
export async function storedHardState(path: string): Promise<HardState> {
  // Opening replays the WAL: the hard state may be newer there.
  const storage = LmdbRaftStorage.open({ path });
  try {
    return storage.initialState().hardState;
  } finally {
    await storage.close();
  }
}

/**
 * The term of entry `index` in the Raft log stored in `env` (the offset's term for the compacted
 * boundary), or undefined when the log does not hold it. Read without the storage object, for the
 * main thread's check of an incoming snapshot.
 */
export function storedLogTerm(env: RootDatabase, index: number): number | undefined {
  const meta = env.openDB<Uint8Array, Uint8Array>({ name: RAFT_META_TABLE, keyEncoding: 'binary', encoding: 'binary' });
  const off = meta.get(OFFSET);
  if (off !== undefined) {
    const [offIndex, offTerm] = packr.unpack(off) as [number, number];
    if (index === offIndex) return offTerm;
    if (index < offIndex) return undefined;
  }
  const log = env.openDB<Uint8Array, Uint8Array>({ name: RAFT_LOG_TABLE, keyEncoding: 'binary', encoding: 'binary' });
  // Where the log runs on this thread, its newest entries may still be staged.
  const bytes = storedEntry(stagingOf(env), log, indexKey(index));
  return bytes === undefined ? undefined : decodeEntry(bytes, index).term;
}
