/**
 * What one simulation run does, as plain data: the options a user chose (flags), and the plan a
 * seed derives from them (every client operation, every fault with its virtual time, each
 * member's clock rate, the disk's and the network's fault rates). A plan is JSON-serializable,
 * so a failing run is written to a file and replayed exactly, and shrinking is editing the plan
 * (dropping operations and faults) and running it again.
 */
import { SeededRng, assert, type Rng } from '../base/index.js';
import type { NetworkFaultRates } from './sim-network.js';
import type { LeaseScript } from './sim-lease.js';

/** Fault kinds, each switched on by a weight > 0 (its share of fault events, or its rate). */
export interface FaultWeights {
  /** Message loss, duplication, extra delay (reordering): per-message rate ceilings. */
  readonly loss: number;
  readonly duplicate: number;
  readonly delay: number;
  /** Shares of fault events: partitions of three shapes, crashes with restarts. */
  readonly partition: number;
  readonly onewayPartition: number;
  readonly isolateLeader: number;
  readonly crash: number;
  /** Crashes may keep a prefix of unsynced writes and tear the last WAL record. */
  readonly tornWrites: boolean;
  /** Largest clock drift of a member, as a fraction (0.05: clocks run 0.95x to 1.05x). */
  readonly drift: number;
  /** Chance the disk is slow (fsync 5 to 50 ms instead of 0.1 to 2 ms). */
  readonly slowDisk: number;
}

export const ALL_FAULTS: FaultWeights = {
  loss: 0.05, duplicate: 0.05, delay: 0.1, partition: 1, onewayPartition: 1, isolateLeader: 1,
  crash: 1, tornWrites: true, drift: 0.05, slowDisk: 0.3,
};

export const NO_FAULTS: FaultWeights = {
  loss: 0, duplicate: 0, delay: 0, partition: 0, onewayPartition: 0, isolateLeader: 0, crash: 0,
  tornWrites: false, drift: 0, slowDisk: 0,
};

/** Deliberately broken builds, to prove the checkers catch them. */
export interface Mutations {
  /** Linearizable reads skip the ReadIndex barrier (read the local store at once). */
  readonly staleReads: boolean;
  /** The disk acknowledges writes before they are durable. */
  readonly ackBeforeFsync: boolean;
  /** The lease actors' clocks run 1.6x fast, so leases expire early. */
  readonly fastLeaseClock: boolean;
}

export const NO_MUTATIONS: Mutations = { staleReads: false, ackBeforeFsync: false, fastLeaseClock: false };

/** Shares of the operation mix. */
export interface OpMix {
  readonly put: number;
  readonly get: number;
  readonly serializableGet: number;
  readonly delete: number;
  readonly txn: number;
  readonly compact: number;
}

export const DEFAULT_MIX: OpMix = { put: 30, get: 30, serializableGet: 10, delete: 8, txn: 20, compact: 2 };

export interface SimOptions {
  readonly seed: number;
  readonly members: 1 | 3 | 5;
  readonly clients: number;
  readonly keys: number;
  readonly opsPerClient: number;
  /** Watch streams, each with one watch over every key, resumed elsewhere when its member dies. */
  readonly watchers: number;
  /** Lease clients, each granting, filling, keeping alive and revoking or abandoning leases. */
  readonly leaseClients: number;
  /** Faults happen in [0, faultWindowMs); then everything heals. */
  readonly faultWindowMs: number;
  readonly faults: FaultWeights;
  readonly mutations: Mutations;
  readonly mix: OpMix;
}

export const DEFAULT_OPTIONS: Omit<SimOptions, 'seed'> = {
  members: 3, clients: 4, keys: 4, opsPerClient: 25, watchers: 2, leaseClients: 1, faultWindowMs: 3_000, faults: ALL_FAULTS,
  mutations: NO_MUTATIONS, mix: DEFAULT_MIX,
};

export type PlanOp =
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'get'; readonly key: string; readonly serializable: boolean }
  | { readonly kind: 'delete'; readonly key: string }
  /** A Txn whose compare expects the value this client last saw for the key. */
  | { readonly kind: 'cas'; readonly key: string; readonly value: string }
  | { readonly kind: 'compact' };

