/**
 * One simulation run: builds the cluster for a Plan on a SimHost, runs the clients and the
 * nemesis (the plan's faults at their virtual times), heals everything after the fault window,
 * lets the cluster settle, and runs every checker:
 * - Linearizability of the KV history (linearizable reads, writes, Txns);
 * - Serializable reads see committed state (the agreed value of the key at the read's revision);
 * - Replica agreement: every member derives the same change set for each revision;
 * - HashKV equal on every member at a common revision;
 * - the Raft invariants (Election Safety, Leader Append-Only, Log Matching, Leader Completeness,
 *   State Machine Safety), observed on durable logs during the run;
 * - Liveness after heal: every member converges to one applied revision.
 *
 * The run is async only to drain the front's Promise callbacks after each delivery (the storage
 * underneath completes synchronously through the simulated disk): the same plan gives the same
 * trace hash, delivery for delivery.
 */
import { SeededRng, assert, fromUtf8, type MemberId, type Rng } from '../base/index.js';
import type { ChangeSet } from '../mvcc/index.js';
import type { Entry } from '../raft/index.js';
import { ActorFailure, SimHost, type Actor, type ActorContext } from '../runtime/index.js';
import { checkLinearizable, type KvHistoryOp, type LinearizabilityVerdict } from './linearizability.js';
import { InvariantViolation, RaftInvariants, type RaftMemberView } from './raft-invariants.js';
import { SimCluster, entryDigestOf, type SimMember } from './sim-cluster.js';
import { NO_NETWORK_FAULTS } from './sim-network.js';
import { describeFault, type Plan, type PlanFault } from './sim-plan.js';
import { ClientsActor, CLIENT_WARMUP_MS, CLIENTS_ADDRESS, Workload, type SerializableRead } from './workload.js';
import { WatchClients } from './sim-watch.js';
import { LEASE_CLIENTS_ADDRESS, LeaseClients, LeaseClientsActor, checkLeases } from './sim-lease.js';
import { HistoryModel, type CommittedBatch } from '../watch/index.js';

export interface Violation {
  /** The guarantee, by name. */
  readonly checker: string;
  readonly detail: string;
}

export interface RunResult {
  readonly seed: number;
  readonly traceHash: string;
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  readonly history: readonly KvHistoryOp[];
  readonly counts: { readonly ok: number; readonly failed: number; readonly unknown: number };
  readonly virtualMs: number;
  readonly deliveries: number;
  /** What the nemesis did, in order, with virtual times. */
  readonly events: readonly string[];
  readonly network: { routed: number; lost: number; blocked: number; duplicated: number; delayed: number };
  /** Watches created (resumptions included) and events delivered to them. */
  readonly watch: { readonly watches: number; readonly events: number };
  readonly leases: { readonly leases: number; readonly granted: number; readonly keepalives: number; readonly revoked: number };
}

const TICK_MS = 10;
const ELECTION_TICKS = 10;
const REQUEST_TIMEOUT_MS = 1_000;
/** How long the cluster has to converge once healed and the clients are done. */
const SETTLE_MAX_MS = 10_000;
/** Raft invariants are observed every this many deliveries (and at the end). */
const OBSERVE_EVERY = 32;
/** A run stops (as a violation) after this much virtual time. */
const RUN_MAX_MS = 600_000;

type NemesisInbox =
  | { readonly type: 'nemesis.start'; readonly index: number }
  | { readonly type: 'nemesis.end'; readonly index: number }
  | { readonly type: 'nemesis.healAll' }
  | { readonly type: 'nemesis.watchers' };

/** Everything one run builds: the host, the cluster, the clients, the observers. */
interface Run {
  readonly plan: Plan;
  readonly host: SimHost;
  readonly cluster: SimCluster;
  readonly violations: Violation[];
  readonly invariants: RaftInvariants;
  readonly raftStates: Map<MemberId, { term: number; role: string; commit: number }>;
  readonly agreement: ReplicaAgreement;
  readonly workload: Workload;
  readonly leases: LeaseClients;
  readonly watchers: WatchClients;
  readonly nemesis: Nemesis;
  readonly events: string[];
}

