/**
 * A pure simulation of a Raft cluster: N RawNodes over MemoryRaftStorage, a simulated network
 * and simulated disks, all driven by one SeededRng on a virtual clock, so a seed replays a run
 * event for event. The network delays (reorders), drops and duplicates messages and cuts
 * partitions; members crash, losing every Ready whose persistence had not finished, and restart
 * from what was durable. Each member applies committed entries to a tiny state machine (a chain
 * digest), takes snapshots and compacts its log. After every step RaftInvariants checks the
 * safety properties of the paper; the whole-system simulator reuses this harness.
 */
import { assert, SeededRng } from '../base/index.js';
import type { MemberId, Rng } from '../base/index.js';
import {
  MemoryRaftStorage, RawNode, describeMessage,
} from '../raft/index.js';
import type { ConfState, Entry, Message, Ready, Snapshot } from '../raft/index.js';
import type { RaftMemberView } from './raft-invariants.js';
import { RaftInvariants, fnv1a } from './raft-invariants.js';

export interface RaftClusterOptions {
  readonly seed: number;
  readonly members: number;
  readonly electionTicks?: number;
  readonly heartbeatTicks?: number;
  /** Virtual milliseconds per tick. */
  readonly tickMs?: number;
  readonly latencyMinMs?: number;
  readonly latencyMaxMs?: number;
  /** Virtual milliseconds a Ready takes to persist (fsync). */
  readonly persistMinMs?: number;
  readonly persistMaxMs?: number;
  readonly dropRate?: number;
  readonly duplicateRate?: number;
  /** A member takes a snapshot and compacts once this many entries are applied past its snapshot. */
  readonly snapshotEvery?: number;
  /** Entries kept behind a snapshot for slow followers. */
  readonly compactKeep?: number;
  readonly maxInflightMessages?: number;
  readonly maxEntriesPerMessage?: number;
  /** Check invariants after every step (the default); benchmarks turn it off. */
  readonly checkInvariants?: boolean;
  /** Trace lines kept for a failure report (the last ones). */
  readonly traceMax?: number;
}

type SimEvent =
  | { readonly kind: 'deliver'; readonly msg: Message }
  | { readonly kind: 'persisted'; readonly id: MemberId; readonly incarnation: number; readonly ready: Ready }
  | { readonly kind: 'tick' };

interface Queued {
  readonly at: number;
  readonly seq: number;
  readonly event: SimEvent;
}

/** A binary min-heap on (at, seq): ties resolve in insertion order, so runs are deterministic. */
class EventQueue {
  #heap: Queued[] = [];

  get size(): number {
    return this.#heap.length;
  }

