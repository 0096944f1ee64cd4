/**
 * RaftLog: the log as the core sees it, stable entries in RaftStorage followed by unstable ones
 * (appended but not yet reported durable by advance()), with the commit and apply cursors.
 * Invariants: applied <= committed <= lastIndex(); unstable entries start at `offset`, right
 * after the stable ones or overlapping them (a conflicting suffix not yet replaced on disk).
 */
import { assert } from '../base/index.js';
import type { Entry, Snapshot } from './types.js';
import type { RaftStorageReader, StorageError } from './storage.js';
import { assertContiguous, entrySize, limitSize } from './storage.js';

export class RaftLog {
  readonly storage: RaftStorageReader;
  /** Unstable snapshot, from a leader's MsgSnap, waiting to be persisted. */
  unstableSnapshot: Snapshot | null = null;
  /** Unstable entries; the first has index `offset`. */
  unstable: Entry[] = [];
  offset: number;
  committed: number;
  /** Highest index handed to the application in a Ready (not necessarily applied yet). */
  applying: number;
  /** Highest index the application reported applied (through advance). */
  applied: number;
  readonly maxCommittedBytesPerReady: number;

  constructor(storage: RaftStorageReader, maxCommittedBytesPerReady: number) {
    this.storage = storage;
    this.maxCommittedBytesPerReady = maxCommittedBytesPerReady;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.offset = last + 1;
    // The snapshot's index is committed and applied by definition.
    this.committed = first - 1;
    this.applying = first - 1;
    this.applied = first - 1;
  }

  firstIndex(): number {
    if (this.unstableSnapshot !== null) return this.unstableSnapshot.metadata.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.offset + this.unstable.length - 1;
    if (this.unstableSnapshot !== null) return this.unstableSnapshot.metadata.index;
    return this.storage.lastIndex();
  }

  /** Last index known durable: before any unstable entry or snapshot. */
  stableLastIndex(): number {
    if (this.unstableSnapshot !== null) return this.unstableSnapshot.metadata.index - 1;
    if (this.unstable.length > 0) return this.offset - 1;
    return this.storage.lastIndex();
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(typeof t === 'number', `last term unavailable: ${String(t)}`);
    return t;
  }

  term(i: number): number | StorageError {
    if (i >= this.offset && i < this.offset + this.unstable.length) {
      return this.unstable[i - this.offset]!.term;
    }
    const snap = this.unstableSnapshot;
    if (snap !== null) {
      if (i === snap.metadata.index) return snap.metadata.term;
      if (i < snap.metadata.index) return 'ErrCompacted';
    }
    if (i > this.lastIndex()) return 'ErrUnavailable';
    return this.storage.term(i);
  }

  /** Term of i, or 0 when it is compacted or unavailable (etcd's zeroTermOnOutOfBounds). */
  termOrZero(i: number): number {
    const t = this.term(i);
    return typeof t === 'number' ? t : 0;
  }

  matchTerm(i: number, t: number): boolean {
    const ours = this.term(i);
    return typeof ours === 'number' && ours === t;
  }