export interface PlannedOp {
  readonly client: number;
  /** Think time before issuing, virtual ms. */
  readonly thinkMs: number;
  readonly op: PlanOp;
}

/** Member indexes are 0-based; 'leader' resolves to the member leading when the fault starts. */
export type PlanFault =
  | { readonly kind: 'partition'; readonly atMs: number; readonly forMs: number; readonly minority: readonly number[] }
  | { readonly kind: 'oneway'; readonly atMs: number; readonly forMs: number; readonly from: number; readonly to: number }
  | { readonly kind: 'isolateLeader'; readonly atMs: number; readonly forMs: number }
  | { readonly kind: 'crash'; readonly atMs: number; readonly forMs: number; readonly member: number | 'leader' };

export interface Plan {
  readonly options: SimOptions;
  readonly clockRates: readonly number[];
  readonly fsyncMs: { readonly min: number; readonly max: number };
  readonly network: NetworkFaultRates;
  /** Per watcher: whether its watch asks for prev_kv. */
  readonly watchPrevKv: readonly boolean[];
  readonly leases: readonly LeaseScript[];
  readonly ops: readonly PlannedOp[];
  readonly faults: readonly PlanFault[];
}

/**
 * A user's own workload: a module exporting `planOps`, which turns the options and a seeded rng
 * into the clients' operations (`strata sim --workload FILE`). Its operations are checked like
 * the built-in ones: every key is one of the option's `keys` names (`k0`..), every written value
 * is unique (the linearizability checker relies on it).
 */
export interface WorkloadModule {
  planOps(options: SimOptions, rng: Rng): readonly PlannedOp[];
}

export const BUILTIN_WORKLOAD: WorkloadModule = { planOps };

export function planOf(options: SimOptions, workload: WorkloadModule = BUILTIN_WORKLOAD): Plan {
  validateOptions(options);
  const root = new SeededRng(options.seed);
  const rng = root.fork();
  const f = options.faults;
  const clockRates = Array.from({ length: options.members }, () =>
    (f.drift > 0 ? round3(1 + (rng.float() * 2 - 1) * f.drift) : 1));
  const slow = f.slowDisk > 0 && rng.chance(f.slowDisk);
  const fsyncMs = slow ? { min: 5, max: 50 } : { min: 0.1, max: 2 };
  const network: NetworkFaultRates = {
    loss: round3(rng.float() * f.loss), duplicate: round3(rng.float() * f.duplicate),
    delay: round3(rng.float() * f.delay), delayMaxMs: f.delay > 0 ? rng.int(5, 100) : 0,
  };
  const watchPrevKv = Array.from({ length: options.watchers }, () => rng.chance(0.5));
  const leases: LeaseScript[] = [];
  for (let client = 0; client < options.leaseClients; client++) {
    for (let n = rng.int(1, 3); n > 0; n--) {
      leases.push({
        client, ttlSeconds: rng.int(1, 3), keys: rng.int(1, 3), keepalives: rng.int(0, 4),
        end: rng.chance(0.5) ? 'revoke' : 'expire',
      });
    }
  }
  return {
    options, clockRates, fsyncMs, network, watchPrevKv, leases,
    ops: checkOps(options, workload.planOps(options, root.fork())), faults: planFaults(options, root.fork()),
  };
}

/** Asserts a workload's operations fit the checkers' assumptions. */
export function checkOps(o: SimOptions, ops: readonly PlannedOp[]): readonly PlannedOp[] {
  const values = new Set<string>();
  for (const p of ops) {
    assert(Number.isSafeInteger(p.client) && p.client >= 0 && p.client < o.clients, `op client ${p.client} out of 0..${o.clients - 1}`);
    assert(Number.isFinite(p.thinkMs) && p.thinkMs >= 0, `op thinkMs must be >= 0: ${p.thinkMs}`);
    const op = p.op;
    assert(['put', 'get', 'delete', 'cas', 'compact'].includes(op.kind), `unknown op kind ${String(op.kind)}`);
    if (op.kind === 'compact') continue;
    assert(/^k\d+$/.test(op.key) && Number(op.key.slice(1)) < o.keys, `op key ${op.key} is not one of k0..k${o.keys - 1}`);
    if (op.kind === 'put' || op.kind === 'cas') {
      assert(!values.has(op.value), `value ${op.value} written twice (values must be unique)`);
      values.add(op.value);
    }
  }
  return ops;
}

