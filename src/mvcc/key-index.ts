/**
 * The key index in memory (etcd's treeIndex of keyIndex): every key, in key order, with the
 * revisions of its history that compaction kept. The backend stores only the revision records
 * (`rev`, keyed by revision, so a write appends to one end of one table); the index is derived
 * from them: built by one scan at first use, and kept current by the writer itself.
 *
 * Each thread shares one index per backend (`keyIndexOf`), so the apply loop's store and the
 * front's readers on one thread hold one copy. A thread that does not write (the front, when
 * apply runs on a worker) catches its copy up from the revision records when a read sees revisions
 * it has not indexed (`sync`). Because the writer's copy runs ahead of what is committed, every
 * read looks up the key's revision at the read's own revision, never "the newest".
 */
import { assert, compareBytes } from '../base/index.js';
import type { Backend, ReadTxn } from '../backend/index.js';
import { decodeKv, ownBytes, revKey, revKeyMain, revKeySub, TABLES } from './codec.js';
import type { MetaState } from './codec.js';
import { SortedMap } from './sorted-map.js';

export interface Found {
  readonly main: number;
  readonly sub: number;
  /** The create revision of the put's generation. */
  readonly created: number;
}

/** Number slots per history entry: main, sub, created (0 for a tombstone). */
const SLOTS = 3;

/**
 * One key's revisions, ascending (etcd's keyIndex generations, flattened): a put records the
 * create revision of its generation, a tombstone records 0 and ends the generation.
 */
export class KeyHistory {
  /** Flat (main, sub, created) triples. */
  private revs: number[] = [];

  constructor(readonly key: Uint8Array) {}

  get count(): number {
    return this.revs.length / SLOTS;
  }

  add(main: number, sub: number, created: number): void {
    const r = this.revs;
    const n = r.length;
    assert(n === 0 || r[n - 3]! < main || (r[n - 3] === main && r[n - 2]! < sub), 'revisions grow');
    r.push(main, sub, created);
  }

  /** Slot of the newest entry with main <= rev, or -1. */
  private atOrBelow(rev: number): number {
    const r = this.revs;
    let lo = 0;
    let hi = r.length / SLOTS;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid * SLOTS]! <= rev) lo = mid + 1;
      else hi = mid;
    }
    return (lo - 1) * SLOTS;
  }

  /** The put that holds the key's value at `rev`; undefined if the key is absent (or deleted) then. */
  findAt(rev: number): Found | undefined {
    const at = this.atOrBelow(rev);
    if (at < 0) return undefined;
    const r = this.revs;
    const created = r[at + 2]!;
    return created === 0 ? undefined : { main: r[at]!, sub: r[at + 1]!, created };
  }

  has(main: number, sub: number): boolean {
    const r = this.revs;
    for (let at = this.atOrBelow(main); at >= 0 && r[at] === main; at -= SLOTS) {
      if (r[at + 1] === sub) return true;
    }
    return false;
  }

  /**
   * etcd's compaction rule at revision `at`: keep every revision above `at`, and the newest at or
   * below `at` unless it is a tombstone. Returns whether anything is left.
   */
  compact(at: number): boolean {
    const newest = this.atOrBelow(at);
    if (newest < 0) return this.revs.length > 0;
    const keepFrom = this.revs[newest + 2] === 0 ? newest + SLOTS : newest;
    if (keepFrom > 0) this.revs = this.revs.slice(keepFrom);
    return this.revs.length > 0;
  }

  /** Every (main, sub, created) entry, oldest first (tests). */
  entries(): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    for (let i = 0; i < this.revs.length; i += SLOTS) {
      out.push([this.revs[i]!, this.revs[i + 1]!, this.revs[i + 2]!]);
    }
    return out;
  }
}

export class KeyIndex {
  private keys = new SortedMap<KeyHistory>();
  /** The newest revision indexed: every record up to it is in the index. */
  revision = 0;
  /** The revision the index was compacted at (-1: never). */
  compacted = -1;

  get size(): number {
    return this.keys.size;
  }

  get(key: Uint8Array): KeyHistory | undefined {
    return this.keys.get(key);
  }

  /** Histories of keys in [start, end) (end absent: to the last key), in key order. */
  *between(start: Uint8Array, end: Uint8Array | undefined): Generator<KeyHistory> {
    for (const [, h] of this.keys.range(start, end)) yield h;
  }

  /** Records a revision of `key` (bytes the index may keep: nobody mutates them). */
  add(key: Uint8Array, main: number, sub: number, created: number): KeyHistory {
    let h = this.keys.get(key);
    if (h === undefined) {
      h = new KeyHistory(key);
      this.keys.set(key, h);
    }
    h.add(main, sub, created);
    return h;
  }

  /** Compacts every key at `at` (etcd compacts its whole tree index in one step too). */
  compact(at: number): void {
    assert(at >= this.compacted, 'the index compacts forward');
    const emptied: Uint8Array[] = [];
    for (const h of this.keys.values()) if (!h.compact(at)) emptied.push(h.key);
    for (const key of emptied) this.keys.delete(key);
    this.compacted = at;
  }

  /**
   * Brings the index up to the state `txn` sees (whose meta is `meta`): the revisions it lacks
   * come from the revision records. If the view was compacted beyond what the index has seen,
   * records it never indexed may be gone (compaction deletes them), so it starts over.
   */
  sync(txn: ReadTxn, meta: MetaState): void {
    if (meta.current > this.revision) {
      if (meta.compacted > this.revision) {
        this.keys = new SortedMap();
        this.revision = 0;
        this.compacted = -1;
      }
      const range = txn.range(TABLES.rev, {
        start: revKey(this.revision + 1, 0), end: revKey(meta.current + 1, 0),
      });
      for (const e of range) {
        const rec = decodeKv(e.value);
        const created = 'tombstone' in rec ? 0 : rec.createRevision;
        this.add(ownBytes(rec.key), revKeyMain(e.key), revKeySub(e.key), created);
      }
      this.revision = meta.current;
    }
    if (meta.compacted > this.compacted) this.compact(meta.compacted);
  }

  /** Checks the index's structure (tests). */
  check(): void {
    this.keys.check();
    for (const [key, h] of this.keys.range(new Uint8Array(0))) {
      assert(compareBytes(key, h.key) === 0 && h.count > 0, 'every indexed key has a revision');
    }
  }
}

/**
 * What a backend's stores on one thread share: the backend's `indexIdentity` if it names one
 * (every LmdbBackend on an env and thread names the env), else the backend itself.
 */
const shared = new WeakMap<object, KeyIndex>();

/** The key index of `backend` on this thread, made (empty: its first sync builds it) on first use. */
export function keyIndexOf(backend: Backend): KeyIndex {
  const identity = backend.indexIdentity ?? backend;
  let index = shared.get(identity);
  if (index === undefined) {
    index = new KeyIndex();
    shared.set(identity, index);
  }
  return index;
}

/**
 * Forgets `backend`'s index on this thread, after a write that changed it was rolled back: the
 * next use builds a new one from what the backend holds.
 */
export function dropKeyIndex(backend: Backend): void {
  shared.delete(backend.indexIdentity ?? backend);
}
