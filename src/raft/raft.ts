/**
 * Raft: the consensus state machine, pure. It takes messages (step) and ticks (tick) and queues
 * what to send; RawNode packs its output into Ready values. Structure follows etcd-io/raft: a role
 * change installs that role's step and tick handlers (becomeLeader installs stepLeader and
 * tickHeartbeat) and asserts the transition is legal; nothing branches on the role afterwards
 * except through those handlers.
 *
 * Extensions beyond the paper, both on by default: PreVote (a candidate first asks whether it
 * could win, without raising its term) and CheckQuorum (a leader that has not heard from a quorum
 * for an election timeout steps down, and followers that heard from a leader within the timeout
 * ignore vote requests).
 */
import { assert, assertNever } from '../base/index.js';
import type { Logger, MemberId, Rng } from '../base/index.js';
import type { RaftConfig, ResolvedRaftConfig } from './config.js';
import { resolveRaftConfig } from './config.js';
import { decodeConfChange } from './conf-change.js';
import { RaftLog } from './log.js';
import { Progress, ProgressTracker } from './progress.js';
import type {
  ConfChange, ConfState, Entry, HardState, Message, MessageType, ReadState, RoleName,
  SoftState, StepResult,
} from './types.js';
import { NONE, STEP_OK } from './types.js';

/** Context of a vote request sent on the leader's MsgTimeoutNow: skip leases and PreVote. */
export const CAMPAIGN_TRANSFER = Uint8Array.of(0x74); // 't'

/** ReadIndex rounds waiting for heartbeat acknowledgements at once (older ones are dropped). */
export const READ_ROUNDS_MAX = 1024;
/** Reads queued until the new leader commits its first entry. */
export const PENDING_READS_MAX = 4096;

type StepFn = (m: Message) => StepResult;

export interface MessageFields {
  readonly type: MessageType;
  readonly to: MemberId;
  readonly from?: MemberId;
  readonly term?: number;
  readonly logTerm?: number;
  readonly index?: number;
  readonly entries?: readonly Entry[];
  readonly commit?: number;
  readonly reject?: boolean;
  readonly rejectHint?: number;
  readonly snapshot?: Message['snapshot'];
  readonly context?: Uint8Array | null;
}

/** Builds a message, every unset field at its zero value. */
export function message(f: MessageFields): Message {
  return {
    type: f.type, to: f.to, from: f.from ?? NONE, term: f.term ?? 0, logTerm: f.logTerm ?? 0,
    index: f.index ?? 0, entries: f.entries ?? [], commit: f.commit ?? 0, reject: f.reject ?? false,
    rejectHint: f.rejectHint ?? 0, snapshot: f.snapshot ?? null, context: f.context ?? null,
  };
}

/** Messages that promise something about the sender's durable term, vote or log. */
const AFTER_PERSIST = new Set<MessageType>(['MsgAppResp', 'MsgVote', 'MsgVoteResp']);
const LOCAL_ONLY = new Set<MessageType>(['MsgHup', 'MsgBeat', 'MsgCheckQuorum', 'MsgUnreachable', 'MsgSnapStatus']);
const RESPONSES = new Set<MessageType>(['MsgAppResp', 'MsgVoteResp', 'MsgPreVoteResp', 'MsgHeartbeatResp', 'MsgUnreachable', 'MsgSnapStatus']);

export function isLocalMessage(t: MessageType): boolean {
  return LOCAL_ONLY.has(t);
}
export function isResponseMessage(t: MessageType): boolean {
  return RESPONSES.has(t);
}

interface ReadRequest {
  readonly from: MemberId;
  readonly ctx: Uint8Array;
}

interface ReadRound {
  readonly seq: number;
  readonly index: number;
  readonly acks: Set<MemberId>;
  readonly requests: readonly ReadRequest[];
}

function encodeSeq(seq: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, seq);
  return out;
}