function planOps(o: SimOptions, rng: Rng): PlannedOp[] {
  const kinds = Object.entries(o.mix).filter(([, w]) => w > 0) as [keyof OpMix, number][];
  const total = kinds.reduce((s, [, w]) => s + w, 0);
  const ops: PlannedOp[] = [];
  let unique = 0;
  for (let c = 0; c < o.clients; c++) {
    for (let i = 0; i < o.opsPerClient; i++) {
      let x = rng.float() * total;
      let kind: keyof OpMix = kinds[0]![0];
      for (const [k, w] of kinds) {
        if (x < w) { kind = k; break; }
        x -= w;
      }
      const key = `k${rng.int(0, o.keys - 1)}`;
      const thinkMs = round3(rng.float() * 40);
      const op: PlanOp = kind === 'put' ? { kind: 'put', key, value: `v${++unique}` }
        : kind === 'get' ? { kind: 'get', key, serializable: false }
          : kind === 'serializableGet' ? { kind: 'get', key, serializable: true }
            : kind === 'delete' ? { kind: 'delete', key }
              : kind === 'txn' ? { kind: 'cas', key, value: `v${++unique}` }
                : { kind: 'compact' };
      ops.push({ client: c, thinkMs, op });
    }
  }
  return ops;
}

function planFaults(o: SimOptions, rng: Rng): PlanFault[] {
  const f = o.faults;
  const shares: [PlanFault['kind'], number][] = ([
    ['partition', f.partition], ['oneway', f.onewayPartition], ['isolateLeader', f.isolateLeader],
    ['crash', f.crash],
  ] as [PlanFault['kind'], number][]).filter(([kind, w]) => w > 0 && (kind === 'crash' || o.members > 1));
  const total = shares.reduce((s, [, w]) => s + w, 0);
  const faults: PlanFault[] = [];
  if (total === 0) return faults;
  for (let at = rng.int(50, 300); at < o.faultWindowMs; at += rng.int(100, 600)) {
    let x = rng.float() * total;
    let kind = shares[0]![0];
    for (const [k, w] of shares) {
      if (x < w) { kind = k; break; }
      x -= w;
    }
    const forMs = rng.int(50, 1_200);
    const n = o.members;
    switch (kind) {
      case 'partition': {
        const size = rng.int(1, Math.floor((n - 1) / 2) || 1);
        const all = Array.from({ length: n }, (_, i) => i);
        const minority: number[] = [];
        for (let i = 0; i < size; i++) minority.push(all.splice(rng.int(0, all.length - 1), 1)[0]!);
        faults.push({ kind, atMs: at, forMs, minority: minority.sort() });
        break;
      }
      case 'oneway': {
        const from = rng.int(0, n - 1);
        const to = (from + rng.int(1, n - 1)) % n;
        faults.push({ kind, atMs: at, forMs, from, to });
        break;
      }
      case 'isolateLeader':
        faults.push({ kind, atMs: at, forMs });
        break;
      case 'crash':
        faults.push({ kind, atMs: at, forMs, member: rng.chance(0.5) ? 'leader' : rng.int(0, n - 1) });
        break;
    }
  }
  return faults;
}

