/**
 * RawNode: the core's whole surface for a shell (etcd's rawnode.go). The shell feeds it ticks,
 * peer messages and client requests, and drains Ready values (see the Ready type for the order
 * in which they must be handled), acknowledging each with advance(). RawNode does no I/O.
 */
import { assert } from '../base/index.js';
import type { MemberId } from '../base/index.js';
import type { RaftConfig } from './config.js';
import { encodeConfChange } from './conf-change.js';
import { isLocalMessage, isResponseMessage, message, Raft } from './raft.js';
import type {
  ConfChange, ConfState, Entry, HardState, Message, Ready, RoleName, SoftState, StepResult,
} from './types.js';

export interface RaftStatus {
  readonly id: MemberId;
  readonly term: number;
  readonly vote: MemberId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly lead: MemberId;
  readonly role: RoleName;
}

const NO_LEARNERS = { leaderMatch: 0, learners: [] } as const;

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/**
 * Whether persisting this Ready needs an fsync: new entries, a snapshot, or a changed term or
 * vote do; a hard state whose only change is the commit index does not (it is recomputable).
 */
export function mustSync(rd: Ready, previous: HardState): boolean {
  if (rd.entries.length > 0 || rd.snapshot !== null) return true;
  const hs = rd.hardState;
  return hs !== null && (hs.term !== previous.term || hs.vote !== previous.vote);
}

export class RawNode {
  readonly raft: Raft;
  #prevSoft: SoftState;
  #prevHard: HardState;
  #outstanding: Ready | null = null;

  constructor(config: RaftConfig) {
    this.raft = new Raft(config);
    this.#prevSoft = this.raft.softState();
    this.#prevHard = this.raft.hardState();
  }

  get id(): MemberId {
    return this.raft.id;
  }

  tick(): void {
    this.raft.tick();
  }

  /** Starts an election now (tests and leader-less bootstrap). */
  campaign(): StepResult {
    return this.raft.step(message({ type: 'MsgHup', to: this.id, from: this.id }));
  }

  /** Proposes entries' data in one message (one batch): a follower forwards it to the leader. */
  propose(data: readonly Uint8Array[]): StepResult {
    const entries: Entry[] = data.map((d) => ({ term: 0, index: 0, type: 'normal', data: d }));
    return this.raft.step(message({ type: 'MsgProp', to: this.id, from: this.id, entries }));
  }

  proposeConfChange(cc: ConfChange): StepResult {
    const entries: Entry[] = [{ term: 0, index: 0, type: 'confChange', data: encodeConfChange(cc) }];
    return this.raft.step(message({ type: 'MsgProp', to: this.id, from: this.id, entries }));
  }

  /** Asks for a read index; the answer arrives as a ReadState carrying `requestCtx`. */
  readIndex(requestCtx: Uint8Array): StepResult {
    assert(requestCtx.length > 0, 'read index needs a non-empty request context');
    return this.raft.step(message({ type: 'MsgReadIndex', to: this.id, from: this.id, context: requestCtx }));
  }

  /** Asks the leader to hand leadership to `transferee`. */
  transferLeader(transferee: MemberId): StepResult {
    return this.raft.step(message({ type: 'MsgTransferLeader', to: this.id, from: transferee }));
  }

  /** A message from a peer. Local-only message types from the network are refused. */
  step(m: Message): StepResult {
    if (isLocalMessage(m.type)) return { ok: false, code: 'ErrStepLocalMsg', why: `${m.type} is local` };
    if (isResponseMessage(m.type) && !this.raft.tracker.progress.has(m.from)) {
      return { ok: false, code: 'ErrStepPeerNotFound', why: `no progress for ${m.from}` };
    }
    assert(m.to === this.id, `message for ${m.to} stepped into ${this.id}`);
    return this.raft.step(m);
  }

  reportUnreachable(id: MemberId): void {
    this.raft.step(message({ type: 'MsgUnreachable', to: this.id, from: id }));
  }