  /** Raft section 5.4.1: a log is at least as up to date as ours by (last term, last index). */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * A follower's append (Figure 2, AppendEntries receiver rules 2-5). Returns the index of the
   * last new entry, or null when the log does not contain an entry at `index` with `logTerm`.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]): number | null {
    if (!this.matchTerm(index, logTerm)) return null;
    const lastNew = index + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      assert(conflict > this.committed, `conflict at ${conflict} with committed ${this.committed}`);
      this.append(ents.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /**
   * The first index where `ents` disagree with the log in term, or the first new index when they
   * only extend it, or 0 when all of them are already present.
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term: where a rejected
   * leader should probe next (etcd's fast log backtracking).
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (let i = index; i > 0; i--) {
      const ours = this.term(i);
      if (typeof ours !== 'number') return { index: i, term: 0 };
      if (ours <= term) return { index: i, term: ours };
    }
    return { index: 0, term: 0 };
  }

  /** Appends entries after truncating any conflicting suffix; returns the new last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    assertContiguous(ents, 'log append');
    const first = ents[0]!.index;
    assert(first - 1 >= this.committed, `append at ${first} would rewrite committed ${this.committed}`);
    const end = this.offset + this.unstable.length;
    if (first === end) {
      for (const e of ents) this.unstable.push(e);
    } else if (first <= this.offset) {
      // Replaces all unstable entries (and a stable suffix, which the next persist replaces).
      this.offset = first;
      this.unstable = [...ents];
    } else {
      assert(first < end, `append at ${first} leaves a gap after ${end - 1}`);
      this.unstable = this.unstable.slice(0, first - this.offset);
      for (const e of ents) this.unstable.push(e);
    }
    return this.lastIndex();
  }

  /** Entries [lo, hi) from storage and the unstable tail, cut after maxBytes (>= 1 entry). */
  slice(lo: number, hi: number, maxBytes: number): readonly Entry[] | 'ErrCompacted' {
    assert(lo <= hi, `slice lo ${lo} > hi ${hi}`);
    if (lo === hi) return [];
    assert(hi <= this.lastIndex() + 1, `slice hi ${hi} beyond last ${this.lastIndex()}`);
    if (lo < this.firstIndex()) return 'ErrCompacted';
    let out: Entry[] = [];
    if (lo < this.offset) {
      const stable = this.storage.entries(lo, Math.min(hi, this.offset), maxBytes);
      if (stable === 'ErrCompacted') return stable;
      if (stable.length < Math.min(hi, this.offset) - lo) return stable; // cut by maxBytes
      out = [...stable];
    }
    if (hi > this.offset) {
      const from = Math.max(lo, this.offset);
      for (let i = from; i < hi; i++) out.push(this.unstable[i - this.offset]!);
    }
    return limitSize(out, maxBytes);
  }

  /** Entries from i to the end, cut after maxBytes. */
  entries(i: number, maxBytes: number): readonly Entry[] | 'ErrCompacted' {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1, maxBytes);
  }

  commitTo(tocommit: number): void {
    if (tocommit <= this.committed) return;
    assert(tocommit <= this.lastIndex(), `commit ${tocommit} beyond last ${this.lastIndex()}`);
    this.committed = tocommit;
  }

  /**
   * The leader's commit rule (section 5.4.2): an index replicated on a quorum is committed by
   * counting only if its entry is from the current term.
   */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > this.applying && this.unstableSnapshot === null;
  }

  /** The next committed entries to apply, bounded by maxCommittedBytesPerReady. */
  nextCommittedEntries(): readonly Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const lo = Math.max(this.applying + 1, this.firstIndex());
    const got = this.slice(lo, this.committed + 1, this.maxCommittedBytesPerReady);
    assert(got !== 'ErrCompacted', `committed entries from ${lo} were compacted`);
    return got;
  }

  /** Uncommitted entries' size counted against the leader's limit. */
  static sizeOf(ents: readonly Entry[]): number {
    let n = 0;
    for (const e of ents) n += entrySize(e);
    return n;
  }

  acceptApplying(index: number): void {
    assert(index <= this.committed, `applying ${index} beyond committed ${this.committed}`);
    if (index > this.applying) this.applying = index;
  }

  appliedTo(index: number): void {
    if (index === 0 || index <= this.applied) return;
    assert(index <= this.committed, `applied ${index} beyond committed ${this.committed}`);
    this.applied = index;
    if (this.applying < index) this.applying = index;
  }

  /** advance(): entries up to (i, t) are durable; drop them from the unstable tail. */
  stableTo(i: number, t: number): void {
    if (i < this.offset) return;
    const at = i - this.offset;
    if (at >= this.unstable.length) return;
    // A newer leader may have replaced the entry meanwhile; then it is not yet durable.
    if (this.unstable[at]!.term !== t) return;
    this.unstable = this.unstable.slice(at + 1);
    this.offset = i + 1;
  }

  stableSnapTo(i: number): void {
    if (this.unstableSnapshot !== null && this.unstableSnapshot.metadata.index === i) {
      this.unstableSnapshot = null;
    }
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  restore(s: Snapshot): void {
    const index = s.metadata.index;
    assert(index > this.committed, `restore ${index} at or below committed ${this.committed}`);
    this.committed = index;
    this.unstableSnapshot = s;
    this.unstable = [];
    this.offset = index + 1;
  }

  /** The snapshot to send a lagging follower: the unstable one, or the storage's. */
  snapshot(): Snapshot {
    return this.unstableSnapshot ?? this.storage.snapshot();
  }
}
