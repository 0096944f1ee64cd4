/**
 * The raft actor: a thin shell that routes (etcd-io/raft node.go's run loop). Mailbox messages go
 * into the RawNode; each Ready is handled in the order its doc comment prescribes: messages out,
 * persist durably (one write, one fsync for everything in the Ready: group commit), then the
 * messages that depend on the disk, committed entries to apply, read states and state changes to
 * the front, advance. One Ready is in flight at a time; proposals arriving meanwhile wait in the
 * core's log and share the next fsync. No protocol logic lives here.
 */
import { assert, assertNever, type MemberId } from '../../src/base/index.js';
import {
  RawNode, mustSync, type ConfChange, type ConfState, type HardState, type RaftStorage, type Ready, type RaftConfig, type RoleName,
} from '../../src/raft/index.js';
import type { Actor, ActorContext, Address } from '../../src/runtime/index.js';
import type { RaftInbox } from './messages.js';

/** How often at most a moved commit index is reported to the front. */
const STATE_REPORT_MS = 100;
/** Proposals given to Raft in one batch at most: entries, and bytes of their data. */
const PROPOSAL_BATCH_ENTRIES_MAX = 256;
const PROPOSAL_BATCH_BYTES_MAX = 1024 * 1024;

export interface RaftActorOptions {
  readonly id: MemberId;
  readonly storage: RaftStorage;
  /** Members and their raft actor addresses (this member included). */
  readonly peers: ReadonlyMap<bigint, Address>;
  /** Where messages for a member not in `peers` go (one added later): the peer actor. */
  readonly otherPeersAddress?: Address;
  /**
   * The configuration as the applied member table has it. Raft's stored one is its last
   * snapshot's, which may predate membership changes already applied; this one wins at start.
   */
  readonly confState?: ConfState;
  readonly frontAddress: Address;
  readonly applyAddress: Address;
  /** The lease actor, told the same Raft state as the front (it expires leases while leading). */
  readonly leaseAddress?: Address;
  /** Milliseconds per tick: etcd's --heartbeat-interval. */
  readonly tickMs: number;
  /** Ticks without a leader before an election: --election-timeout / --heartbeat-interval. */
  readonly electionTicks: number;
  /** The last index the mvcc store applied: entries after it are delivered again. */
  readonly applied: number;
  /** Log entries kept behind the applied index when the log is compacted (etcd: 5,000). */
  readonly logKeepEntries: number;
  /** Compact the log once this many entries were applied since the last time (--snapshot-count). */
  readonly snapshotCount: number;
  readonly raftConfig?: Partial<Pick<RaftConfig, 'maxInflightMessages' | 'maxEntriesPerMessage'>>;
}

/** Raft state as last told to an actor; role null before the first report. */
interface StateTold {
  readonly term: number;
  readonly lead: bigint;
  readonly role: RoleName | null;
  readonly commit: number;
  readonly lastIndex: number;
}