  /** The transport delivered (ok) or failed to deliver a snapshot to `id`. */
  reportSnapshot(id: MemberId, ok: boolean): void {
    this.raft.step(message({ type: 'MsgSnapStatus', to: this.id, from: id, reject: !ok }));
  }

  applyConfChange(cc: ConfChange): ConfState {
    return this.raft.applyConfChange(cc);
  }

  hasReady(): boolean {
    const r = this.raft;
    if (this.#outstanding !== null) return false;
    const soft = r.softState();
    if (soft.lead !== this.#prevSoft.lead || soft.role !== this.#prevSoft.role) return true;
    if (!sameHardState(r.hardState(), this.#prevHard)) return true;
    if (r.log.unstableSnapshot !== null || r.log.unstable.length > 0) return true;
    if (r.msgs.length > 0 || r.msgsAfterPersist.length > 0 || r.readStates.length > 0) return true;
    if (r.hasUnsentReads()) return true;
    return r.log.hasNextCommittedEntries();
  }

  /** The next batch of work; call advance(ready) once it is handled. */
  ready(): Ready {
    assert(this.#outstanding === null, 'ready() called again before advance()');
    const r = this.raft;
    r.flushReadRounds();
    const soft = r.softState();
    const hard = r.hardState();
    const softChanged = soft.lead !== this.#prevSoft.lead || soft.role !== this.#prevSoft.role;
    const hardChanged = !sameHardState(hard, this.#prevHard);
    const committedEntries = r.log.nextCommittedEntries();
    const last = committedEntries[committedEntries.length - 1];
    if (last !== undefined) {
      r.log.acceptApplying(last.index);
      r.reduceUncommitted(committedEntries);
    }
    const rd: Ready = {
      softState: softChanged ? soft : null,
      hardState: hardChanged ? hard : null,
      entries: [...r.log.unstable],
      snapshot: r.log.unstableSnapshot,
      committedEntries,
      messages: r.msgs,
      messagesAfterPersist: r.msgsAfterPersist,
      readStates: r.readStates,
    };
    r.msgs = [];
    r.msgsAfterPersist = [];
    r.readStates = [];
    if (softChanged) this.#prevSoft = soft;
    if (hardChanged) this.#prevHard = hard;
    this.#outstanding = rd;
    return rd;
  }

  /** The Ready was persisted, sent and applied (see Ready for the order). */
  advance(rd: Ready): void {
    assert(this.#outstanding === rd, 'advance() of a Ready that is not outstanding');
    this.#outstanding = null;
    const r = this.raft;
    if (rd.snapshot !== null) {
      const index = rd.snapshot.metadata.index;
      r.log.stableSnapTo(index);
      r.log.appliedTo(index);
    }
    const lastEntry = rd.entries[rd.entries.length - 1];
    if (lastEntry !== undefined) {
      r.log.stableTo(lastEntry.index, lastEntry.term);
      r.onPersisted(lastEntry.index, lastEntry.term);
    }
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied !== undefined) r.log.appliedTo(lastApplied.index);
  }

  /** The hard state as of the last Ready handed out (what the shell has persisted or is persisting). */
  lastHardState(): HardState {
    return this.#prevHard;
  }

  /**
   * The leader's view of its learners' progress: [learner, match] pairs and its own match (etcd's
   * MemberPromote readiness); empty unless this node leads.
   */
  learnerProgress(): { readonly leaderMatch: number; readonly learners: ReadonlyArray<readonly [MemberId, number]> } {
    const r = this.raft;
    const t = r.tracker;
    // Called once per Ready by the raft actor: nothing is allocated in the usual case.
    if (r.role !== 'leader' || t.learners.size === 0) return NO_LEARNERS;
    const learners = [...t.learners].map((id) => [id, t.progress.get(id)?.match ?? 0] as const);
    return { leaderMatch: t.progress.get(r.id)?.match ?? 0, learners };
  }

  status(): RaftStatus {
    const r = this.raft;
    return {
      id: r.id, term: r.term, vote: r.vote, commit: r.log.committed, applied: r.log.applied,
      lastIndex: r.log.lastIndex(), lead: r.lead, role: r.role,
    };
  }
}

