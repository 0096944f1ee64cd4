/**
 * The front actor: the main thread's side of the pipeline. Client handlers call its methods;
 * it turns writes into Proposals for raft and answers each one when apply reports its result,
 * runs linearizable read barriers (one read-index round serves every read waiting when it
 * starts, etcd's linearizableReadLoop), and keeps what response headers need (term, leader,
 * applied index, revision, alarms). Every wait is bounded: pending proposals and reads have a
 * named maximum and a timeout, answered with etcd's errors.
 */
import { assert, assertNever } from '../../src/base/index.js';
import { EtcdError, type EtcdErrorCode } from '../../src/api/index.js';
import {
  Compactor, encodeProposal, type AlarmMember, type Command, type CommandResponse,
  type CompactionMode,
} from '../../src/apply/index.js';
import type { StoredMember } from '../../src/mvcc/index.js';
import type { ConfChange } from '../../src/raft/index.js';
import type { Actor, ActorContext, Address } from '../../src/runtime/index.js';
import type { WatchCreateRequest, WatchResponse } from '../../src/watch/index.js';
import type { FrontInbox } from './messages.js';
import type { LeaseAnswer } from '../lease/messages.js';

/** A lease actor's answer to a keepalive or time-to-live question. */
export type LeaseAnswerOk = Extract<LeaseAnswer, { ok: true }>;

export interface FrontOptions {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly raftAddress: Address;
  /** The lease actor (keepalives, time-to-live); absent when the member serves no leases. */
  readonly leaseAddress?: Address;
  /** The peer actor, with other members: a follower forwards lease questions to the leader. */
  readonly peerAddress?: Address;
  /** First proposal id: the proposer's wall clock in ms x 1000, so ids never repeat across restarts. */
  readonly proposalIdBase: number;
  /** etcd: 5 s + 2 x election timeout. */
  readonly requestTimeoutMs: number;
  /** Proposals waiting for apply, at most; more get "too many requests". */
  readonly pendingProposalsMax: number;
  /** Reads waiting for a read index, at most. */
  readonly pendingReadsMax: number;
  /** The applied index and revision the mvcc store had at start. */
  readonly applied: number;
  readonly revision: number;
  readonly alarms: readonly AlarmMember[];
  /** The member table at start (removed members included). */
  readonly members?: readonly StoredMember[];
  /** Told each time applied changes alter the member table (boot re-dials peers). */
  readonly onMembersChanged?: (members: readonly StoredMember[]) => void;
  /**
   * Told after each applied batch: boot catches the front's key index up with it, so a thread
   * that only reads never faces the whole backlog at its next read.
   */
  readonly onApplied?: () => void;
  /** etcd's --auto-compaction-mode and retention (ms or revisions); retention 0 turns it off. */
  readonly autoCompaction: { readonly mode: CompactionMode; readonly retention: number };
  /** The watch hub actor; absent when the member serves no watches. */
  readonly watchAddress?: Address;
  /** Client Watch streams open at once, at most. */
  readonly watchStreamsMax: number;
}

/** Where a watch stream's responses go: the transport side of one client Watch call. */
export type WatchSink = (responses: readonly WatchResponse[]) => void;

interface Pending<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (err: EtcdError) => void;
  readonly deadline: number;
}

interface ReadRound {
  readonly readId: number;
  readonly waiters: Pending<void>[];
}

const SWEEP_MS = 100;

/** etcd's readyPercent: a learner is promoted once its log holds 90% of the leader's. */
const LEARNER_READY_FRACTION = 0.9;