  push(q: Queued): void {
    const h = this.#heap;
    h.push(q);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  pop(): Queued | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < h.length && before(h[l]!, h[m]!)) m = l;
        if (r < h.length && before(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }

  peek(): Queued | undefined {
    return this.#heap[0];
  }
}

function before(a: Queued, b: Queued): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** The simulated state machine: how many entries were applied and a digest chained over them. */
export interface SimStateMachine {
  index: number;
  chain: number;
}

export function encodeStateMachine(sm: SimStateMachine): Uint8Array {
  const out = new Uint8Array(12);
  const v = new DataView(out.buffer);
  v.setFloat64(0, sm.index);
  v.setUint32(8, sm.chain);
  return out;
}

export function decodeStateMachine(data: Uint8Array): SimStateMachine {
  if (data.length === 0) return { index: 0, chain: 0 };
  assert(data.length === 12, `state machine snapshot of ${data.length} bytes`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { index: v.getFloat64(0), chain: v.getUint32(8) };
}

export function entryDigest(e: Entry): number {
  return fnv1a(e.data, e.type === 'confChange' ? 0x1234567 : 0x811c9dc5);
}

export class SimMember {
  readonly id: MemberId;
  readonly storage: MemoryRaftStorage;
  node: RawNode | null = null;
  incarnation = 0;
  /** The Ready being persisted, if any. */
  busy: Ready | null = null;
  sm: SimStateMachine = { index: 0, chain: 0 };
  /** Entries applied by this member over all its lives. */
  appliedCount = 0;

  constructor(id: MemberId, confState: ConfState) {
    this.id = id;
    this.storage = new MemoryRaftStorage(confState);
  }

  get up(): boolean {
    return this.node !== null;
  }
}

export interface CommittedRecord {
  readonly index: number;
  readonly term: number;
  readonly data: Uint8Array;
  /** Virtual time at which some member first applied it. */
  readonly appliedAtMs: number;
}

export class RaftCluster {
  readonly options: Required<RaftClusterOptions>;
  readonly rng: Rng;
  readonly members: SimMember[] = [];
  readonly invariants = new RaftInvariants();
  readonly trace: string[] = [];
  nowMs = 0;
  steps = 0;
  /** Ids cut off from each other: a link a<->b is down when their groups differ. */
  #group = new Map<MemberId, number>();
  #dropRate: number;
  #duplicateRate: number;
  #queue = new EventQueue();
  #seq = 0;
  /** Called for each entry the first time any member applies it (benchmarks measure latency). */
  onFirstApply: ((e: Entry, atMs: number) => void) | null = null;
  #firstApplied = 0;

  constructor(opts: RaftClusterOptions) {
    this.options = {
      seed: opts.seed, members: opts.members, electionTicks: opts.electionTicks ?? 10,
      heartbeatTicks: opts.heartbeatTicks ?? 1, tickMs: opts.tickMs ?? 10,
      latencyMinMs: opts.latencyMinMs ?? 1, latencyMaxMs: opts.latencyMaxMs ?? 8,
      persistMinMs: opts.persistMinMs ?? 1, persistMaxMs: opts.persistMaxMs ?? 4,
      dropRate: opts.dropRate ?? 0, duplicateRate: opts.duplicateRate ?? 0,
      snapshotEvery: opts.snapshotEvery ?? 50, compactKeep: opts.compactKeep ?? 5,
      maxInflightMessages: opts.maxInflightMessages ?? 16,
      maxEntriesPerMessage: opts.maxEntriesPerMessage ?? 64,
      checkInvariants: opts.checkInvariants ?? true, traceMax: opts.traceMax ?? 0,
    };
    assert(this.options.members >= 1 && this.options.members <= 9, `members ${this.options.members}`);
    this.rng = new SeededRng(opts.seed);
    this.#dropRate = this.options.dropRate;
    this.#duplicateRate = this.options.duplicateRate;
    const ids = Array.from({ length: this.options.members }, (_, i) => BigInt(i + 1) as MemberId);
    const cs: ConfState = { voters: ids, learners: [] };
    for (const id of ids) {
      this.members.push(new SimMember(id, cs));
      this.#group.set(id, 0);
    }
    for (const m of this.members) this.restart(m.id);
    this.#schedule(this.options.tickMs, { kind: 'tick' });
  }

  member(id: MemberId): SimMember {
    const m = this.members.find((x) => x.id === id);
    assert(m !== undefined, `no member ${id}`);
    return m;
  }

  #log(line: string): void {
    if (this.options.traceMax === 0) return;
    if (this.trace.length >= this.options.traceMax) this.trace.shift();
    this.trace.push(`${this.nowMs.toFixed(0).padStart(6)} ${line}`);
  }

  #schedule(delayMs: number, event: SimEvent): void {
    this.#queue.push({ at: this.nowMs + delayMs, seq: this.#seq++, event });
  }

  // ---- faults -------------------------------------------------------------------------------

  setMessageFaults(dropRate: number, duplicateRate: number): void {
    this.#dropRate = dropRate;
    this.#duplicateRate = duplicateRate;
  }