function decodeSeq(ctx: Uint8Array | null): number {
  if (ctx === null || ctx.length !== 8) return 0;
  return new DataView(ctx.buffer, ctx.byteOffset, 8).getFloat64(0);
}

export class Raft {
  readonly id: MemberId;
  readonly cfg: ResolvedRaftConfig;
  readonly log: RaftLog;
  readonly tracker: ProgressTracker;
  readonly #rng: Rng;
  readonly #logger: Logger;

  term = 0;
  vote: MemberId = NONE;
  lead: MemberId = NONE;
  role: RoleName = 'follower';
  leadTransferee: MemberId = NONE;
  /** Proposals of membership changes wait until the previous one (at this index) is applied. */
  pendingConfIndex = 0;
  uncommittedBytes = 0;

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;

  /** Outgoing messages that may leave at once, and those that wait for persistence. */
  msgs: Message[] = [];
  msgsAfterPersist: Message[] = [];
  readStates: ReadState[] = [];

  #readUnsent: ReadRequest[] = [];
  #readRounds: ReadRound[] = [];
  #readSeq = 0;
  #pendingReads: Message[] = [];

  #step: StepFn;
  #tick: () => void;

  constructor(config: RaftConfig) {
    const cfg = resolveRaftConfig(config);
    this.cfg = cfg;
    this.id = cfg.id;
    this.#rng = cfg.rng;
    this.#logger = cfg.logger.child({ raft: cfg.id.toString() });
    this.log = new RaftLog(cfg.storage, cfg.maxCommittedBytesPerReady);
    this.tracker = new ProgressTracker(cfg.maxInflightMessages);
    const { hardState, confState } = cfg.storage.initialState();
    this.tracker.reset(confState, this.log.lastIndex() + 1);
    if (hardState.term !== 0 || hardState.commit !== 0) this.#loadState(hardState);
    if (cfg.applied > 0) this.log.appliedTo(cfg.applied);
    this.#step = this.#stepFollower;
    this.#tick = this.#tickElection;
    this.becomeFollower(this.term, NONE);
  }

  #loadState(hs: HardState): void {
    assert(hs.commit >= this.log.committed, `hard state commit ${hs.commit} below snapshot`);
    assert(hs.commit <= this.log.lastIndex(), `hard state commit ${hs.commit} beyond log ${this.log.lastIndex()}`);
    this.log.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  softState(): SoftState {
    return { lead: this.lead, role: this.role };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** Whether this member may campaign: a voter, not waiting for a snapshot to persist. */
  promotable(): boolean {
    return this.tracker.voters.has(this.id) && this.log.unstableSnapshot === null;
  }

  // ---- sending ------------------------------------------------------------------------------

  #send(f: MessageFields): void {
    let term = f.term ?? 0;
    const t = f.type;
    if (t === 'MsgVote' || t === 'MsgVoteResp' || t === 'MsgPreVote' || t === 'MsgPreVoteResp') {
      assert(term !== 0, `${t} must carry a term`);
    } else if (t !== 'MsgProp' && t !== 'MsgReadIndex') {
      // Proposals and forwarded reads travel as local messages (term 0) to the leader.
      assert(term === 0, `${t} must not carry a preset term`);
      term = this.term;
    }
    const m = message({ ...f, from: this.id, term });
    assert(m.to !== this.id, `${t} addressed to self`);
    if (AFTER_PERSIST.has(t)) this.msgsAfterPersist.push(m);
    else this.msgs.push(m);
  }