export class FrontActor implements Actor<FrontInbox> {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly #o: FrontOptions;
  #ctx: ActorContext<FrontInbox> | undefined;
  #nextId: number;
  #members: readonly StoredMember[] = [];
  #isLearner = false;
  #learners: Extract<FrontInbox, { type: 'front.raftState' }>['learners'];
  readonly #proposals = new Map<number, Pending<CommandResponse>>();
  /** The read round sent to raft, and reads that arrived after it was sent. */
  #round: ReadRound | null = null;
  #nextWaiters: Pending<void>[] = [];
  /** Rounds answered, waiting for apply to reach their index. */
  #parked: { index: number; waiters: Pending<void>[] }[] = [];
  #nextReadId = 1;
  /** Keepalive / time-to-live questions sent to the lease actor; bounded like proposals. */
  readonly #leaseRequests = new Map<number, Pending<LeaseAnswerOk>>();
  #keysPut = 0;
  #keysDeleted = 0;
  /** MoveLeader calls waiting to see their transferee lead, by transferee. */
  readonly #transfers: { readonly target: bigint; readonly pending: Pending<void> }[] = [];
  #nextLeaseRequestId = 1;
  #term = 0;
  #leader = 0n;
  #commit = 0;
  #applied: number;
  #revision: number;
  #alarms: readonly AlarmMember[];
  /** Proposals that never got an answer from apply (dropped by raft, timed out, stopped). */
  #proposalsFailed = 0;
  /** Changes to a known leader seen (etcd's leader_changes_seen_total). */
  #leaderChanges = 0;
  #compacted = 0;
  #compactor: Compactor | undefined;
  readonly #watchStreams = new Map<number, WatchSink>();
  #nextStreamId = 1;
  #stopped = false;

  constructor(options: FrontOptions) {
    assert(options.requestTimeoutMs > 0, 'requestTimeoutMs must be positive');
    assert(options.pendingProposalsMax > 0, 'pendingProposalsMax must be positive');
    this.#o = options;
    this.memberId = options.memberId;
    this.clusterId = options.clusterId;
    this.#nextId = options.proposalIdBase;
    this.#applied = options.applied;
    this.#revision = options.revision;
    this.#alarms = options.alarms;
    this.#setMembers(options.members ?? []);
  }