export async function runPlan(plan: Plan): Promise<RunResult> {
  const run = build(plan);
  const settled = await drive(run);
  judge(run, settled);
  const { host, cluster, violations, workload, watchers, leases, events } = run;
  return {
    seed: plan.options.seed, traceHash: host.traceHash(), ok: violations.length === 0, violations,
    history: workload.history, counts: { ...workload.counts }, virtualMs: host.clock.now(),
    deliveries: host.deliveries, events, network: { ...cluster.net.stats }, watch: watchers.stats(),
    leases: leases.stats(),
  };
}

function build(plan: Plan): Run {
  const o = plan.options;
  const host = new SimHost({ seed: o.seed });
  const violations: Violation[] = [];
  const invariants = new RaftInvariants();
  const raftStates = new Map<MemberId, { term: number; role: string; commit: number }>();
  const agreement = new ReplicaAgreement(violations, () => host.clock.now());
  const cluster = new SimCluster(host, {
    members: o.members, tickMs: TICK_MS, electionTicks: ELECTION_TICKS, clockRates: plan.clockRates,
    disk: {
      fsyncMinMs: plan.fsyncMs.min, fsyncMaxMs: plan.fsyncMs.max, tornWrites: o.faults.tornWrites,
      ackBeforeFsync: o.mutations.ackBeforeFsync,
    },
    // Log compaction would need snapshot transfer of the mvcc env, which the simulator lacks.
    snapshotCount: 1_000_000, logKeepEntries: 5_000, requestTimeoutMs: REQUEST_TIMEOUT_MS,
    leaseClockRate: o.mutations.fastLeaseClock ? 1.6 : 1,
  }, {
    applied: (id, e) => guard(violations, () => invariants.recordApplied(id, e.index, entryDigestOf(e))),
    changes: (member, changes) => agreement.record(member, changes),
    raftState: (id, s) => raftStates.set(id, s),
  });
  cluster.net.rates = plan.network;
  const workload = new Workload(cluster, plan.ops, o.clients, o.mutations, REQUEST_TIMEOUT_MS + 500);
  host.spawn(CLIENTS_ADDRESS, () => new ClientsActor(workload));
  const leases = new LeaseClients(cluster, plan.leases, o.leaseClients);
  host.spawn(LEASE_CLIENTS_ADDRESS, () => new LeaseClientsActor(leases, CLIENT_WARMUP_MS));
  const events: string[] = [];
  const forget = (id: MemberId): void => {
    // A crashed member's last report (say, "leader of term 2") must not outlive it.
    raftStates.delete(id);
    invariants.forget(id);
  };
  const watchers = new WatchClients(cluster, o.watchers, plan.watchPrevKv);
  const nemesisRng = new SeededRng((Math.imul(o.seed, 0x9e3779b1) + 0x6e656d) >>> 0);
  const nemesis = new Nemesis(cluster, watchers, plan.faults, raftStates, forget, nemesisRng, events, o.faultWindowMs);
  host.spawn('load/nemesis', () => nemesis);
  return {
    plan, host, cluster, violations, invariants, raftStates, agreement, workload, leases, watchers,
    nemesis, events,
  };
}

/** Delivers events until the cluster settled after the heal (true) or a violation or a limit. */
async function drive(run: Run): Promise<boolean> {
  const { host, cluster, violations, invariants, raftStates, agreement, workload, leases, watchers, nemesis } = run;
  const views = (): RaftMemberView[] => cluster.members.filter((m) => m.up && !m.disk.busy)
    .map((m) => viewOf(m, raftStates.get(m.id)));
  let quietAt = -1;
  let steps = 0;
  while (violations.length === 0) {
    let stepped: boolean;
    try {
      stepped = host.step();
    } catch (e) {
      // An assertion inside an actor stopped its member: the build is broken, name where.
      if (!(e instanceof ActorFailure)) throw e;
      violations.push({ checker: 'No Actor Fails', detail: `${e.message}\n${e.causeStack.split('\n').slice(0, 6).join('\n')}` });
      break;
    }
    if (!stepped) break;
    // The front's promise callbacks run here, at the instant of the delivery that settled them.
    await null;
    if (++steps % OBSERVE_EVERY === 0) guard(violations, () => invariants.observe(views()));
    const now = host.clock.now();
    // Quiet: everything healed and every client done; from then the cluster must settle.
    if (quietAt < 0 && nemesis.healed && workload.done && leases.done) quietAt = now;
    if (quietAt >= 0 && steps % OBSERVE_EVERY === 0 && converged(cluster)
      && watchers.caughtUp(new HistoryModel(agreement.batches()), agreement.finalRevision())) {
      guard(violations, () => invariants.fullCheck(views()));
      return true;
    }
    if (quietAt >= 0 && now - quietAt > SETTLE_MAX_MS) break;
    if (now > RUN_MAX_MS) break;
  }
  guard(violations, () => invariants.fullCheck(views()));
  return false;
}

