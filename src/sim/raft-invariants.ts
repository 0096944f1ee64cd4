/**
 * The safety properties of Raft (paper, Figure 3) as named checkers over observed members:
 * Election Safety, Leader Append-Only, Log Matching, Leader Completeness and State Machine
 * Safety. RaftInvariants.observe() is called after every simulation step; it does the work
 * incrementally (only entries that changed since the last observation are examined), and
 * fullCheck() re-examines every log completely. A violation throws InvariantViolation naming the
 * property.
 */
import { assert } from '../base/index.js';
import type { MemberId } from '../base/index.js';
import type { RoleName } from '../raft/index.js';

export type InvariantName =
  | 'Election Safety' | 'Leader Append-Only' | 'Log Matching' | 'Leader Completeness'
  | 'State Machine Safety' | 'Liveness';

export class InvariantViolation extends Error {
  override readonly name = 'InvariantViolation';
  readonly invariant: InvariantName;

  constructor(invariant: InvariantName, detail: string) {
    super(`${invariant} violated: ${detail}`);
    this.invariant = invariant;
  }
}

/** What the checkers need to see of one member. */
export interface RaftMemberView {
  readonly id: MemberId;
  readonly role: RoleName;
  readonly term: number;
  readonly commit: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  /** Term of entry i, for firstIndex - 1 <= i <= lastIndex; null otherwise. */
  termAt(i: number): number | null;
  /** A digest of entry i's type and data, for firstIndex <= i <= lastIndex. */
  digestAt(i: number): number;
}

/** FNV-1a over bytes, seeded: the digest used for entries and the state machine chain. */
export function fnv1a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

interface Shadow {
  /** Terms of entries as last observed, by index. */
  terms: Map<number, number>;
  last: number;
  leaderTerm: number;
  commitSeen: number;
}

interface LogFact {
  readonly prevTerm: number | null;
  readonly digest: number;
}

interface CommitFact {
  readonly term: number;
  /** The observer's term when the commit was seen: leaders of later terms must hold it. */
  readonly seenInTerm: number;
}

export class RaftInvariants {
  readonly #leaders = new Map<number, MemberId>();
  readonly #shadows = new Map<MemberId, Shadow>();
  readonly #entries = new Map<string, LogFact>();
  readonly #committed = new Map<number, CommitFact>();
  readonly #applied = new Map<number, number>();