function sameLeadership(a: StateTold, b: StateTold): boolean {
  return a.term === b.term && a.lead === b.lead && a.role === b.role;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function readCtx(readId: number): Uint8Array {
  return encoder.encode(String(readId));
}

function readIdOf(ctx: Uint8Array): number {
  return Number(decoder.decode(ctx));
}

export class RaftActor implements Actor<RaftInbox> {
  readonly #options: RaftActorOptions;
  #node: RawNode | undefined;
  #ctx: ActorContext<RaftInbox> | undefined;
  /** The Ready being persisted, with its sequence number; null when none is in flight. */
  #inFlight: { readonly ready: Ready; readonly seq: number } | null = null;
  #seq = 0;
  /** The learners' progress last sent to the front ('' for none). */
  #toldLearners = '';
  /** The Raft state last sent to the front, and when. */
  #told: StateTold = { term: -1, lead: -1n, role: null, commit: -1, lastIndex: -1 };
  #lastStateAt = Number.NEGATIVE_INFINITY;
  /** A state change was held back by the rate limit; the next tick sends it. */
  #stateDue = false;
  /** term/leader/role last told to the lease actor (it needs leadership changes only). */
  #toldLease: StateTold = { term: -1, lead: -1n, role: null, commit: -1, lastIndex: -1 };
  #confState: ConfState;
  #compactedTo = 0;
  #durableApplied = 0;
  /** A member was added: compact the log at the next durable applied index (see raft.confChanged). */
  #compactWhenDurable = false;
  /** The hard state as last persisted, for etcd's rule that a commit-only change needs no fsync. */
  #persistedHard: HardState;
  /** Proposals waiting for the flush message this actor sent itself (see raft.propose). */
  #proposals: { ids: number[]; data: Uint8Array[]; bytes: number } | null = null;

  constructor(options: RaftActorOptions) {
    assert(options.tickMs > 0, 'tickMs must be positive');
    assert(options.peers.has(options.id), 'peers include this member');
    this.#options = options;
    this.#confState = options.storage.initialState().confState;
    this.#compactedTo = options.storage.firstIndex() - 1;
    this.#persistedHard = options.storage.initialState().hardState;
  }

  start(ctx: ActorContext<RaftInbox>): void {
    this.#ctx = ctx;
    const o = this.#options;
    this.#node = new RawNode({
      id: o.id, storage: o.storage, rng: ctx.rng, logger: ctx.logger,
      // A commit-only hard state is not always persisted (mustSync), so the stored commit may
      // trail what apply holds; Raft re-delivers the gap and the applier skips it.
      electionTicks: o.electionTicks, heartbeatTicks: 1,
      applied: Math.min(o.applied, this.#persistedHard.commit),
      ...o.raftConfig,
    });
    if (o.confState !== undefined) this.#reconcile(this.#node, o.confState);
    // A lone voter need not wait an election timeout to lead (etcd fast-forwards its ticks).
    if (this.#confState.voters.length === 1 && this.#confState.voters[0] === o.id) {
      this.#node.campaign();
    }
    ctx.setTimer(o.tickMs, { type: 'raft.tick' });
    this.#drain(ctx);
  }

  receive(message: RaftInbox, ctx: ActorContext<RaftInbox>): void {
    const node = this.#node;
    assert(node !== undefined, 'raft actor started');
    switch (message.type) {
      case 'raft.propose': {
        // Proposals received together go to Raft together (flushed by a message to self, which
        // queues behind them): one append and one MsgApp per follower for the lot, instead of
        // one each. Measured on a 3-member cluster, put at 64 clients: ~2 MsgApp per put per
        // follower before (one with the entry, one with the commit).
        let batch = this.#proposals;
        if (batch === null) {
          batch = { ids: [], data: [], bytes: 0 };
          this.#proposals = batch;
          ctx.send(ctx.self, { type: 'raft.flushProposals' });
        }
        for (let i = 0; i < message.data.length; i++) {
          batch.ids.push(message.ids[i]!);
          batch.data.push(message.data[i]!);
          batch.bytes += message.data[i]!.length;
        }
        if (batch.data.length >= PROPOSAL_BATCH_ENTRIES_MAX || batch.bytes >= PROPOSAL_BATCH_BYTES_MAX) {
          this.#flushProposals(node, ctx);
        }
        break;
      }
      case 'raft.flushProposals': {
        this.#flushProposals(node, ctx);
        break;
      }
      case 'raft.readIndex': {
        const result = node.readIndex(readCtx(message.readId));
        if (!result.ok) {
          ctx.send(this.#options.frontAddress, { type: 'front.readFailed', readId: message.readId, code: 'ErrNoLeader' });
        }
        break;
      }
      case 'raft.step':
        node.step(message.message);
        break;
      case 'raft.transferLeader':
        node.transferLeader(message.transferee as MemberId);
        break;
      case 'raft.proposeConfChange': {
        const result = node.proposeConfChange(message.change);
        if (!result.ok) {
          ctx.send(this.#options.frontAddress, {
            type: 'front.proposalsDropped', ids: [message.id],
            code: node.status().lead === 0n ? 'ErrNoLeader' : 'ErrTooManyRequests',
          });
        }
        break;
      }
      case 'raft.confChanged': {
        // Apply validated these against the member table (etcd's apply loop calls
        // ApplyConfChange the same way); a refused change never reaches here.
        let added = false;
        for (const cc of message.changes) {
          const known = [...this.#confState.voters, ...this.#confState.learners].includes(cc.nodeId);
          if ((cc.type === 'addNode' || cc.type === 'addLearner') && !known) added = true;
          this.#confState = node.applyConfChange(cc);
        }
        // A new member starts from a copy of the keyspace, which carries the member table: once
        // the env holds this change on disk, the log up to it is dropped, so Raft sends the new
        // member a snapshot instead of the log from its start (the table's first contents are
        // not in the log). Every member does it, so whoever leads next does the same.
        if (added) this.#compactWhenDurable = true;
        break;
      }
      case 'raft.applied':
        this.#durableApplied = Math.max(this.#durableApplied, message.index);
        if (this.#compactWhenDurable) {
          this.#compactWhenDurable = false;
          this.#compactLogTo(this.#durableApplied);
        }
        this.#maybeCompactLog();
        break;
      case 'raft.tick':
        node.tick();
        if (this.#stateDue) this.#reportState(ctx);
        ctx.setTimer(this.#options.tickMs, { type: 'raft.tick' });
        break;
      case 'raft.unreachable':
        node.reportUnreachable(message.member as MemberId);
        break;
      case 'raft.snapshotStatus':
        node.reportSnapshot(message.member as MemberId, message.ok);
        break;
      case 'raft.persisted':
        assert(this.#inFlight !== null && this.#inFlight.seq === message.seq, 'persisted the Ready in flight');
        this.#afterPersist(this.#inFlight.ready, ctx);
        break;
      default:
        assertNever(message, 'raft message');
    }
    this.#drain(ctx);
    // While a Ready is being persisted nothing received acts before raft.persisted: the host
    // may hold our messages until then instead of waking this thread for each.
    ctx.deferInbox?.(this.#inFlight !== null);
  }

  /** Brings Raft's configuration to `want` by single changes (at start, as a follower). */
  #reconcile(node: RawNode, want: ConfState): void {
    const has = this.#confState;
    const change = (type: ConfChange['type'], id: MemberId): void => {
      this.#confState = node.applyConfChange({ type, nodeId: id });
    };
    for (const id of want.voters) if (!has.voters.includes(id)) change('addNode', id);
    for (const id of want.learners) if (!has.learners.includes(id) && !has.voters.includes(id)) change('addLearner', id);
    for (const id of [...has.voters, ...has.learners]) {
      if (!want.voters.includes(id) && !want.learners.includes(id)) change('removeNode', id);
    }
  }

  #flushProposals(node: RawNode, ctx: ActorContext<RaftInbox>): void {
    const batch = this.#proposals;
    if (batch === null) return;
    this.#proposals = null;
    const result = node.propose(batch.data);
    if (!result.ok) {
      ctx.send(this.#options.frontAddress, {
        type: 'front.proposalsDropped', ids: batch.ids,
        code: node.status().lead === 0n ? 'ErrNoLeader' : 'ErrTooManyRequests',
      });
    }
  }

  /** Hands out Readies while none is being persisted. */
  #drain(ctx: ActorContext<RaftInbox>): void {
    const node = this.#node!;
    while (this.#inFlight === null && node.hasReady()) {
      const rd = node.ready();
      this.#send(rd.messages, ctx);
      // Nothing to make durable (or only a new commit index, which a restart recomputes from
      // the log, etcd's mustSync rule): go straight on without an fsync.
      if (rd.entries.length === 0 && rd.snapshot === null && !mustSync(rd, this.#persistedHard)) {
        this.#afterPersist(rd, ctx);
        continue;
      }
      const seq = ++this.#seq;
      this.#inFlight = { ready: rd, seq };
      if (rd.hardState !== null) this.#persistedHard = rd.hardState;
      // Committed entries that an earlier Ready already made durable go to apply now, in
      // parallel with this fsync (etcd's raft does the same); only entries of this very Ready
      // wait for it.
      this.#handOffEarly(rd, ctx);
      const self = ctx.self;
      this.#options.storage.persist({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState })
        .then(() => ctx.send(self, { type: 'raft.persisted', seq }));
    }
  }

  /** Committed entries of `rd` handed to apply before its persistence finished. */
  #handedOff: Ready | null = null;

  #handOffEarly(rd: Ready, ctx: ActorContext<RaftInbox>): void {
    const last = rd.committedEntries[rd.committedEntries.length - 1];
    const firstNew = rd.entries[0]?.index ?? Number.POSITIVE_INFINITY;
    if (last === undefined || last.index >= firstNew || rd.snapshot !== null) return;
    this.#commit(rd, ctx);
    this.#handedOff = rd;
  }

  #commit(rd: Ready, ctx: ActorContext<RaftInbox>): void {
    if (rd.committedEntries.length === 0) return;
    ctx.send(this.#options.applyAddress, { type: 'apply.committed', entries: rd.committedEntries });
  }

  #afterPersist(rd: Ready, ctx: ActorContext<RaftInbox>): void {
    const o = this.#options;
    this.#send(rd.messagesAfterPersist, ctx);
    if (this.#handedOff !== rd) this.#commit(rd, ctx);
    this.#handedOff = null;
    for (const rs of rd.readStates) {
      ctx.send(o.frontAddress, { type: 'front.readIndexed', readId: readIdOf(rs.requestCtx), index: rs.index });
    }
    this.#inFlight = null;
    this.#node!.advance(rd);
    this.#reportState(ctx);
  }

  /**
   * Tells the front (and the lease actor) about Raft state. A change of term, leader or role goes
   * at once; a commit or last index that merely moved goes at most every STATE_REPORT_MS (the
   * front shows them only in Status), which keeps one message per batch off the write path.
   */
  #reportState(ctx: ActorContext<RaftInbox>): void {
    const s = this.#node!.status();
    const told = this.#told;
    const leadershipChanged = !sameLeadership(s, told);
    const learners = this.#node!.learnerProgress();
    const learnersKey = learners.learners.length === 0 ? '' : `${learners.leaderMatch}:${learners.learners.map(([id, m]) => `${id}=${m}`).join(',')}`;
    if (!leadershipChanged && s.commit === told.commit && s.lastIndex === told.lastIndex
      && learnersKey === this.#toldLearners) return;
    const now = ctx.now();
    if (!leadershipChanged && now - this.#lastStateAt < STATE_REPORT_MS) {
      this.#stateDue = true;
      return;
    }
    this.#told = { term: s.term, lead: s.lead, role: s.role, commit: s.commit, lastIndex: s.lastIndex };
    this.#toldLearners = learnersKey;
    this.#lastStateAt = now;
    this.#stateDue = false;
    ctx.send(this.#options.frontAddress, {
      type: 'front.raftState', term: s.term, leader: s.lead, role: s.role, commit: s.commit,
      lastIndex: s.lastIndex, ...(learners.learners.length > 0 && { learners }),
    });
    if (this.#options.leaseAddress !== undefined && !sameLeadership(s, this.#toldLease)) {
      this.#toldLease = this.#told;
      ctx.send(this.#options.leaseAddress, {
        type: 'lease.raftState', term: s.term, leader: s.lead, role: s.role, commit: s.commit,
        lastIndex: s.lastIndex,
      });
    }
  }

  #send(messages: Ready['messages'], ctx: ActorContext<RaftInbox>): void {
    for (const m of messages) {
      const to = this.#options.peers.get(m.to) ?? this.#options.otherPeersAddress;
      if (to === undefined) {
        this.#node!.reportUnreachable(m.to);
        continue;
      }
      ctx.send(to, { type: 'raft.step', message: m });
    }
  }

  /** Compacts the Raft log below what the mvcc env holds durably, keeping a tail for followers. */
  #maybeCompactLog(): void {
    const o = this.#options;
    const applied = this.#durableApplied;
    if (applied - this.#compactedTo < o.snapshotCount + o.logKeepEntries) return;
    this.#compactLogTo(applied - o.logKeepEntries);
  }

  #compactLogTo(to: number): void {
    if (to <= this.#compactedTo) return;
    const storage = this.#options.storage;
    const confState = this.#confState;
    this.#compactedTo = to;
    // The snapshot records (index, term, membership); its data stays empty because the mvcc env
    // itself is the state at that index (a follower that needs it gets a copy of the env).
    void storage.createSnapshot(to, confState, new Uint8Array(0)).then(() => storage.compact(to));
  }
}