  get term(): number { return this.#term; }
  get leader(): bigint { return this.#leader; }
  get commitIndex(): number { return this.#commit; }
  get appliedIndex(): number { return this.#applied; }
  get revision(): number { return this.#revision; }
  get alarms(): readonly AlarmMember[] { return this.#alarms; }
  /**
   * etcd's isLearnerReady, as the leader sees it: the learner's match is at least 90% of the
   * leader's; undefined when this member does not lead (it cannot tell).
   */
  learnerReady(id: bigint): boolean | undefined {
    const l = this.#learners;
    if (this.#leader !== this.memberId || l === undefined) return undefined;
    const match = l.learners.find(([x]) => x === id)?.[1] ?? 0;
    return match >= l.leaderMatch * LEARNER_READY_FRACTION;
  }
  /** The member table as applied here (removed members included). */
  get members(): readonly StoredMember[] { return this.#members; }
  /** Whether this member is a learner (derived from the table when it changes, read per request). */
  get isLearner(): boolean { return this.#isLearner; }
  get proposalsPending(): number { return this.#proposals.size; }
  get proposalsFailed(): number { return this.#proposalsFailed; }
  /** Keys this member's store put and deleted since it started (etcd's mvcc counters). */
  get keysPut(): number { return this.#keysPut; }
  get keysDeleted(): number { return this.#keysDeleted; }
  get leaderChanges(): number { return this.#leaderChanges; }
  raftTerm(): number { return this.#term; }

  start(ctx: ActorContext<FrontInbox>): void {
    this.#ctx = ctx;
    const auto = this.#o.autoCompaction;
    if (auto.retention > 0) this.#compactor = new Compactor(auto.mode, auto.retention, ctx.now());
    ctx.setTimer(SWEEP_MS, { type: 'front.sweep' });
  }

  stop(): void {
    this.#stopped = true;
    this.#failAll('ErrStopped');
  }

  /** Proposes a write through raft; resolves with apply's result for it, or rejects with etcd's error. */
  propose(command: Command): Promise<CommandResponse> {
    const ctx = this.#ctx;
    if (ctx === undefined || this.#stopped) return Promise.reject(new EtcdError('ErrStopped'));
    if (this.#proposals.size >= this.#o.pendingProposalsMax) {
      return Promise.reject(new EtcdError('ErrTooManyRequests'));
    }
    const id = this.#nextId++;
    const data = encodeProposal({ id, origin: this.memberId, command });
    return new Promise<CommandResponse>((resolve, reject) => {
      this.#proposals.set(id, { resolve, reject, deadline: ctx.now() + this.#o.requestTimeoutMs });
      ctx.send(this.#o.raftAddress, { type: 'raft.propose', ids: [id], data: [data] });
    });
  }

  /**
   * Proposes a membership change made by `change` from the proposal id (its context names this
   * member and the id, so apply's answer comes back here); resolves with the member it wrote.
   */
  proposeMemberChange(change: (proposalId: number) => ConfChange): Promise<Extract<CommandResponse, { kind: 'member' }>> {
    const ctx = this.#ctx;
    if (ctx === undefined || this.#stopped) return Promise.reject(new EtcdError('ErrStopped'));
    if (this.#proposals.size >= this.#o.pendingProposalsMax) {
      return Promise.reject(new EtcdError('ErrTooManyRequests'));
    }
    const id = this.#nextId++;
    return new Promise<CommandResponse>((resolve, reject) => {
      this.#proposals.set(id, { resolve, reject, deadline: ctx.now() + this.#o.requestTimeoutMs });
      ctx.send(this.#o.raftAddress, { type: 'raft.proposeConfChange', id, change: change(id) });
    }).then((r) => {
      assert(r.kind === 'member', 'a membership proposal is answered with a member');
      return r;
    });
  }

  /**
   * Asks the lease actor to renew lease `id` (keepalive: TTL, 0 if gone) or for its remaining
   * TTL (-1 if gone), as of at least everything this member had applied when asked.
   */
  leaseRequest(op: 'renew' | 'timeToLive', id: bigint): Promise<LeaseAnswerOk> {
    const ctx = this.#ctx;
    const to = this.#o.leaseAddress;
    if (ctx === undefined || this.#stopped || to === undefined) {
      return Promise.reject(new EtcdError('ErrStopped'));
    }
    if (this.#leaseRequests.size >= this.#o.pendingProposalsMax) {
      return Promise.reject(new EtcdError('ErrTooManyRequests'));
    }
    const requestId = this.#nextLeaseRequestId++;
    // Only the leader's lease actor holds deadlines: a follower asks it (etcd forwards too).
    const leader = this.#leader;
    const peer = this.#o.peerAddress;
    const forward = peer !== undefined && leader !== 0n && leader !== this.#o.memberId;
    return new Promise<LeaseAnswerOk>((resolve, reject) => {
      this.#leaseRequests.set(requestId, { resolve, reject, deadline: ctx.now() + this.#o.requestTimeoutMs });
      if (forward) {
        ctx.send(peer, { type: 'peer.leaseRequest', to: leader, requestId, op, id, minApplied: this.#applied });
      } else {
        ctx.send(to, { type: 'lease.request', requestId, op, id, minApplied: this.#applied });
      }
    });
  }

  /**
   * Maintenance.MoveLeader on the leader: asks Raft to hand leadership to `target` and resolves
   * once this member sees `target` lead (etcd polls for the same), or fails with etcd's
   * ErrTimeoutLeaderTransfer after the request timeout.
   */
  moveLeader(target: bigint): Promise<void> {
    const ctx = this.#ctx;
    if (ctx === undefined || this.#stopped) return Promise.reject(new EtcdError('ErrStopped'));
    if (this.#leader === target) return Promise.resolve();
    if (this.#transfers.length >= this.#o.pendingReadsMax) return Promise.reject(new EtcdError('ErrTooManyRequests'));
    return new Promise<void>((resolve, reject) => {
      this.#transfers.push({ target, pending: { resolve, reject, deadline: ctx.now() + this.#o.requestTimeoutMs } });
      ctx.send(this.#o.raftAddress, { type: 'raft.transferLeader', transferee: target });
    });
  }

  /** `propose`, asserting that apply answered with the same kind of command. */
  async proposeAs<K extends CommandResponse['kind']>(command: Command, kind: K):
    Promise<Extract<CommandResponse, { kind: K }>> {
    return answerOf(await this.propose(command), kind);
  }

  /** Resolves once this member has applied everything committed when the call was made. */
  readBarrier(): Promise<void> {
    const ctx = this.#ctx;
    if (ctx === undefined || this.#stopped) return Promise.reject(new EtcdError('ErrStopped'));
    if (this.#readsWaiting() >= this.#o.pendingReadsMax) {
      return Promise.reject(new EtcdError('ErrTooManyRequests'));
    }
    return new Promise<void>((resolve, reject) => {
      this.#nextWaiters.push({ resolve, reject, deadline: ctx.now() + this.#o.requestTimeoutMs });
      if (this.#round === null) this.#startRound(ctx);
    });
  }

  /** Opens a watch stream whose responses go to `sink`; returns its id. */
  openWatchStream(sink: WatchSink): number {
    const ctx = this.#ctx;
    const to = this.#o.watchAddress;
    if (ctx === undefined || this.#stopped || to === undefined) throw new EtcdError('ErrStopped');
    if (this.#watchStreams.size >= this.#o.watchStreamsMax) throw new EtcdError('ErrTooManyRequests');
    const streamId = this.#nextStreamId++;
    this.#watchStreams.set(streamId, sink);
    ctx.send(to, { type: 'watch.openStream', streamId });
    return streamId;
  }

  /** Forwards one client request of an open watch stream to the hub. */
  watchRequest(streamId: number, request:
    | { readonly kind: 'create'; readonly request: WatchCreateRequest }
    | { readonly kind: 'cancel'; readonly watchId: number }
    | { readonly kind: 'progress' }): void {
    const ctx = this.#ctx;
    const to = this.#o.watchAddress;
    if (ctx === undefined || to === undefined || !this.#watchStreams.has(streamId)) return;
    switch (request.kind) {
      case 'create': ctx.send(to, { type: 'watch.create', streamId, request: request.request }); return;
      case 'cancel': ctx.send(to, { type: 'watch.cancel', streamId, watchId: request.watchId }); return;
      case 'progress': ctx.send(to, { type: 'watch.progress', streamId }); return;
      default: assertNever(request, 'watch request');
    }
  }

  /** The transport wrote `count` more responses of the stream. */
  watchAcked(streamId: number, count: number): void {
    const to = this.#o.watchAddress;
    if (this.#ctx === undefined || to === undefined || !this.#watchStreams.has(streamId)) return;
    this.#ctx.send(to, { type: 'watch.acked', streamId, count });
  }

  closeWatchStream(streamId: number): void {
    const to = this.#o.watchAddress;
    if (!this.#watchStreams.delete(streamId) || this.#ctx === undefined || to === undefined) return;
    this.#ctx.send(to, { type: 'watch.closeStream', streamId });
  }

  receive(message: FrontInbox, ctx: ActorContext<FrontInbox>): void {
    switch (message.type) {
      case 'front.watchResponses':
        this.#watchStreams.get(message.streamId)?.(message.responses);
        return;
      case 'front.applied':
        this.#onApplied(message);
        return;
      case 'front.readIndexed': {
        const round = this.#round;
        if (round === null || round.readId !== message.readId) return; // a round that timed out
        this.#round = null;
        if (message.index <= this.#applied) for (const w of round.waiters) w.resolve();
        else this.#parked.push({ index: message.index, waiters: round.waiters });
        if (this.#nextWaiters.length > 0) this.#startRound(ctx);
        return;
      }
      case 'front.readFailed': {
        const round = this.#round;
        if (round === null || round.readId !== message.readId) return;
        this.#round = null;
        for (const w of round.waiters) w.reject(new EtcdError(message.code));
        if (this.#nextWaiters.length > 0) this.#startRound(ctx);
        return;
      }
      case 'front.proposalsDropped':
        for (const id of message.ids) {
          const p = this.#take(id);
          if (p === undefined) continue;
          this.#proposalsFailed++;
          p.reject(new EtcdError(message.code));
        }
        return;
      case 'front.raftState':
        if (message.leader !== this.#leader) {
          this.#compactor?.reset(ctx.now());
          if (message.leader !== 0n) this.#leaderChanges++;
        }
        this.#term = message.term;
        this.#leader = message.leader;
        this.#commit = message.commit;
        this.#learners = message.learners;
        for (let i = this.#transfers.length - 1; i >= 0; i--) {
          const w = this.#transfers[i]!;
          if (w.target !== message.leader) continue;
          this.#transfers.splice(i, 1);
          w.pending.resolve();
        }
        return;
      case 'front.leaseAnswered': {
        const p = this.#leaseRequests.get(message.requestId);
        if (p === undefined) return; // timed out already
        this.#leaseRequests.delete(message.requestId);
        const a = message.answer;
        if (a.ok) p.resolve(a);
        // A follower cannot renew: etcd forwards to the leader; without one it is "no leader".
        else p.reject(new EtcdError(a.code === 'ErrNotPrimary'
          ? (this.#leader === 0n ? 'ErrNoLeader' : 'ErrNotLeader') : a.code));
        return;
      }
      case 'front.sweep':
        this.#sweep(ctx.now());
        this.#autoCompact(ctx);
        ctx.setTimer(SWEEP_MS, { type: 'front.sweep' });
        return;
      default:
        assertNever(message, 'front message');
    }
  }

  #onApplied(m: Extract<FrontInbox, { type: 'front.applied' }>): void {
    this.#keysPut += m.putEvents ?? 0;
    this.#keysDeleted += m.deleteEvents ?? 0;
    if (m.appliedIndex >= 0) {
      this.#applied = Math.max(this.#applied, m.appliedIndex);
      this.#revision = Math.max(this.#revision, m.revision);
      this.#alarms = m.alarms;
      this.#compacted = Math.max(this.#compacted, m.compacted);
      this.#o.onApplied?.();
    }
    if (m.members !== undefined) {
      this.#setMembers(m.members);
      this.#o.onMembersChanged?.(m.members);
    }
    const puts = m.puts;
    for (let i = 0; i < puts.length; i += 2) {
      const p = this.#take(puts[i]!);
      p?.resolve({ kind: 'put', response: { header: { revision: puts[i + 1]! } } });
    }
    for (const r of m.results) {
      const p = this.#take(r.id);
      const outcome = r.outcome;
      if ('ok' in outcome && outcome.ok === false) p?.reject(new EtcdError(outcome.code as EtcdErrorCode));
      else p?.resolve(outcome as CommandResponse);
    }
    if (this.#parked.length > 0) {
      const still: { index: number; waiters: Pending<void>[] }[] = [];
      for (const parked of this.#parked) {
        if (parked.index <= this.#applied) for (const w of parked.waiters) w.resolve();
        else still.push(parked);
      }
      this.#parked = still;
    }
  }

  #setMembers(members: readonly StoredMember[]): void {
    this.#members = members;
    this.#isLearner = members.some((m) => m.id === this.memberId && m.isLearner && !m.removed);
  }

  /** The leader proposes the compactions its policy asks for; failures only get logged. */
  #autoCompact(ctx: ActorContext<FrontInbox>): void {
    if (this.#compactor === undefined || this.#leader !== this.memberId) return;
    const target = this.#compactor.tick(ctx.now(), this.#revision, this.#compacted);
    if (target === null) return;
    ctx.logger.info('starting auto compaction', { revision: target });
    this.propose({ kind: 'compact', req: { revision: target } }).then(
      () => ctx.logger.info('finished auto compaction', { revision: target }),
      (err: unknown) => ctx.logger.warn('auto compaction failed', { revision: target, error: String(err) }),
    );
  }

  /**
   * The pending proposal `id`, removed; undefined if answered already (timed out) or proposed by
   * an earlier process.
   */
  #take(id: number): Pending<CommandResponse> | undefined {
    const p = this.#proposals.get(id);
    if (p !== undefined) this.#proposals.delete(id);
    return p;
  }

  #startRound(ctx: ActorContext<FrontInbox>): void {
    const readId = this.#nextReadId++;
    this.#round = { readId, waiters: this.#nextWaiters };
    this.#nextWaiters = [];
    ctx.send(this.#o.raftAddress, { type: 'raft.readIndex', readId });
  }

  #readsWaiting(): number {
    let n = this.#nextWaiters.length + (this.#round?.waiters.length ?? 0);
    for (const p of this.#parked) n += p.waiters.length;
    return n;
  }

  /** Fails whatever outlived its deadline with etcd's "request timed out". */
  #sweep(now: number): void {
    for (let i = this.#transfers.length - 1; i >= 0; i--) {
      const w = this.#transfers[i]!;
      if (w.pending.deadline > now) continue;
      this.#transfers.splice(i, 1);
      w.pending.reject(new EtcdError('ErrTimeoutLeaderTransfer'));
    }
    for (const [id, p] of this.#leaseRequests) {
      if (p.deadline > now) continue;
      this.#leaseRequests.delete(id);
      p.reject(new EtcdError(this.#leader === 0n ? 'ErrNoLeader' : 'ErrTimeout'));
    }
    for (const [id, p] of this.#proposals) {
      if (p.deadline <= now) {
        this.#proposals.delete(id);
        this.#proposalsFailed++;
        p.reject(new EtcdError(this.#leader === 0n ? 'ErrNoLeader' : 'ErrTimeout'));
      }
    }
    const expire = (waiters: Pending<void>[]): Pending<void>[] => waiters.filter((w) => {
      if (w.deadline > now) return true;
      w.reject(new EtcdError(this.#leader === 0n ? 'ErrNoLeader' : 'ErrTimeout'));
      return false;
    });
    this.#nextWaiters = expire(this.#nextWaiters);
    if (this.#round !== null && this.#round.waiters.every((w) => w.deadline <= now)) {
      expire(this.#round.waiters);
      this.#round = null;
      if (this.#nextWaiters.length > 0 && this.#ctx !== undefined) this.#startRound(this.#ctx);
    }
    this.#parked = this.#parked
      .map((p) => ({ index: p.index, waiters: expire(p.waiters) }))
      .filter((p) => p.waiters.length > 0);
  }

  #failAll(code: EtcdErrorCode): void {
    for (const p of this.#leaseRequests.values()) p.reject(new EtcdError(code));
    this.#leaseRequests.clear();
    for (const p of this.#proposals.values()) p.reject(new EtcdError(code));
    this.#proposals.clear();
    for (const w of this.#transfers.splice(0)) w.pending.reject(new EtcdError(code));
    const all = [...this.#nextWaiters, ...(this.#round?.waiters ?? []), ...this.#parked.flatMap((p) => p.waiters)];
    for (const w of all) w.reject(new EtcdError(code));
    this.#nextWaiters = [];
    this.#round = null;
    this.#parked = [];
  }
}

/** Apply's answer to a proposal, asserted to be of the kind proposed. */
export function answerOf<K extends CommandResponse['kind']>(r: CommandResponse, kind: K):
  Extract<CommandResponse, { kind: K }> {
  if (r.kind !== kind) throw new Error(`apply answered ${r.kind} to a ${kind}`);
  return r as Extract<CommandResponse, { kind: K }>;
}