  /** Sends an append (or a snapshot) to `to` unless its progress is paused. */
  #maybeSendAppend(to: MemberId, sendIfEmpty: boolean): boolean {
    const pr = this.tracker.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const got = this.log.entries(pr.next, this.cfg.maxBytesPerMessage);
    const ents = got === 'ErrCompacted' || got.length <= this.cfg.maxEntriesPerMessage
      ? got : got.slice(0, this.cfg.maxEntriesPerMessage);
    if (ents !== 'ErrCompacted' && ents.length === 0 && !sendIfEmpty) return false;
    if (typeof prevTerm !== 'number' || ents === 'ErrCompacted') return this.#sendSnapshot(to, pr);
    this.#send({
      type: 'MsgApp', to, index: prevIndex, logTerm: prevTerm, entries: ents, commit: this.log.committed,
    });
    const last = ents.length > 0 ? ents[ents.length - 1]!.index : prevIndex;
    pr.sentEntries(ents.length, last);
    return true;
  }

  #sendSnapshot(to: MemberId, pr: Progress): boolean {
    if (!pr.recentActive) return false;
    const snap = this.log.snapshot();
    assert(snap.metadata.index > 0, 'need a snapshot but none exists');
    pr.becomeSnapshot(snap.metadata.index);
    this.#send({ type: 'MsgSnap', to, snapshot: snap });
    return true;
  }

  #sendAppend(to: MemberId): void {
    this.#maybeSendAppend(to, true);
  }

  #bcastAppend(): void {
    for (const id of this.tracker.progress.keys()) if (id !== this.id) this.#sendAppend(id);
  }

  #sendHeartbeat(to: MemberId, ctx: Uint8Array | null): void {
    const pr = this.tracker.progress.get(to);
    // A follower may not have the leader's whole log: never tell it to commit beyond its match.
    const commit = Math.min(pr?.match ?? 0, this.log.committed);
    this.#send({ type: 'MsgHeartbeat', to, commit, context: ctx });
  }

  #bcastHeartbeat(ctx: Uint8Array | null): void {
    for (const id of this.tracker.progress.keys()) if (id !== this.id) this.#sendHeartbeat(id, ctx);
  }

  // ---- role changes -------------------------------------------------------------------------

  #reset(term: number): void {
    if (this.term !== term) {
      assert(term > this.term, `term went back from ${this.term} to ${term}`);
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.cfg.electionTicks + this.#rng.int(0, this.cfg.electionTicks - 1);
    this.leadTransferee = NONE;
    this.tracker.resetVotes();
    const next = this.log.lastIndex() + 1;
    for (const [id, pr] of this.tracker.progress) {
      const fresh = new Progress(next, this.cfg.maxInflightMessages, pr.isLearner);
      if (id === this.id) fresh.match = this.log.stableLastIndex();
      this.tracker.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.#readUnsent = [];
    this.#readRounds = [];
    this.#pendingReads = [];
  }

  becomeFollower(term: number, lead: MemberId): void {
    this.#step = this.#stepFollower;
    this.#reset(term);
    this.#tick = this.#tickElection;
    this.lead = lead;
    this.role = 'follower';
  }

  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become pre-candidate');
    // PreVote does not change the term or the vote.
    this.#step = this.#stepCandidate;
    this.tracker.resetVotes();
    this.#tick = this.#tickElection;
    this.lead = NONE;
    this.role = 'preCandidate';
  }

  becomeCandidate(): void {
    assert(this.role !== 'leader', 'leader cannot become candidate');
    this.#step = this.#stepCandidate;
    this.#reset(this.term + 1);
    this.#tick = this.#tickElection;
    this.vote = this.id;
    this.role = 'candidate';
  }

  becomeLeader(): void {
    assert(this.role === 'candidate', `only a candidate becomes leader, not a ${this.role}`);
    this.#step = this.#stepLeader;
    this.#reset(this.term);
    this.#tick = this.#tickHeartbeat;
    this.lead = this.id;
    this.role = 'leader';
    const self = this.tracker.progress.get(this.id);
    assert(self !== undefined, 'leader is not a member');
    self.becomeReplicate();
    self.recentActive = true;
    // Conservatively, any entry after the commit index may be a membership change.
    this.pendingConfIndex = this.log.lastIndex();
    // An empty entry of the new term: committing it commits everything before it (section 5.4.2).
    const ok = this.#appendEntries([{ term: 0, index: 0, type: 'normal', data: new Uint8Array(0) }]);
    assert(ok, 'leader could not append its first entry');
    this.#logger.info('became leader', { term: this.term });
  }

  #campaign(kind: 'preElection' | 'election' | 'transfer'): void {
    if (!this.promotable()) return;
    let voteType: MessageType, term: number;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      voteType = 'MsgPreVote';
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      voteType = 'MsgVote';
      term = this.term;
    }
    this.tracker.recordVote(this.id, true);
    if (this.tracker.tallyVotes().result === 'won') {
      if (kind === 'preElection') this.#campaign('election');
      else this.becomeLeader();
      return;
    }
    const context = kind === 'transfer' ? CAMPAIGN_TRANSFER : null;
    for (const id of this.tracker.voters) {
      if (id === this.id) continue;
      this.#send({
        type: voteType, to: id, term, index: this.log.lastIndex(), logTerm: this.log.lastTerm(), context,
      });
    }
  }

  #hasUnappliedConfChanges(): boolean {
    if (this.log.committed <= this.log.applied) return false;
    const lo = Math.max(this.log.applied + 1, this.log.firstIndex());
    const ents = this.log.slice(lo, this.log.committed + 1, Number.MAX_SAFE_INTEGER);
    if (ents === 'ErrCompacted') return false;
    return ents.some((e) => e.type === 'confChange');
  }

  #hup(kind: 'preElection' | 'election' | 'transfer'): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) return;
    // Campaigning with a stale membership could elect two leaders; apply pending changes first.
    if (this.#hasUnappliedConfChanges()) return;
    this.#campaign(kind);
  }

  // ---- ticks --------------------------------------------------------------------------------

  tick(): void {
    this.#tick();
  }

  #tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.step(message({ type: 'MsgHup', to: this.id, from: this.id }));
    }
  }

  #tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTicks) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum) this.step(message({ type: 'MsgCheckQuorum', to: this.id, from: this.id }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.role === 'leader' && this.leadTransferee !== NONE) this.leadTransferee = NONE;
    }
    if (this.role !== 'leader') return;
    if (this.heartbeatElapsed >= this.cfg.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(message({ type: 'MsgBeat', to: this.id, from: this.id }));
    }
  }

  // ---- step ---------------------------------------------------------------------------------

  /** Feeds one message in: terms compared first (Figure 2, "Rules for Servers"), then the role. */
  step(m: Message): StepResult {
    if (m.term === 0) {
      // A local message.
    } else if (m.term > this.term) {
      if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
        const force = m.context !== null && m.context.length === 1 && m.context[0] === CAMPAIGN_TRANSFER[0];
        const inLease = this.cfg.checkQuorum && this.lead !== NONE && this.electionElapsed < this.cfg.electionTicks;
        // CheckQuorum: a member that heard from a leader recently does not help depose it.
        if (!force && inLease) return STEP_OK;
      }
      if (m.type === 'MsgPreVote') {
        // Never change term for a PreVote.
      } else if (m.type === 'MsgPreVoteResp' && !m.reject) {
        // The granted pre-vote carries the future term; the term rises when the quorum is won.
      } else if (m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      if ((this.cfg.checkQuorum || this.cfg.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
        // A stale leader cut off by a partition: our higher term makes it step down. Without
        // this, with CheckQuorum or PreVote on, it could keep a member from ever campaigning.
        this.#send({ type: 'MsgAppResp', to: m.from });
      } else if (m.type === 'MsgPreVote') {
        this.#send({ type: 'MsgPreVoteResp', to: m.from, term: this.term, reject: true });
      }
      return STEP_OK;
    }

    switch (m.type) {
      case 'MsgHup':
        this.#hup(this.cfg.preVote ? 'preElection' : 'election');
        return STEP_OK;
      case 'MsgVote':
      case 'MsgPreVote':
        this.#handleVoteRequest(m);
        return STEP_OK;
      default:
        return this.#step(m);
    }
  }

  #handleVoteRequest(m: Message): void {
    const respType = m.type === 'MsgVote' ? 'MsgVoteResp' : 'MsgPreVoteResp';
    const canVote = this.vote === m.from
      || (this.vote === NONE && this.lead === NONE)
      || (m.type === 'MsgPreVote' && m.term > this.term);
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      this.#send({ type: respType, to: m.from, term: m.term });
      if (m.type === 'MsgVote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.#send({ type: respType, to: m.from, term: this.term, reject: true });
    }
  }

  #stepLeader(m: Message): StepResult {
    switch (m.type) {
      case 'MsgBeat':
        this.#bcastHeartbeat(this.#lastRoundCtx());
        return STEP_OK;
      case 'MsgCheckQuorum':
        if (!this.tracker.quorumActive(this.id)) {
          this.#logger.warn('stepped down: quorum not active', { term: this.term });
          this.becomeFollower(this.term, NONE);
        }
        for (const [id, pr] of this.tracker.progress) pr.recentActive = id === this.id;
        return STEP_OK;
      case 'MsgProp':
        return this.#propose(m);
      case 'MsgReadIndex':
        this.#leaderReadIndex(m);
        return STEP_OK;
      case 'MsgTransferLeader':
        this.#transferLeader(m.from);
        return STEP_OK;
      default:
        break;
    }
    const pr = this.tracker.progress.get(m.from);
    if (pr === undefined) return STEP_OK;
    switch (m.type) {
      case 'MsgAppResp':
        this.#handleAppendResponse(m, pr);
        break;
      case 'MsgHeartbeatResp':
        this.#handleHeartbeatResponse(m, pr);
        break;
      case 'MsgSnapStatus':
        if (pr.state !== 'snapshot') break;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for the follower's answer (or a heartbeat) before the next append.
        pr.probeSent = true;
        break;
      case 'MsgUnreachable':
        if (pr.state === 'replicate') pr.becomeProbe();
        break;
      default:
        break;
    }
    return STEP_OK;
  }

  #propose(m: Message): StepResult {
    if (m.entries.length === 0) return { ok: false, code: 'ErrProposalDropped', why: 'empty proposal' };
    if (!this.tracker.progress.has(this.id)) {
      return { ok: false, code: 'ErrProposalDropped', why: 'leader was removed from the cluster' };
    }
    if (this.leadTransferee !== NONE) {
      return { ok: false, code: 'ErrProposalDropped', why: 'leadership transfer in progress' };
    }
    let confChanges = 0;
    for (const e of m.entries) if (e.type === 'confChange') confChanges++;
    if (confChanges > 0) {
      if (confChanges > 1) return { ok: false, code: 'ErrProposalDropped', why: 'more than one membership change' };
      if (this.pendingConfIndex > this.log.applied) {
        return { ok: false, code: 'ErrProposalDropped', why: 'a membership change is still pending' };
      }
    }
    if (!this.#appendEntries(m.entries)) {
      return { ok: false, code: 'ErrProposalDropped', why: 'too many uncommitted bytes' };
    }
    if (confChanges > 0) {
      const last = this.log.lastIndex();
      const firstNew = last - m.entries.length + 1;
      m.entries.forEach((e, i) => { if (e.type === 'confChange') this.pendingConfIndex = firstNew + i; });
    }
    this.#bcastAppend();
    return STEP_OK;
  }

  /** The leader appends entries of its term; its own copy counts once advance() reports it durable. */
  #appendEntries(ents: readonly Entry[]): boolean {
    const size = RaftLog.sizeOf(ents);
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + size > this.cfg.maxUncommittedBytes) return false;
    this.uncommittedBytes += size;
    let index = this.log.lastIndex();
    const stamped = ents.map((e) => ({ term: this.term, index: ++index, type: e.type, data: e.data }));
    this.log.append(stamped);
    return true;
  }

  /** RawNode.advance(): entries through (index, term) are durable here. */
  onPersisted(index: number, term: number): void {
    if (this.role !== 'leader' || !this.log.matchTerm(index, term)) return;
    const self = this.tracker.progress.get(this.id);
    if (self === undefined) return;
    if (self.maybeUpdate(Math.min(index, this.log.stableLastIndex()))) this.#maybeCommitAndBroadcast();
  }

  #maybeCommitAndBroadcast(): boolean {
    if (!this.log.maybeCommit(this.tracker.committed(), this.term)) return false;
    this.#releasePendingReads();
    this.#bcastAppend();
    return true;
  }

  /** Committed entries were handed to the application: they no longer count as uncommitted. */
  reduceUncommitted(ents: readonly Entry[]): void {
    if (this.role !== 'leader') return;
    this.uncommittedBytes = Math.max(0, this.uncommittedBytes - RaftLog.sizeOf(ents));
  }

  #handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    if (m.reject) {
      let hint = m.rejectHint;
      // Skip every entry of the follower's conflicting term at once (etcd's fast backtracking).
      if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.#sendAppend(m.from);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);

    if (!this.#maybeCommitAndBroadcast() && wasPaused) this.#sendAppend(m.from);
    // Fill the window: pipelined appends up to the in-flight limit.
    for (let i = 0; i < this.cfg.maxInflightMessages && this.#maybeSendAppend(m.from, false); i++);
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.#send({ type: 'MsgTimeoutNow', to: m.from });
    }
  }

  #handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // An append in the full window may have been lost: free one slot so replication resumes.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirst();
    if (pr.match < this.log.lastIndex() || pr.state === 'probe') this.#sendAppend(m.from);
    const seq = decodeSeq(m.context);
    if (seq > 0 && this.tracker.voters.has(m.from)) this.#ackReadRound(seq, m.from);
  }

  #transferLeader(transferee: MemberId): void {
    const pr = this.tracker.progress.get(transferee);
    if (pr === undefined || pr.isLearner) return;
    if (transferee === this.id) return;
    if (this.leadTransferee === transferee) return;
    this.leadTransferee = transferee;
    // The transfer must finish within an election timeout.
    this.electionElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.#send({ type: 'MsgTimeoutNow', to: transferee });
    else this.#sendAppend(transferee);
  }

  // ---- ReadIndex ------------------------------------------------------------------------------

  #committedEntryInCurrentTerm(): boolean {
    return this.log.termOrZero(this.log.committed) === this.term;
  }

  #leaderReadIndex(m: Message): void {
    const ctx = m.context;
    assert(ctx !== null, 'MsgReadIndex without a request context');
    if (this.tracker.isSingleton() && this.tracker.voters.has(this.id)) {
      if (!this.#committedEntryInCurrentTerm()) {
        this.#queuePendingRead(m);
        return;
      }
      this.#answerRead({ from: m.from, ctx }, this.log.committed);
      return;
    }
    // A new leader does not know the commit index until it commits an entry of its term.
    if (!this.#committedEntryInCurrentTerm()) {
      this.#queuePendingRead(m);
      return;
    }
    this.#readUnsent.push({ from: m.from, ctx });
  }

  #queuePendingRead(m: Message): void {
    if (this.#pendingReads.length >= PENDING_READS_MAX) return;
    this.#pendingReads.push(m);
  }

  #releasePendingReads(): void {
    if (this.#pendingReads.length === 0 || !this.#committedEntryInCurrentTerm()) return;
    const pending = this.#pendingReads;
    this.#pendingReads = [];
    for (const m of pending) this.#leaderReadIndex(m);
  }

  hasUnsentReads(): boolean {
    return this.role === 'leader' && this.#readUnsent.length > 0;
  }

  /**
   * Starts one heartbeat round for every read that arrived since the last round: one quorum of
   * acknowledgements confirms them all (called by RawNode before it builds a Ready).
   */
  flushReadRounds(): void {
    if (!this.hasUnsentReads()) return;
    const seq = ++this.#readSeq;
    const round: ReadRound = {
      seq, index: this.log.committed, acks: new Set([this.id]), requests: this.#readUnsent,
    };
    this.#readUnsent = [];
    if (this.#readRounds.length >= READ_ROUNDS_MAX) this.#readRounds.shift();
    this.#readRounds.push(round);
    this.#bcastHeartbeat(encodeSeq(seq));
  }

  #lastRoundCtx(): Uint8Array | null {
    const last = this.#readRounds[this.#readRounds.length - 1];
    return last === undefined ? null : encodeSeq(last.seq);
  }

  #ackReadRound(seq: number, from: MemberId): void {
    const round = this.#readRounds.find((r) => r.seq === seq);
    if (round === undefined) return;
    round.acks.add(from);
    let acked = 0;
    for (const id of round.acks) if (this.tracker.voters.has(id)) acked++;
    if (acked < this.tracker.quorum()) return;
    // The quorum confirms leadership as of this round, so every earlier round too.
    while (this.#readRounds.length > 0 && this.#readRounds[0]!.seq <= seq) {
      const r = this.#readRounds.shift()!;
      for (const req of r.requests) this.#answerRead(req, r.index);
    }
  }

  #answerRead(req: ReadRequest, index: number): void {
    if (req.from === this.id || req.from === NONE) {
      this.readStates.push({ index, requestCtx: req.ctx });
    } else {
      this.#send({ type: 'MsgReadIndexResp', to: req.from, index, context: req.ctx });
    }
  }

  // ---- followers and candidates ---------------------------------------------------------------

  #stepCandidate(m: Message): StepResult {
    const myResp: MessageType = this.role === 'preCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp';
    switch (m.type) {
      case 'MsgProp':
        return { ok: false, code: 'ErrProposalDropped', why: 'no leader' };
      case 'MsgApp':
        this.becomeFollower(m.term, m.from);
        this.#handleAppendEntries(m);
        return STEP_OK;
      case 'MsgHeartbeat':
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return STEP_OK;
      case 'MsgSnap':
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return STEP_OK;
      case 'MsgVoteResp':
      case 'MsgPreVoteResp': {
        if (m.type !== myResp) return STEP_OK;
        this.tracker.recordVote(m.from, !m.reject);
        const { result } = this.tracker.tallyVotes();
        if (result === 'won') {
          if (this.role === 'preCandidate') this.#campaign('election');
          else {
            this.becomeLeader();
            this.#bcastAppend();
          }
        } else if (result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return STEP_OK;
      }
      default:
        return STEP_OK;
    }
  }

  #stepFollower(m: Message): StepResult {
    switch (m.type) {
      case 'MsgProp':
        if (this.lead === NONE) return { ok: false, code: 'ErrProposalDropped', why: 'no leader' };
        this.#send({ type: 'MsgProp', to: this.lead, entries: m.entries });
        return STEP_OK;
      case 'MsgApp':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleAppendEntries(m);
        return STEP_OK;
      case 'MsgHeartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        return STEP_OK;
      case 'MsgSnap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleSnapshot(m);
        return STEP_OK;
      case 'MsgTransferLeader':
        if (this.lead === NONE) return { ok: false, code: 'ErrProposalDropped', why: 'no leader to transfer from' };
        this.#send({ type: 'MsgTransferLeader', to: this.lead, from: m.from });
        return STEP_OK;
      case 'MsgTimeoutNow':
        // Campaign at once, skipping PreVote: the leader asked for it.
        this.#hup('transfer');
        return STEP_OK;
      case 'MsgReadIndex':
        if (this.lead === NONE) return { ok: false, code: 'ErrProposalDropped', why: 'no leader for read' };
        this.#send({ type: 'MsgReadIndex', to: this.lead, context: m.context });
        return STEP_OK;
      case 'MsgReadIndexResp':
        assert(m.context !== null, 'MsgReadIndexResp without context');
        this.readStates.push({ index: m.index, requestCtx: m.context });
        return STEP_OK;
      default:
        return STEP_OK;
    }
  }

  #handleAppendEntries(m: Message): void {
    if (m.index < this.log.committed) {
      this.#send({ type: 'MsgAppResp', to: m.from, index: this.log.committed });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.#send({ type: 'MsgAppResp', to: m.from, index: lastNew });
      return;
    }
    // Reject, with a hint: the last index whose term is <= the leader's term at m.index.
    const hintIndex = Math.min(m.index, this.log.lastIndex());
    const hint = this.log.findConflictByTerm(hintIndex, m.logTerm);
    this.#send({
      type: 'MsgAppResp', to: m.from, index: m.index, reject: true, rejectHint: hint.index, logTerm: hint.term,
    });
  }

  #handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.#send({ type: 'MsgHeartbeatResp', to: m.from, context: m.context });
  }

  #handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    assert(snap !== null, 'MsgSnap without a snapshot');
    if (this.#restore(snap)) {
      this.#send({ type: 'MsgAppResp', to: m.from, index: this.log.lastIndex() });
    } else {
      this.#send({ type: 'MsgAppResp', to: m.from, index: this.log.committed });
    }
  }

  #restore(snap: Message['snapshot'] & object): boolean {
    const { index, term } = snap.metadata;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      // We already have the snapshot's last entry: fast-forward the commit index only.
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(snap);
    this.tracker.reset(snap.metadata.confState, this.log.lastIndex() + 1);
    return true;
  }

  // ---- membership -----------------------------------------------------------------------------

  /** Applies a committed membership change (call as its entry is applied); returns the result. */
  applyConfChange(cc: ConfChange): ConfState {
    const t = this.tracker;
    const next = this.log.lastIndex() + 1;
    const cap = this.cfg.maxInflightMessages;
    switch (cc.type) {
      case 'addNode': {
        const pr = t.progress.get(cc.nodeId);
        if (pr !== undefined && pr.isLearner) {
          pr.isLearner = false;
          t.learners.delete(cc.nodeId);
          t.voters.add(cc.nodeId);
        } else if (pr === undefined) {
          const fresh = new Progress(next, cap, false);
          fresh.recentActive = true;
          t.progress.set(cc.nodeId, fresh);
          t.voters.add(cc.nodeId);
        }
        break;
      }
      case 'addLearner':
        // A voter cannot be demoted in one step; an unknown id becomes a learner.
        if (!t.progress.has(cc.nodeId)) {
          const fresh = new Progress(next, cap, true);
          fresh.recentActive = true;
          t.progress.set(cc.nodeId, fresh);
          t.learners.add(cc.nodeId);
        }
        break;
      case 'updateNode':
        break; // the application's business (peer URLs); the configuration stays
      case 'removeNode':
        if (t.voters.has(cc.nodeId) && t.voters.size === 1) break; // never remove the last voter
        t.progress.delete(cc.nodeId);
        t.voters.delete(cc.nodeId);
        t.learners.delete(cc.nodeId);
        break;
      default:
        assertNever(cc.type, 'conf change type');
    }
    if (this.role === 'leader') {
      if (!t.voters.has(this.id)) {
        // A leader that removed itself steps down; the others elect a new one.
        this.becomeFollower(this.term, NONE);
      } else {
        if (this.leadTransferee !== NONE && !t.voters.has(this.leadTransferee)) this.leadTransferee = NONE;
        // The quorum changed: more entries may now be committed.
        if (!this.#maybeCommitAndBroadcast()) this.#bcastAppend();
      }
    }
    return t.confState();
  }

  /** Decodes and applies a committed confChange entry. */
  applyConfChangeEntry(e: Entry): ConfState {
    assert(e.type === 'confChange', `entry ${e.index} is not a membership change`);
    return this.applyConfChange(decodeConfChange(e.data));
  }
}
