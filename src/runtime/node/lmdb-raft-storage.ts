/**
 * LmdbRaftStorage: the Raft log on LMDB (the `wal` env), the durable twin of MemoryRaftStorage
 * behind the same RaftStorage interface and contract suite (test/raft/storage-contract.ts).
 *
 * Layout: database `log`, key = the entry index as 8 bytes big-endian (so keys sort
 * numerically), value = msgpack [term, index, typeCode, data]; database `meta` holding
 * `hardState` [term, vote, commit], `snapshot` [index, term, voters, learners, data] and
 * `offset` [index, term], the last compacted entry, whose term stays answerable.
 *
 * Durability: every write method runs one asynchronous lmdb-js write transaction and resolves
 * after its commit is fsynced (lmdb-js's default durability, TOOLCHAIN §4). Writes issued while
 * a commit is being flushed are batched into the next transaction by lmdb-js, so concurrent
 * persists share one fsync (group commit). Reads are synchronous and see a write once its
 * promise has resolved: the in-memory bounds (first/last index, hard state, snapshot) are
 * updated only then, which is what the core needs (it reads an index only after advance()).
 */
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { Packr } from 'msgpackr';
import { assert, assertCount, memberId } from '../../base/index.js';
import type { MemberId } from '../../base/index.js';
import type {
  ConfState, Entry, HardState, InitialState, PersistBatch, RaftStorage, Snapshot, StorageError,
} from '../../raft/index.js';
import { EMPTY_HARD_STATE, assertContiguous, emptySnapshot, limitSize } from '../../raft/index.js';

export interface LmdbRaftStorageOptions {
  /** Directory of the env (created if missing); one env per member. */
  readonly path: string;
  /** Membership of a brand-new log; ignored when the env already holds a snapshot. */
  readonly bootstrap?: ConfState;
  /** Never fsync: only for throwaway logs (tests, simulation on disk). */
  readonly noSync?: boolean;
}

type Db = Database<Uint8Array, Uint8Array>;

const packr = new Packr({ useRecords: false, int64AsType: 'bigint' });
const TYPE_CODES = { normal: 0, confChange: 1 } as const;
const HARD_STATE = new TextEncoder().encode('hardState');
const SNAPSHOT = new TextEncoder().encode('snapshot');
const OFFSET = new TextEncoder().encode('offset');

export function indexKey(index: number): Uint8Array {
  assertCount(index, 'log index');
  const key = new Uint8Array(8);
  const view = new DataView(key.buffer);
  view.setUint32(0, Math.floor(index / 0x1_0000_0000));
  view.setUint32(4, index >>> 0);
  return key;
}

function encodeEntry(e: Entry): Uint8Array {
  return packr.pack([e.term, e.index, TYPE_CODES[e.type], e.data]);
}