  /** Splits the members into the given groups; members not listed form one more group. */
  partition(groups: readonly (readonly MemberId[])[]): void {
    for (const m of this.members) this.#group.set(m.id, groups.length);
    groups.forEach((g, i) => { for (const id of g) this.#group.set(id, i); });
    this.#log(`partition ${groups.map((g) => `[${g.join(',')}]`).join(' ')}`);
  }

  heal(): void {
    for (const m of this.members) this.#group.set(m.id, 0);
    this.#log('heal');
  }

  connected(a: MemberId, b: MemberId): boolean {
    return this.#group.get(a) === this.#group.get(b);
  }

  /** Stops a member: its in-memory state and any Ready not yet persisted are lost. */
  crash(id: MemberId): void {
    const m = this.member(id);
    if (m.node === null) return;
    m.node = null;
    m.busy = null;
    m.incarnation++;
    this.invariants.forget(id);
    this.#log(`crash ${id}`);
  }

  /** Starts (or restarts) a member from its durable storage. */
  restart(id: MemberId): void {
    const m = this.member(id);
    assert(m.node === null, `restart of running member ${id}`);
    const snap = m.storage.snapshot();
    m.sm = decodeStateMachine(snap.data);
    m.incarnation++;
    m.node = new RawNode({
      id, storage: m.storage, rng: this.rng.fork(), applied: snap.metadata.index,
      electionTicks: this.options.electionTicks, heartbeatTicks: this.options.heartbeatTicks,
      maxInflightMessages: this.options.maxInflightMessages,
      maxEntriesPerMessage: this.options.maxEntriesPerMessage,
    });
    // Everything up to the snapshot is the restored state; entries after it are re-applied.
    this.#log(`start ${id} at snapshot ${snap.metadata.index}, last ${m.storage.lastIndex()}`);
  }

  // ---- running ------------------------------------------------------------------------------

  /** Processes one event, then hands out Ready values; checks invariants. False when idle. */
  step(): boolean {
    const q = this.#queue.pop();
    if (q === undefined) return false;
    assert(q.at >= this.nowMs, 'time went back');
    this.nowMs = q.at;
    this.steps++;
    this.#handle(q.event);
    this.#drainReadies();
    if (this.options.checkInvariants) this.invariants.observe(this.views());
    return true;
  }

  /** Runs until virtual time `untilMs`. */
  runUntil(untilMs: number): void {
    for (;;) {
      const next = this.#queue.peek();
      if (next === undefined || next.at > untilMs) break;
      this.step();
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
  }

  runTicks(ticks: number): void {
    this.runUntil(this.nowMs + ticks * this.options.tickMs);
  }

  #handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick':
        for (const m of this.members) m.node?.tick();
        this.#schedule(this.options.tickMs, { kind: 'tick' });
        return;
      case 'deliver': {
        const to = this.member(ev.msg.to);
        if (to.node === null) return;
        to.node.step(ev.msg);
        return;
      }
      case 'persisted': {
        const m = this.member(ev.id);
        if (m.incarnation !== ev.incarnation || m.node === null) return; // crashed meanwhile
        this.#finishReady(m, m.node, ev.ready);
        return;
      }
    }
  }

  #drainReadies(): void {
    for (const m of this.members) {
      const node = m.node;
      if (node === null || m.busy !== null || !node.hasReady()) continue;
      const rd = node.ready();
      m.busy = rd;
      for (const msg of rd.messages) this.#send(msg);
      const delay = this.rng.int(this.options.persistMinMs, this.options.persistMaxMs);
      this.#schedule(delay, { kind: 'persisted', id: m.id, incarnation: m.incarnation, ready: rd });
    }
  }