  /** Examines every member after a step. */
  observe(members: readonly RaftMemberView[]): void {
    for (const m of members) {
      checkElectionSafety(this.#leaders, m);
      const shadow = this.#shadowOf(m.id);
      this.#checkLog(m, shadow, false);
      this.#recordCommits(m, shadow);
    }
    for (const m of members) {
      const shadow = this.#shadowOf(m.id);
      if (m.role === 'leader' && shadow.leaderTerm !== m.term) {
        checkLeaderCompleteness(this.#committed, m, 0);
        shadow.leaderTerm = m.term;
      } else if (m.role !== 'leader') {
        shadow.leaderTerm = 0;
      }
    }
  }

  /** Re-examines every entry of every log (cheap enough every few hundred steps). */
  fullCheck(members: readonly RaftMemberView[]): void {
    for (const m of members) {
      this.#checkLog(m, this.#shadowOf(m.id), true);
      if (m.role === 'leader') checkLeaderCompleteness(this.#committed, m, 0);
    }
  }

  /** A member crashed: what it had in memory is gone, its durable log will be observed anew. */
  forget(id: MemberId): void {
    const s = this.#shadows.get(id);
    if (s !== undefined) {
      s.leaderTerm = 0;
      s.commitSeen = 0;
    }
  }

  /** State Machine Safety: every member applies the same state (chain digest) at each index. */
  recordApplied(id: MemberId, index: number, chain: number): void {
    checkStateMachineSafety(this.#applied, id, index, chain);
  }

  #shadowOf(id: MemberId): Shadow {
    let s = this.#shadows.get(id);
    if (s === undefined) {
      s = { terms: new Map(), last: 0, leaderTerm: 0, commitSeen: 0 };
      this.#shadows.set(id, s);
    }
    return s;
  }

  #checkLog(m: RaftMemberView, s: Shadow, full: boolean): void {
    const first = m.firstIndex;
    // Walk down from the old end while terms differ: that is the part that changed.
    let changedFrom = Math.min(s.last, m.lastIndex) + 1;
    for (let i = changedFrom - 1; i >= first && m.termAt(i) !== s.terms.get(i); i--) changedFrom = i;
    const wasLeader = s.leaderTerm !== 0 && m.role === 'leader' && s.leaderTerm === m.term;
    if (wasLeader) checkLeaderAppendOnly(m, s.last, changedFrom, s.terms);
    for (let i = Math.max(full ? first : changedFrom, first); i <= m.lastIndex; i++) {
      const t = m.termAt(i);
      assert(t !== null, `member ${m.id} has no term at ${i} within [${first}, ${m.lastIndex}]`);
      checkLogMatching(this.#entries, m, i, t);
      s.terms.set(i, t);
    }
    for (let i = m.lastIndex + 1; i <= s.last; i++) s.terms.delete(i);
    s.last = m.lastIndex;
  }

  #recordCommits(m: RaftMemberView, s: Shadow): void {
    if (m.commit <= s.commitSeen) return;
    for (let i = Math.max(s.commitSeen + 1, m.firstIndex); i <= m.commit; i++) {
      const t = m.termAt(i);
      assert(t !== null, `member ${m.id} committed ${i} that it does not hold`);
      const known = this.#committed.get(i);
      if (known === undefined) this.#committed.set(i, { term: t, seenInTerm: m.term });
      else if (known.term !== t) {
        throw new InvariantViolation('State Machine Safety',
          `member ${m.id} committed term ${t} at index ${i}, another committed term ${known.term}`);
      }
    }
    s.commitSeen = m.commit;
  }
}

/** At most one leader can be elected in a given term (Figure 3). */
export function checkElectionSafety(leaders: Map<number, MemberId>, m: RaftMemberView): void {
  if (m.role !== 'leader') return;
  const known = leaders.get(m.term);
  if (known === undefined) leaders.set(m.term, m.id);
  else if (known !== m.id) {
    throw new InvariantViolation('Election Safety', `members ${known} and ${m.id} both led term ${m.term}`);
  }
}

/** A leader never overwrites or deletes entries in its log; it only appends (Figure 3). */
export function checkLeaderAppendOnly(
  m: RaftMemberView, previousLast: number, changedFrom: number, previous: Map<number, number>,
): void {
  if (m.lastIndex < previousLast) {
    throw new InvariantViolation('Leader Append-Only',
      `leader ${m.id} (term ${m.term}) shrank its log from ${previousLast} to ${m.lastIndex}`);
  }
  if (changedFrom <= previousLast && changedFrom >= m.firstIndex) {
    throw new InvariantViolation('Leader Append-Only',
      `leader ${m.id} (term ${m.term}) rewrote index ${changedFrom}: term ${previous.get(changedFrom)} -> ${m.termAt(changedFrom)}`);
  }
}

/**
 * If two logs contain an entry with the same index and term, the logs are identical in all
 * entries up through that index (Figure 3). Checked inductively: every (index, term) pair must
 * always come with the same data and the same previous term.
 */
export function checkLogMatching(facts: Map<string, LogFact>, m: RaftMemberView, i: number, t: number): void {
  const prevTerm = i - 1 >= m.firstIndex - 1 ? m.termAt(i - 1) : null;
  const digest = m.digestAt(i);
  const key = `${i}:${t}`;
  const known = facts.get(key);
  if (known === undefined) {
    facts.set(key, { prevTerm, digest });
    return;
  }
  if (known.digest !== digest) {
    throw new InvariantViolation('Log Matching', `member ${m.id}: entry ${t}/${i} has different data elsewhere`);
  }
  if (known.prevTerm !== null && prevTerm !== null && known.prevTerm !== prevTerm) {
    throw new InvariantViolation('Log Matching',
      `member ${m.id}: entry ${t}/${i} follows term ${prevTerm} here and ${known.prevTerm} elsewhere`);
  }
}

/**
 * If a log entry is committed in a given term, it is present in the logs of the leaders of all
 * higher terms (Figure 3). Entries the leader has compacted away were committed on it already.
 */
export function checkLeaderCompleteness(committed: Map<number, CommitFact>, m: RaftMemberView, from: number): void {
  if (m.role !== 'leader') return;
  for (const [i, fact] of committed) {
    if (i < from || i < m.firstIndex || fact.seenInTerm >= m.term) continue;
    const t = m.termAt(i);
    if (t !== fact.term) {
      throw new InvariantViolation('Leader Completeness',
        `leader ${m.id} of term ${m.term} has term ${t} at committed index ${i} (committed term ${fact.term})`);
    }
  }
}

/**
 * If a server has applied a log entry at a given index, no other server ever applies a
 * different entry for that index (Figure 3): compared through a chain digest of everything
 * applied up to the index, which also covers state installed from snapshots.
 */
export function checkStateMachineSafety(applied: Map<number, number>, id: MemberId, index: number, chain: number): void {
  const known = applied.get(index);
  if (known === undefined) applied.set(index, chain);
  else if (known !== chain) {
    throw new InvariantViolation('State Machine Safety',
      `member ${id} applied state ${chain.toString(16)} at ${index}, another applied ${known.toString(16)}`);
  }
}