/** Runs the checkers, in order, until the first violation. */
function judge(run: Run, settled: boolean): void {
  const { plan, cluster, violations, agreement, workload, leases, watchers } = run;
  const checks: (() => Violation | null)[] = [
    () => (settled ? null : {
      checker: 'Liveness', detail: `within ${SETTLE_MAX_MS} ms of the heal and the clients' end, the members did not converge `
        + `(${cluster.members.map((m) => `${m.name} rev ${m.up ? m.store.state().current : 'down'}`).join(', ')}) `
        + `or the watchers did not receive every event up to revision ${agreement.finalRevision()}`,
    }),
    () => checkHashKV(cluster),
    () => {
      const compacted = Math.max(...cluster.members.map((m) => m.store.state().compacted));
      const lines = watchers.check(agreement.batches(), agreement.finalRevision(), compacted);
      return lines.length === 0 ? null : {
        checker: 'Watch Guarantees (ordered, unique, atomic, reliable, resumable, prev_kv, bookmarkable)',
        detail: lines.slice(0, 10).join('\n'),
      };
    },
    () => checkLeases(leases.records, agreement.batches(), (rev) => agreement.firstSeenMs(rev), plan.options.faults.drift),
    () => checkSerializable(workload.serializableReads, agreement),
    () => {
      const v: LinearizabilityVerdict = checkLinearizable(workload.history);
      if (v.ok === false) return { checker: 'Linearizability', detail: `key ${v.key}: ${v.explanation}` };
      if (v.ok === 'unknown') return { checker: 'Linearizability', detail: `search gave up on key ${v.key} after ${v.explored} steps` };
      return null;
    },
  ];
  for (const check of checks) {
    if (violations.length > 0) return;
    const v = check();
    if (v !== null) violations.push(v);
  }
}

function guard(violations: Violation[], fn: () => void): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof InvariantViolation)) throw e;
    if (violations.length === 0) violations.push({ checker: e.invariant, detail: e.message });
  }
}

function converged(cluster: SimCluster): boolean {
  const revs = cluster.members.map((m) => (m.up ? m.store.state().appliedIndex : -1));
  const leaders = cluster.members.filter((m) => m.up && m.front.leader === m.id);
  return revs.every((r) => r === revs[0] && r > 0) && leaders.length === 1;
}

function viewOf(m: SimMember, s: { term: number; role: string; commit: number } | undefined): RaftMemberView {
  const st = m.raftStorage;
  const hard = st.hardState();
  const last = st.lastIndex();
  // Role and term come together from the member's last report, never mixed with the durable
  // term (seed 1365); but a member whose durable term passed its report has moved on and may
  // hold the new term's entries already: it is a follower of that term (seed 274).
  const moved = s === undefined || hard.term > s.term;
  return {
    id: m.id, role: (moved ? 'follower' : s.role) as RaftMemberView['role'],
    term: moved ? hard.term : s.term,
    commit: Math.min(s?.commit ?? hard.commit, last),
    firstIndex: st.firstIndex(), lastIndex: last,
    termAt: (i) => {
      const t = st.term(i);
      return typeof t === 'number' ? t : null;
    },
    digestAt: (i) => {
      const es = st.entries(i, i + 1, Number.MAX_SAFE_INTEGER);
      assert(es !== 'ErrCompacted' && es.length === 1, `entry ${i} of ${m.name}`);
      return entryDigestOf(es[0]!);
    },
  };
}