function decodeEntry(bytes: Uint8Array, expectIndex: number): Entry {
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

export class LmdbRaftStorage implements RaftStorage {
  readonly #env: RootDatabase;
  readonly #log: Db;
  readonly #meta: Db;
  #hardState: HardState = EMPTY_HARD_STATE;
  #snapshot: Snapshot;
  /** The last compacted entry (or the snapshot's): first index is offset.index + 1. */
  #offset: { index: number; term: number };
  #last: number;
  /**
   * The log as it will be once every issued write commits: validation and the keys a write
   * removes are computed from it, so writes may be issued while earlier ones are still flushing.
   */
  #pending: { offset: number; last: number; snapshotIndex: number; term: number };
  #closed = false;

  private constructor(env: RootDatabase, bootstrap: ConfState) {
    this.#env = env;
    this.#log = env.openDB<Uint8Array, Uint8Array>({ name: 'log', keyEncoding: 'binary', encoding: 'binary' });
    this.#meta = env.openDB<Uint8Array, Uint8Array>({ name: 'meta', keyEncoding: 'binary', encoding: 'binary' });
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
    this.#pending = {
      offset: this.#offset.index, last, snapshotIndex: this.#snapshot.metadata.index, term: this.#hardState.term,
    };
    // Data checked after reading it back: the log is contiguous from the offset on.
    const count = this.#log.getCount({ start: indexKey(this.#offset.index + 1) });
    assert(count === this.#last - this.#offset.index, `log has ${count} entries for ${this.#offset.index + 1}..${this.#last}`);
  }

  static open(options: LmdbRaftStorageOptions): LmdbRaftStorage {
    const env = open({ path: options.path, ...(options.noSync === true ? { noSync: true } : {}) });
    return new LmdbRaftStorage(env, options.bootstrap ?? { voters: [], learners: [] });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#env.flushed;
    await this.#env.close();
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
    const bytes = this.#log.getBinary(indexKey(i));
    assert(bytes !== undefined, `log entry ${i} missing within ${this.firstIndex()}..${this.#last}`);
    return decodeEntry(bytes, i).term;
  }

  entries(lo: number, hi: number, maxBytes: number): readonly Entry[] | 'ErrCompacted' {
    assert(lo <= hi, `entries: lo ${lo} > hi ${hi}`);
    assert(hi <= this.#last + 1, `entries: hi ${hi} beyond last ${this.#last}`);
    if (lo <= this.#offset.index) return 'ErrCompacted';
    const out: Entry[] = [];
    let size = 0;
    let expect = lo;
    for (const { key, value } of this.#log.getRange({ start: indexKey(lo), end: indexKey(hi) })) {
      const e = decodeEntry(value, expect);
      assert(keyIndex(key as Uint8Array) === expect, `log gap before ${expect}`);
      size += e.data.length;
      out.push(e);
      expect++;
      if (size > maxBytes) break;
    }
    assert(out.length === hi - lo || out.length > 0, `log entries ${lo}..${hi} missing`);
    return limitSize(out, maxBytes);
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
      p.term = hardState.term;
    }
    const lastBefore = p.last;
    const newLast = entries.length > 0 ? entries[entries.length - 1]!.index : p.last;
    p.last = newLast;
    await this.#env.transaction(() => {
      if (snapshot !== null) {
        for (let i = oldFirst; i <= oldLast; i++) this.#log.removeSync(indexKey(i));
        this.#meta.putSync(SNAPSHOT, encodeSnapshot(snapshot));
        this.#meta.putSync(OFFSET, packr.pack([offset.index, offset.term]));
      }
      if (first !== undefined) {
        // The conflicting suffix: stored entries past the new last index are dropped, the rest
        // from the first new index on are overwritten.
        for (let i = newLast + 1; i <= lastBefore; i++) this.#log.removeSync(indexKey(i));
        for (const e of entries) this.#log.putSync(indexKey(e.index), encodeEntry(e));
      }
      if (hardState !== null) {
        this.#meta.putSync(HARD_STATE, packr.pack([hardState.term, BigInt(hardState.vote), hardState.commit]));
      }
    });
    if (snapshot !== null) {
      this.#snapshot = snapshot;
      this.#offset = offset;
    }
    if (snapshot !== null || first !== undefined) this.#last = newLast;
    if (hardState !== null) this.#hardState = hardState;
  }

  async createSnapshot(index: number, confState: ConfState, data: Uint8Array): Promise<void> {
    assert(index > this.#snapshot.metadata.index, `snapshot ${index} is not newer`);
    assert(index <= this.#last, `snapshot ${index} beyond last ${this.#last}`);
    const t = this.term(index);
    assert(typeof t === 'number', `snapshot ${index}: term ${String(t)}`);
    const snap: Snapshot = { metadata: { index, term: t, confState }, data };
    assert(index > this.#pending.snapshotIndex, `snapshot ${index} is not newer`);
    this.#pending.snapshotIndex = index;
    await this.#env.transaction(() => {
      this.#meta.putSync(SNAPSHOT, encodeSnapshot(snap));
    });
    this.#snapshot = snap;
  }

  async compact(index: number): Promise<void> {
    const offset = this.#offset.index;
    if (index <= offset) return;
    assert(index <= this.#last, `compact ${index} beyond last ${this.#last}`);
    const t = this.term(index);
    assert(typeof t === 'number', `compact ${index}: term ${String(t)}`);
    this.#pending.offset = Math.max(this.#pending.offset, index);
    await this.#env.transaction(() => {
      for (let i = offset + 1; i <= index; i++) this.#log.removeSync(indexKey(i));
      this.#meta.putSync(OFFSET, packr.pack([index, t]));
    });
    this.#offset = { index, term: t };
  }
}

function keyIndex(key: Uint8Array): number {
  assert(key.length === 8, `log key of ${key.length} bytes`);
  const view = new DataView(key.buffer, key.byteOffset, 8);
  return view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4);
}
