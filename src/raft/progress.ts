/**
 * The leader's view of each member (etcd's tracker): how far its log matches, what to send next,
 * and in which mode — probe (one append per heartbeat until a match is found), replicate
 * (optimistic pipelining up to a bounded window of in-flight appends) or snapshot (waiting for a
 * snapshot to land). Also the membership and the quorum arithmetic.
 */
import { assert } from '../base/index.js';
import type { MemberId } from '../base/index.js';
import type { ConfState } from './types.js';

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/**
 * The in-flight appends to one follower in replicate state, as the last index each carried.
 * Bounded by `capacity` (Config.maxInflightMessages): when full, the leader stops sending.
 */
export class Inflights {
  readonly capacity: number;
  #indexes: number[] = [];

  constructor(capacity: number) {
    assert(capacity > 0, 'inflight capacity must be positive');
    this.capacity = capacity;
  }

  get count(): number {
    return this.#indexes.length;
  }

  full(): boolean {
    return this.#indexes.length >= this.capacity;
  }

  add(lastIndex: number): void {
    assert(!this.full(), 'inflights: add while full');
    const prev = this.#indexes[this.#indexes.length - 1];
    assert(prev === undefined || lastIndex > prev, `inflights: ${lastIndex} after ${prev}`);
    this.#indexes.push(lastIndex);
  }

  /** Frees every in-flight append whose last index is <= `index` (acknowledged). */
  freeLE(index: number): void {
    let n = 0;
    while (n < this.#indexes.length && this.#indexes[n]! <= index) n++;
    if (n > 0) this.#indexes.splice(0, n);
  }

  /** Frees the oldest in-flight append (it may have been lost). */
  freeFirst(): void {
    this.#indexes.shift();
  }

  reset(): void {
    this.#indexes = [];
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last CheckQuorum round. */
  recentActive = false;
  /** In probe state: an append was sent and the next waits for a reply or a heartbeat. */
  probeSent = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(next: number, inflightCapacity: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(inflightCapacity);
    this.isLearner = isLearner;
  }

  #reset(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the follower has at least the snapshot's index; probe from there.
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.#reset('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.#reset('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.#reset('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.#reset('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** An acknowledgement up to n; false when it is stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * A rejection of the append at `rejected`, with the follower's hint of where its log may
   * match. False when the rejection is stale (answers an append we no longer wait for).
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), 1);
    this.probeSent = false;
    return true;
  }

  /** Records an append of `count` entries ending at `lastIndex` (count 0: an empty probe). */
  sentEntries(count: number, lastIndex: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    } else {
      assert(false, 'sending entries in snapshot state');
    }
  }

  /** Whether the leader must wait before sending this member more entries. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe': return this.probeSent;
      case 'replicate': return this.inflights.full();
      case 'snapshot': return true;
    }
  }
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** Membership, progress of every member, and votes of the current election. */
export class ProgressTracker {
  voters = new Set<MemberId>();
  learners = new Set<MemberId>();
  progress = new Map<MemberId, Progress>();
  votes = new Map<MemberId, boolean>();
  readonly inflightCapacity: number;

  constructor(inflightCapacity: number) {
    this.inflightCapacity = inflightCapacity;
  }

  confState(): ConfState {
    return { voters: [...this.voters].sort(cmp), learners: [...this.learners].sort(cmp) };
  }

  /** Replaces the membership (after a snapshot or at start); progress starts at `next`. */
  reset(cs: ConfState, next: number): void {
    this.voters = new Set(cs.voters);
    this.learners = new Set(cs.learners);
    for (const id of cs.learners) assert(!this.voters.has(id), `member ${id} is voter and learner`);
    this.progress = new Map();
    for (const id of cs.voters) this.progress.set(id, new Progress(next, this.inflightCapacity, false));
    for (const id of cs.learners) this.progress.set(id, new Progress(next, this.inflightCapacity, true));
    this.votes = new Map();
  }

  quorum(): number {
    return Math.floor(this.voters.size / 2) + 1;
  }

  /** One voter (learners aside, as in etcd-io/raft: they never count towards a quorum). */
  isSingleton(): boolean {
    return this.voters.size === 1;
  }

  /** The largest index replicated on a quorum of voters. */
  committed(): number {
    if (this.voters.size === 0) return 0;
    const matches: number[] = [];
    for (const id of this.voters) matches.push(this.progress.get(id)?.match ?? 0);
    matches.sort((a, b) => b - a);
    return matches[this.quorum() - 1]!;
  }

  recordVote(id: MemberId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  tallyVotes(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0, rejected = 0;
    for (const id of this.voters) {
      const v = this.votes.get(id);
      if (v === true) granted++;
      else if (v === false) rejected++;
    }
    const q = this.quorum();
    const missing = this.voters.size - granted - rejected;
    const result: VoteResult = granted >= q ? 'won' : granted + missing >= q ? 'pending' : 'lost';
    return { granted, rejected, result };
  }

  resetVotes(): void {
    this.votes = new Map();
  }

  /** CheckQuorum: were a quorum of voters (self counted by the caller) active recently? */
  quorumActive(self: MemberId): boolean {
    let active = 0;
    for (const id of this.voters) {
      if (id === self || this.progress.get(id)?.recentActive === true) active++;
    }
    return active >= this.quorum();
  }
}

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