/** Every member must derive the same change set for a revision; keeps the agreed history. */
class ReplicaAgreement {
  readonly #byRevision = new Map<number, {
    readonly digest: string; readonly member: string; readonly changes: ChangeSet; readonly atMs: number;
  }>();
  readonly #violations: Violation[];
  readonly #now: () => number;

  constructor(violations: Violation[], now: () => number) {
    this.#violations = violations;
    this.#now = now;
  }

  /** When a member first applied `revision` (virtual ms). */
  firstSeenMs(revision: number): number {
    const known = this.#byRevision.get(revision);
    assert(known !== undefined, `revision ${revision} was seen`);
    return known.atMs;
  }

  record(member: string, changes: readonly ChangeSet[]): void {
    for (const cs of changes) {
      const digest = digestOf(cs);
      const known = this.#byRevision.get(cs.revision);
      if (known === undefined) this.#byRevision.set(cs.revision, { digest, member, changes: cs, atMs: this.#now() });
      else if (known.digest !== digest && this.#violations.length === 0) {
        this.#violations.push({
          checker: 'Replica Agreement',
          detail: `revision ${cs.revision}: ${known.member} derived ${known.digest}, ${member} derived ${digest}`,
        });
      }
    }
  }

  /** Every agreed revision's change set, ascending: the committed history watchers must see. */
  batches(): CommittedBatch[] {
    return [...this.#byRevision.keys()].sort((a, b) => a - b).map((r) => this.#byRevision.get(r)!.changes);
  }

  finalRevision(): number {
    let max = 0;
    for (const r of this.#byRevision.keys()) if (r > max) max = r;
    return max;
  }

  /** The agreed value of `key` at `revision`, or undefined when a revision up to it is unknown. */
  valueAt(key: string, revision: number): string | null | undefined {
    for (let r = revision; r >= 2; r--) {
      const cs = this.#byRevision.get(r);
      if (cs === undefined) return undefined;
      for (let i = cs.changes.events.length - 1; i >= 0; i--) {
        const e = cs.changes.events[i]!;
        if (fromUtf8(e.kv.key) === key) return e.type === 'PUT' ? fromUtf8(e.kv.value) : null;
      }
    }
    return null;
  }
}

function digestOf(cs: ChangeSet): string {
  return cs.events.map((e) => `${e.type} ${fromUtf8(e.kv.key)}=${fromUtf8(e.kv.value)} c${e.kv.createRevision} m${e.kv.modRevision} v${e.kv.version}`).join('; ');
}

function checkSerializable(reads: readonly SerializableRead[], agreement: ReplicaAgreement): Violation | null {
  for (const r of reads) {
    const want = agreement.valueAt(r.key, r.revision);
    if (want === undefined || want === r.value) continue;
    return {
      checker: 'Serializable Reads See Committed State',
      detail: `client ${r.client} read ${r.key}=${r.value ?? '<absent>'} at revision ${r.revision} on ${r.member}; the replicas agree it was ${want ?? '<absent>'}`,
    };
  }
  return null;
}

function checkHashKV(cluster: SimCluster): Violation | null {
  const up = cluster.members.filter((m) => m.up);
  const states = up.map((m) => m.store.state());
  const rev = Math.min(...states.map((s) => s.current));
  if (rev < 1 || states.some((s) => s.compacted > rev)) return null;
  const hashes = up.map((m) => {
    const h = m.store.read((v) => v.hashKV(rev));
    return h.ok ? `${h.hash}` : `error ${h.code}`;
  });
  if (hashes.every((h) => h === hashes[0])) return null;
  return { checker: 'HashKV Equal', detail: `at revision ${rev}: ${up.map((m, i) => `${m.name} ${hashes[i]}`).join(', ')}` };
}

/** Applies the plan's faults at their times, and heals everything when the window ends. */
class Nemesis implements Actor<NemesisInbox> {
  healed = false;
  readonly #cluster: SimCluster;
  readonly #watchers: WatchClients;
  readonly #faults: readonly PlanFault[];
  readonly #states: ReadonlyMap<MemberId, { term: number; role: string }>;
  readonly #forget: (id: MemberId) => void;
  readonly #rng: Rng;
  readonly #events: string[];
  readonly #windowMs: number;
  /** Watchers start with the clients; before that a crash or restart leaves them be. */
  #watchersOn = false;
  /** Members crashed by fault index, to restart the right one. */
  readonly #crashed = new Map<number, SimMember>();

  constructor(cluster: SimCluster, watchers: WatchClients, faults: readonly PlanFault[], states: ReadonlyMap<MemberId, { term: number; role: string }>,
    forget: (id: MemberId) => void, rng: Rng, events: string[], windowMs: number) {
    this.#cluster = cluster;
    this.#watchers = watchers;
    this.#faults = faults;
    this.#states = states;
    this.#forget = forget;
    this.#rng = rng;
    this.#events = events;
    this.#windowMs = windowMs;
  }

  start(ctx: ActorContext<NemesisInbox>): void {
    for (const [index, f] of this.#faults.entries()) {
      ctx.setTimer(f.atMs, { type: 'nemesis.start', index });
      ctx.setTimer(Math.min(f.atMs + f.forMs, this.#windowMs), { type: 'nemesis.end', index });
    }
    ctx.setTimer(this.#windowMs, { type: 'nemesis.healAll' });
    ctx.setTimer(CLIENT_WARMUP_MS, { type: 'nemesis.watchers' });
  }

  receive(message: NemesisInbox, ctx: ActorContext<NemesisInbox>): void {
    const c = this.#cluster;
    const at = ctx.now().toFixed(3);
    if (message.type === 'nemesis.watchers') {
      this.#watchersOn = true;
      this.#watchers.attach();
      return;
    }
    if (message.type === 'nemesis.healAll') {
      c.net.healAll();
      c.net.rates = NO_NETWORK_FAULTS;
      for (const m of c.members) if (!m.up) c.restart(m);
      if (this.#watchersOn) this.#watchers.attach();
      this.healed = true;
      this.#events.push(`${at} ms: heal everything, network faults off`);
      return;
    }
    const f = this.#faults[message.index]!;
    if (message.type === 'nemesis.end') {
      this.#end(message.index, f, at);
      return;
    }
    if (this.healed) return;
    if (this.#watchersOn) this.#watchers.requestProgress();
    const leader = this.#leader();
    switch (f.kind) {
      case 'partition': {
        const minority = f.minority.map((i) => c.members[i]!.name);
        this.#split(minority);
        this.#events.push(`${at} ms: ${describeFault(f)}`);
        return;
      }
      case 'oneway':
        c.net.block(c.members[f.from]!.name, c.members[f.to]!.name);
        this.#events.push(`${at} ms: ${describeFault(f)}`);
        return;
      case 'isolateLeader':
        if (leader === null) {
          this.#events.push(`${at} ms: isolate the leader: no leader, skipped`);
          return;
        }
        this.#split([leader.name]);
        this.#events.push(`${at} ms: isolate the leader ${leader.name}`);
        return;
      case 'crash': {
        const m = f.member === 'leader' ? leader : c.members[f.member]!;
        if (m === null || !m.up) {
          this.#events.push(`${at} ms: crash ${f.member === 'leader' ? 'the leader' : `m${f.member + 1}`}: skipped`);
          return;
        }
        const r = c.crash(m, this.#rng);
        this.#forget(m.id);
        if (this.#watchersOn) this.#watchers.crashed(m);
        this.#crashed.set(message.index, m);
        this.#events.push(`${at} ms: crash ${m.name}: ${r.lost} unsynced writes lost, ${r.kept} kept${r.torn ? ', last WAL record torn' : ''}`);
        return;
      }
    }
  }

  #end(index: number, f: PlanFault, at: string): void {
    const c = this.#cluster;
    if (f.kind === 'crash') {
      const m = this.#crashed.get(index);
      if (m === undefined || m.up) return;
      this.#crashed.delete(index);
      c.restart(m);
      if (this.#watchersOn) this.#watchers.attach();
      this.#events.push(`${at} ms: restart ${m.name}`);
      return;
    }
    // Partitions overlap rarely and heal together: a partition's end heals every link.
    if (!this.healed) {
      c.net.healAll();
      this.#events.push(`${at} ms: heal the network`);
    }
  }

  #split(side: readonly string[]): void {
    const c = this.#cluster;
    for (const a of c.members) {
      for (const b of c.members) {
        if (side.includes(a.name) !== side.includes(b.name)) c.net.block(a.name, b.name);
      }
    }
  }

  #leader(): SimMember | null {
    let best: SimMember | null = null;
    let term = -1;
    for (const m of this.#cluster.members) {
      const s = this.#states.get(m.id);
      if (m.up && s !== undefined && s.role === 'leader' && s.term > term) {
        best = m;
        term = s.term;
      }
    }
    return best;
  }
}
