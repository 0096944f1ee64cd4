/**
 * A whole cluster on the simulation host: for each of 1, 3 or 5 members, the real disk-backed
 * raft, apply and front actor shells (actors/), wired as actors/boot.ts wires a real member, but
 * over the simulated disk (SimRaftStorage, SimBackend) and the simulated network (NetActor). A
 * member's actors may run on a drifting clock (its timers run fast or slow against the host).
 *
 * Crash and restart go through the host (actors, mailboxes and timers dropped) and the disk
 * (unsynced writes lost or torn); a restarted member is rebuilt from what its disk holds, exactly
 * as a real process reopens its LMDB envs.
 *
 * Each member also runs the real watch hub actor; the change sets apply hands it are tapped for
 * the replica agreement checker (every member derives the same change set for each revision). The State Machine Safety digest of each applied entry is taken on the way into apply.
 */
import { assert, type LeaseId, type MemberId, type Rng } from '../base/index.js';
import { Lessor, minLeaseTtlSeconds } from '../lease/index.js';
import { LeaseActor } from '../../actors/lease/lease-actor.js';
import { Applier, storedAlarms } from '../apply/index.js';
import { MVCC_TABLES, MvccStore, type ChangeSet } from '../mvcc/index.js';
import type { ConfState, Entry } from '../raft/index.js';
import type { Actor, ActorContext, Address, AnyActor, Message, SimHost, TimerId } from '../runtime/index.js';
import { ApplyActor } from '../../actors/apply/apply-actor.js';
import type { ApplyInbox } from '../../actors/apply/messages.js';
import { FrontActor } from '../../actors/front/front-actor.js';
import { WatchActor } from '../../actors/watch/watch-actor.js';
import type { WatchInbox } from '../../actors/watch/messages.js';
import { WatchHub, rangesContain, type HistoryReader } from '../watch/index.js';
import type { FrontInbox } from '../../actors/front/messages.js';
import { RaftActor } from '../../actors/raft/raft-actor.js';
import { DiskActor, SimBackend, SimDisk, SimRaftStorage, type DiskOptions } from './sim-disk.js';
import { NET_ADDRESS, NetActor, SimNetwork } from './sim-network.js';
import { fnv1a } from './raft-invariants.js';

export interface ClusterOptions {
  readonly members: 1 | 3 | 5;
  readonly tickMs: number;
  readonly electionTicks: number;
  /** Per member: the rate of its clock against the host's (1 = no drift). */
  readonly clockRates: readonly number[];
  readonly disk: DiskOptions;
  readonly snapshotCount: number;
  readonly logKeepEntries: number;
  readonly requestTimeoutMs: number;
  /** Mutation: the lease actors' clocks run this much faster still (1 = as their member's). */
  readonly leaseClockRate?: number;
}

/** Observers the checkers plug in. */
export interface ClusterObserver {
  /** Member `id` hands entries to apply (at most once per index per incarnation). */
  applied(id: MemberId, entry: Entry): void;
  /** Member `member` derived `changes` (tap of the watch hub's input). */
  changes(member: string, changes: readonly ChangeSet[]): void;
  /** Raft state as the member's raft actor reported it to its front. */
  raftState(id: MemberId, state: { term: number; leader: bigint; role: string; commit: number }): void;
}

/** One member's durable parts (they survive crashes) and its current incarnation. */
export class SimMember {
  readonly name: string;
  readonly id: MemberId;
  readonly disk: SimDisk;
  readonly raftStorage: SimRaftStorage;
  readonly backend: SimBackend;
  readonly addresses: { readonly raft: Address; readonly apply: Address; readonly front: Address; readonly disk: Address; readonly watch: Address; readonly lease: Address };
  /** Current incarnation (replaced at every restart). */
  store!: MvccStore;
  /** The replicated lease table apply keeps (never leads). */
  lessor!: Lessor;
  front!: FrontActor;
  incarnation = 0;
  up = true;

  constructor(name: string, id: MemberId, disk: DiskOptions, confState: ConfState) {
    this.name = name;
    this.id = id;
    this.disk = new SimDisk(disk);
    this.raftStorage = new SimRaftStorage(this.disk, confState);
    this.backend = new SimBackend(this.disk, MVCC_TABLES);
    this.addresses = {
      raft: `${name}/raft`, apply: `${name}/apply`, front: `${name}/front`, disk: `${name}/disk`,
      watch: `${name}/watch`, lease: `${name}/lease`,
    };
  }
}

export class SimCluster {
  readonly host: SimHost;
  readonly net = new SimNetwork();
  readonly members: SimMember[] = [];
  readonly #o: ClusterOptions;
  readonly #observer: ClusterObserver;