export function validateOptions(o: SimOptions): void {
  assert(Number.isSafeInteger(o.seed) && o.seed >= 0, `seed must be a non-negative integer: ${o.seed}`);
  assert([1, 3, 5].includes(o.members), `members must be 1, 3 or 5: ${o.members}`);
  assert(Number.isSafeInteger(o.clients) && o.clients >= 1 && o.clients <= 64, `clients must be 1..64: ${o.clients}`);
  assert(Number.isSafeInteger(o.keys) && o.keys >= 1 && o.keys <= 64, `keys must be 1..64: ${o.keys}`);
  assert(Number.isSafeInteger(o.opsPerClient) && o.opsPerClient >= 0 && o.opsPerClient <= 10_000,
    `opsPerClient must be 0..10000: ${o.opsPerClient}`);
  assert(Number.isSafeInteger(o.watchers) && o.watchers >= 0 && o.watchers <= 16, `watchers must be 0..16: ${o.watchers}`);
  assert(Number.isSafeInteger(o.leaseClients) && o.leaseClients >= 0 && o.leaseClients <= 8, `leaseClients must be 0..8: ${o.leaseClients}`);
  assert(o.faultWindowMs >= 0 && o.faultWindowMs <= 600_000, `faultWindowMs must be 0..600000: ${o.faultWindowMs}`);
  const f = o.faults;
  for (const k of ['loss', 'duplicate', 'delay', 'slowDisk'] as const) {
    assert(f[k] >= 0 && f[k] <= 1, `fault rate ${k} must be 0..1: ${f[k]}`);
  }
  for (const k of ['partition', 'onewayPartition', 'isolateLeader', 'crash'] as const) {
    assert(Number.isFinite(f[k]) && f[k] >= 0, `fault weight ${k} must be >= 0: ${f[k]}`);
  }
  assert(f.drift >= 0 && f.drift < 0.5, `drift must be 0..0.5: ${f.drift}`);
}

/** Every choice the seed made, one line each: what a run prints before its verdict. */
export function describePlan(p: Plan): string[] {
  const o = p.options;
  const counts = new Map<string, number>();
  for (const op of p.ops) {
    const k = op.op.kind === 'get' ? (op.op.serializable ? 'serializable get' : 'linearizable get') : op.op.kind === 'cas' ? 'txn' : op.op.kind;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const lines = [
    `seed ${o.seed}: ${o.members} member(s), ${o.clients} clients, ${o.watchers} watchers (prev_kv: ${p.watchPrevKv.join(', ') || '-'}), ${o.keys} keys, ${p.ops.length} operations (${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')})`,
    `leases: ${p.leases.map((l) => `client ${l.client}: TTL ${l.ttlSeconds} s, ${l.keys} keys, ${l.keepalives} keepalives, ${l.end}`).join('; ') || 'none'}`,
    `clock rates: ${p.clockRates.join(', ')}`,
    `disk: fsync ${p.fsyncMs.min}..${p.fsyncMs.max} ms, torn writes ${o.faults.tornWrites ? 'on' : 'off'}`,
    `network: loss ${p.network.loss}, duplicate ${p.network.duplicate}, delay ${p.network.delay} (up to ${p.network.delayMaxMs} ms)`,
    `faults in the first ${o.faultWindowMs} ms: ${p.faults.length}`,
  ];
  for (const f of p.faults) lines.push(`  ${describeFault(f)}`);
  const m = o.mutations;
  if (m.staleReads || m.ackBeforeFsync || m.fastLeaseClock) {
    lines.push(`MUTATIONS: ${[m.staleReads ? 'stale-reads' : '', m.ackBeforeFsync ? 'ack-before-fsync' : '',
      m.fastLeaseClock ? 'fast-lease-clock' : ''].filter(Boolean).join(', ')}`);
  }
  return lines;
}

export function describeFault(f: PlanFault): string {
  const span = `at ${f.atMs} ms for ${f.forMs} ms`;
  switch (f.kind) {
    case 'partition': return `${span}: partition isolating m${f.minority.map((i) => i + 1).join(', m')}`;
    case 'oneway': return `${span}: one-way partition, m${f.from + 1} -> m${f.to + 1} lost`;
    case 'isolateLeader': return `${span}: isolate the leader`;
    case 'crash': return `${span}: crash ${f.member === 'leader' ? 'the leader' : `m${f.member + 1}`} (restart after)`;
  }
}

function round3(x: number): number {
  return Math.round(x * 1_000) / 1_000;
}