  #finishReady(m: SimMember, node: RawNode, rd: Ready): void {
    m.storage.persistSync(rd);
    if (rd.snapshot !== null) this.#installSnapshot(m, rd.snapshot);
    for (const msg of rd.messagesAfterPersist) this.#send(msg);
    for (const e of rd.committedEntries) this.#apply(m, node, e);
    m.busy = null;
    node.advance(rd);
    this.#maybeCompact(m, node);
  }

  #installSnapshot(m: SimMember, snap: Snapshot): void {
    const sm = decodeStateMachine(snap.data);
    assert(sm.index === snap.metadata.index, 'snapshot data and metadata disagree');
    m.sm = sm;
    if (this.options.checkInvariants) this.invariants.recordApplied(m.id, sm.index, sm.chain);
  }

  #apply(m: SimMember, node: RawNode, e: Entry): void {
    if (e.index <= m.sm.index) return; // covered by a snapshot installed in this Ready
    assert(e.index === m.sm.index + 1, `member ${m.id} applies ${e.index} after ${m.sm.index}`);
    if (e.type === 'confChange') node.raft.applyConfChangeEntry(e);
    m.sm = { index: e.index, chain: fnv1a(e.data, (m.sm.chain ^ entryDigest(e) ^ e.term) >>> 0) };
    m.appliedCount++;
    if (this.options.checkInvariants) this.invariants.recordApplied(m.id, e.index, m.sm.chain);
    if (e.index > this.#firstApplied) {
      this.#firstApplied = e.index;
      this.onFirstApply?.(e, this.nowMs);
    }
  }

  #maybeCompact(m: SimMember, node: RawNode): void {
    const snapIndex = m.storage.snapshot().metadata.index;
    if (m.sm.index - snapIndex < this.options.snapshotEvery) return;
    const cs = node.raft.tracker.confState();
    m.storage.createSnapshotSync(m.sm.index, cs, encodeStateMachine(m.sm));
    const keepFrom = m.sm.index - this.options.compactKeep;
    if (keepFrom > m.storage.firstIndex()) m.storage.compactSync(keepFrom);
  }

  #send(msg: Message): void {
    const from = this.member(msg.from);
    const lost = !this.connected(msg.from, msg.to) || this.rng.chance(this.#dropRate);
    if (lost) {
      if (msg.type === 'MsgSnap') from.node?.reportSnapshot(msg.to, false);
      return;
    }
    const copies = this.rng.chance(this.#duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const latency = this.rng.int(this.options.latencyMinMs, this.options.latencyMaxMs);
      this.#schedule(latency, { kind: 'deliver', msg });
    }
    if (msg.type === 'MsgSnap') from.node?.reportSnapshot(msg.to, true);
    if (this.options.traceMax > 0) this.#log(describeMessage(msg));
  }

  // ---- clients and views ----------------------------------------------------------------------

  leader(): SimMember | null {
    let best: SimMember | null = null;
    for (const m of this.members) {
      const n = m.node;
      if (n === null || n.raft.role !== 'leader') continue;
      if (best === null || n.raft.term > best.node!.raft.term) best = m;
    }
    return best;
  }

  /** A leader that every running member follows, in the highest term: a stable cluster. */
  stableLeader(): SimMember | null {
    const l = this.leader();
    if (l === null) return null;
    for (const m of this.members) {
      if (m.node === null) continue;
      if (m.node.raft.lead !== l.id || m.node.raft.term !== l.node!.raft.term) return null;
    }
    return l;
  }

  /** Proposes data at member `id` (followers forward); false if refused. */
  propose(id: MemberId, data: readonly Uint8Array[]): boolean {
    const n = this.member(id).node;
    if (n === null) return false;
    const res = n.propose(data);
    this.#drainReadies();
    return res.ok;
  }

  proposeConfChange(id: MemberId, type: 'addNode' | 'addLearner' | 'removeNode', nodeId: MemberId): boolean {
    const n = this.member(id).node;
    if (n === null) return false;
    const res = n.proposeConfChange({ type, nodeId });
    this.#drainReadies();
    return res.ok;
  }

  views(): RaftMemberView[] {
    const out: RaftMemberView[] = [];
    for (const m of this.members) {
      const n = m.node;
      if (n === null) continue;
      const log = n.raft.log;
      out.push({
        id: m.id, role: n.raft.role, term: n.raft.term, commit: log.committed,
        firstIndex: log.firstIndex(), lastIndex: log.lastIndex(),
        termAt: (i) => {
          const t = log.term(i);
          return typeof t === 'number' ? t : null;
        },
        digestAt: (i) => {
          const got = log.slice(i, i + 1, Number.MAX_SAFE_INTEGER);
          assert(got !== 'ErrCompacted' && got.length === 1, `entry ${i} unavailable`);
          return entryDigest(got[0]!);
        },
      });
    }
    return out;
  }

  fullCheck(): void {
    this.invariants.fullCheck(this.views());
  }
}