  constructor(host: SimHost, options: ClusterOptions, observer: ClusterObserver) {
    assert([1, 3, 5].includes(options.members), 'a cluster has 1, 3 or 5 members');
    assert(options.clockRates.length === options.members, 'one clock rate per member');
    this.host = host;
    this.#o = options;
    this.#observer = observer;
    const ids = Array.from({ length: options.members }, (_, i) => BigInt(i + 1) as MemberId);
    const confState: ConfState = { voters: ids, learners: [] };
    host.spawn(NET_ADDRESS, () => new NetActor(this.net));
    for (const id of ids) {
      const m = new SimMember(`m${id}`, id, options.disk, confState);
      this.members.push(m);
      this.net.addMember(id, m.name, m.addresses.raft);
    }
    for (const [i, m] of this.members.entries()) this.#spawn(m, options.clockRates[i]!);
  }

  memberByName(name: string): SimMember {
    const m = this.members.find((x) => x.name === name);
    assert(m !== undefined, `no member ${name}`);
    return m;
  }

  crash(m: SimMember, rng: Rng): ReturnType<SimDisk['crash']> {
    assert(m.up, `${m.name} is up`);
    this.host.crash(m.name);
    m.up = false;
    return m.disk.crash(rng);
  }

  restart(m: SimMember): void {
    assert(!m.up, `${m.name} is down`);
    m.up = true;
    this.host.restart(m.name);
  }

  #spawn(m: SimMember, rate: number): void {
    const o = this.#o;
    const peers = new Map<bigint, Address>(this.members.map((p) => [p.id, p.id === m.id ? m.addresses.raft : NET_ADDRESS]));
    const observer = this.#observer;
    const drift = <A extends AnyActor>(a: A): AnyActor => (rate === 1 ? a : new DriftingActor(a, rate));
    // Spawn order is restart order, and an actor restarted early may send to one restarted
    // later: the disk first (its factory opens the member's store; the others write at start),
    // then the receivers (watch, front, lease, apply), raft last (it reports to front, lease and
    // apply at start; apply reports the stored leases to the lease actor at start).
    const minTtlSeconds = minLeaseTtlSeconds(o.electionTicks, o.tickMs);
    this.host.spawn(m.addresses.disk, () => {
      m.incarnation++;
      const lessor = new Lessor({ clock: NEVER_READ, minTtlSeconds });
      m.lessor = lessor;
      m.store = new MvccStore(m.backend, { leases: { exists: (id) => lessor.lookup(id as LeaseId) !== undefined } });
      return new DiskActor(m.disk);
    });
    this.host.spawn(m.addresses.watch, () => drift(new TappedWatch(watchActorOf(m), (changes) => observer.changes(m.name, changes))));
    this.host.spawn(m.addresses.front, () => {
      const meta = m.store.state();
      m.front = new FrontActor({
        memberId: m.id, clusterId: 0x5157n, raftAddress: m.addresses.raft,
        // Proposal ids never repeat across incarnations of one member (a real member uses its clock).
        proposalIdBase: m.incarnation * 1_000_000_000,
        requestTimeoutMs: o.requestTimeoutMs, pendingProposalsMax: 1_024, pendingReadsMax: 1_024,
        applied: meta.appliedIndex, revision: meta.current, alarms: storedAlarms(m.store),
        autoCompaction: { mode: 'revision', retention: 0 }, watchStreamsMax: 64,
        watchAddress: m.addresses.watch, leaseAddress: m.addresses.lease,
      });
      return drift(new TappedFront(m.front, (s) => observer.raftState(m.id, s)));
    });
    const leaseRate = rate * (o.leaseClockRate ?? 1);
    this.host.spawn(m.addresses.lease, () => new DriftingActor(new LeaseActor({
      memberId: m.id, raftAddress: m.addresses.raft, frontAddress: m.addresses.front, minTtlSeconds,
      extendMs: o.electionTicks * o.tickMs, waitingRequestsMax: 1_024,
    }), leaseRate));
    this.host.spawn(m.addresses.apply, () => drift(new TappedApply(new ApplyActor({
      memberId: m.id, applier: new Applier(m.store, m.lessor), frontAddress: m.addresses.front,
      raftAddress: m.addresses.raft, watchAddress: m.addresses.watch, leaseAddress: m.addresses.lease,
      batchesInFlightMax: 64,
    }), (e) => observer.applied(m.id, e))));
    this.host.spawn(m.addresses.raft, () => drift(new RaftActor({
      id: m.id, storage: m.raftStorage, peers, frontAddress: m.addresses.front,
      applyAddress: m.addresses.apply, leaseAddress: m.addresses.lease, tickMs: o.tickMs,
      electionTicks: o.electionTicks,
      applied: m.store.state().appliedIndex, logKeepEntries: o.logKeepEntries,
      snapshotCount: o.snapshotCount,
    })));
  }
}

/** The apply side's lessor never leads, so it never reads a clock. */
const NEVER_READ = {
  now(): number {
    assert(false, 'the replicated lessor read a clock');
  },
};

/** Records what the apply actor is handed, then lets it apply. */
class TappedApply implements Actor<ApplyInbox> {
  readonly #inner: ApplyActor;
  readonly #tap: (e: Entry) => void;

  constructor(inner: ApplyActor, tap: (e: Entry) => void) {
    this.#inner = inner;
    this.#tap = tap;
  }

  start(ctx: ActorContext<ApplyInbox>): void { this.#inner.start(ctx); }

  receive(message: ApplyInbox, ctx: ActorContext<ApplyInbox>): void {
    if (message.type === 'apply.committed') for (const e of message.entries) this.#tap(e);
    this.#inner.receive(message, ctx);
  }
}

/** Records the Raft state the front is told, then lets the front handle it. */
class TappedFront implements Actor<FrontInbox> {
  readonly #inner: FrontActor;
  readonly #tap: (s: { term: number; leader: bigint; role: string; commit: number }) => void;

  constructor(inner: FrontActor, tap: (s: { term: number; leader: bigint; role: string; commit: number }) => void) {
    this.#inner = inner;
    this.#tap = tap;
  }

  start(ctx: ActorContext<FrontInbox>): void { this.#inner.start(ctx); }

  receive(message: FrontInbox, ctx: ActorContext<FrontInbox>): void {
    if (message.type === 'front.raftState') this.#tap(message);
    this.#inner.receive(message, ctx);
  }

  stop(): void { this.#inner.stop(); }
}

/** The real watch hub actor over the member's store, as actors/boot.ts builds it. */
function watchActorOf(m: SimMember): WatchActor {
  const store = m.store;
  const history: HistoryReader = {
    eventsSince: (q) => store.read((view) => view.history({
      fromRevision: q.fromRevision, toRevision: q.toRevision, eventsMax: q.eventsMax,
      bytesMax: q.bytesMax, revisionsMax: q.revisionsMax,
      wanted: (key) => rangesContain(q.ranges, key),
    })),
  };
  const hub = new WatchHub({ history, currentRevision: store.state().current, progressIntervalTicks: 600 });
  return new WatchActor({
    hub, frontAddress: m.addresses.front, tickMs: 100, responsesPerSendMax: 256, deferredRequestsMax: 1_024,
  });
}

/** Records every change list apply hands the watch hub (replica agreement), then lets it match. */
class TappedWatch implements Actor<WatchInbox> {
  readonly #inner: WatchActor;
  readonly #tap: (changes: readonly ChangeSet[]) => void;

  constructor(inner: WatchActor, tap: (changes: readonly ChangeSet[]) => void) {
    this.#inner = inner;
    this.#tap = tap;
  }

  start(ctx: ActorContext<WatchInbox>): void { this.#inner.start(ctx); }

  receive(message: WatchInbox, ctx: ActorContext<WatchInbox>): void {
    if (message.type === 'watch.committed') this.#tap(message.changes);
    this.#inner.receive(message, ctx);
  }
}

/**
 * Runs an actor on a clock that drifts against the host's: its `now()` advances `rate` times as
 * fast, and its timers wait 1/rate as long in host time (so a fast clock fires its timers early).
 */
export class DriftingActor implements Actor<Message> {
  readonly #inner: AnyActor;
  readonly #rate: number;
  #ctx: ActorContext<Message> | null = null;

  constructor(inner: AnyActor, rate: number) {
    assert(rate > 0.5 && rate < 2, `clock rate ${rate} out of range`);
    this.#inner = inner;
    this.#rate = rate;
  }

  start(ctx: ActorContext<Message>): void {
    const rate = this.#rate;
    this.#ctx = {
      self: ctx.self, logger: ctx.logger, rng: ctx.rng,
      send: (to, m) => ctx.send(to, m),
      trySend: (to, m) => ctx.trySend(to, m),
      now: () => ctx.now() * rate,
      setTimer: (ms: number, m: Message): TimerId => ctx.setTimer(ms / rate, m),
      cancelTimer: (id) => ctx.cancelTimer(id),
    };
    this.#inner.start?.(this.#ctx);
  }

  receive(message: Message): void {
    this.#inner.receive(message, this.#ctx!);
  }

  stop(): void {
    this.#inner.stop?.();
  }
}

/** Digest of an entry for State Machine Safety: index, term, type and data. */
export function entryDigestOf(e: Entry): number {
  return fnv1a(e.data, (e.term * 0x9e3779b1 + e.index + (e.type === 'normal' ? 0 : 7)) >>> 0);
}
