/**
 * `strata sim` flags: what to run (one seed, a sweep, a replay), the cluster and workload
 * options, which faults are on and how heavily, and the deliberate mutations. Parsed once and
 * validated (a bad value names its flag).
 */
import { availableParallelism } from 'node:os';
import {
  ALL_FAULTS, DEFAULT_MIX, DEFAULT_OPTIONS, NO_FAULTS, NO_MUTATIONS,
  type FaultWeights, type Mutations, type OpMix, type SimOptions,
} from '../../sim/index.js';

export const SIM_USAGE = `strata sim: deterministic whole-cluster simulation with fault injection

  strata sim --seed N [options]          run one seed; print its choices, trace hash and verdict
  strata sim --seeds N [--from S] [--workers W] [--out DIR] [options]
                                         sweep seeds S..S+N-1 on W threads (default: all cores);
                                         each failing seed is shrunk and written to DIR
  strata sim --replay FILE               replay a failure file exactly

options:
  --members 1|3|5        cluster size (default ${DEFAULT_OPTIONS.members})
  --clients N            concurrent clients (default ${DEFAULT_OPTIONS.clients})
  --keys N               key set size, k0..k(N-1) (default ${DEFAULT_OPTIONS.keys})
  --ops N                operations per client (default ${DEFAULT_OPTIONS.opsPerClient})
  --watchers N           watch streams over every key, 0..16 (default ${DEFAULT_OPTIONS.watchers})
  --lease-clients N      clients granting, filling, renewing, revoking leases, 0..8 (default ${DEFAULT_OPTIONS.leaseClients})
  --window MS            faults happen in the first MS virtual ms (default ${DEFAULT_OPTIONS.faultWindowMs})
  --faults all|none      start from every fault on (default) or none
  --fault NAME=W         set one fault's weight or rate; 0 turns it off. Names: loss, duplicate,
                         delay (rates 0..1), partition, oneway, isolate-leader, crash (shares),
                         torn (0|1), drift (0..0.5), slow-disk (chance 0..1)
  --mix K=W,...          operation mix: put, get, serializable-get, delete, txn, compact
  --workload FILE        a module exporting planOps(options, rng) (your own workload)
  --mutate NAME          a deliberately broken build: stale-reads, ack-before-fsync, fast-lease-clock
  --verbose              print every fault event of a single run`;

export type SimCommand =
  | { readonly kind: 'seed'; readonly options: SimOptions; readonly workload?: string; readonly verbose: boolean }
  | {
    readonly kind: 'sweep'; readonly options: SimOptions; readonly from: number; readonly count: number;
    readonly workers: number; readonly outDir: string; readonly workload?: string;
  }
  | { readonly kind: 'replay'; readonly file: string }
  | { readonly kind: 'help' };

const FAULT_NAMES: Record<string, keyof FaultWeights> = {
  loss: 'loss', duplicate: 'duplicate', delay: 'delay', partition: 'partition', oneway: 'onewayPartition',
  'isolate-leader': 'isolateLeader', crash: 'crash', torn: 'tornWrites', drift: 'drift', 'slow-disk': 'slowDisk',
};

const MIX_NAMES: Record<string, keyof OpMix> = {
  put: 'put', get: 'get', 'serializable-get': 'serializableGet', delete: 'delete', txn: 'txn', compact: 'compact',
};

export function parseSimArgs(argv: readonly string[]): { ok: true; command: SimCommand } | { ok: false; error: string } {
  let seed: number | null = null;
  let seeds: number | null = null;
  let from = 1;
  let replay: string | null = null;
  let workers = availableParallelism();
  let outDir = '.';
  let workload: string | undefined;
  let verbose = false;
  let members: number = DEFAULT_OPTIONS.members;
  let clients = DEFAULT_OPTIONS.clients;
  let keys = DEFAULT_OPTIONS.keys;
  let ops = DEFAULT_OPTIONS.opsPerClient;
  let watchers = DEFAULT_OPTIONS.watchers;
  let leaseClients = DEFAULT_OPTIONS.leaseClients;
  let windowMs = DEFAULT_OPTIONS.faultWindowMs;
  let faults: Record<string, number | boolean> = { ...ALL_FAULTS };
  const faultOverrides: [keyof FaultWeights, number][] = [];
  let mix: OpMix = DEFAULT_MIX;
  const mutations: { -readonly [K in keyof Mutations]: boolean } = { ...NO_MUTATIONS };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === '--help' || flag === '-h') return { ok: true, command: { kind: 'help' } };
    if (flag === '--verbose') {
      verbose = true;
      continue;
    }
    // --flag value or --flag=value (split at the first '=': --fault=crash=2 is --fault crash=2).
    const eq = flag.indexOf('=');
    const [name, inline] = flag.startsWith('--') && eq > 0 ? [flag.slice(0, eq), flag.slice(eq + 1)] : [flag, undefined];
    const value = inline ?? argv[++i];
    if (value === undefined) return { ok: false, error: `${name} needs a value` };
    const int = (min: number, max: number): number | string => {
      const n = Number(value);
      return Number.isSafeInteger(n) && n >= min && n <= max ? n : `${name} must be an integer in ${min}..${max}: ${value}`;
    };
    let v: number | string = 0;
    switch (name) {
      case '--seed': v = int(0, 2 ** 32 - 1); if (typeof v === 'number') seed = v; break;
      case '--seeds': v = int(1, 100_000_000); if (typeof v === 'number') seeds = v; break;
      case '--from': v = int(0, 2 ** 32 - 1); if (typeof v === 'number') from = v; break;
      case '--workers': v = int(1, 256); if (typeof v === 'number') workers = v; break;
      case '--members': v = int(1, 5); if (typeof v === 'number') members = v; break;
      case '--clients': v = int(1, 64); if (typeof v === 'number') clients = v; break;
      case '--keys': v = int(1, 64); if (typeof v === 'number') keys = v; break;
      case '--ops': v = int(0, 10_000); if (typeof v === 'number') ops = v; break;
      case '--watchers': v = int(0, 16); if (typeof v === 'number') watchers = v; break;
      case '--lease-clients': v = int(0, 8); if (typeof v === 'number') leaseClients = v; break;
      case '--window': v = int(0, 600_000); if (typeof v === 'number') windowMs = v; break;
      case '--replay': replay = value; break;
      case '--out': outDir = value; break;
      case '--workload': workload = value; break;
      case '--faults':
        if (value !== 'all' && value !== 'none') return { ok: false, error: `--faults must be all or none: ${value}` };
        faults = { ...(value === 'all' ? ALL_FAULTS : NO_FAULTS) };
        break;
      case '--fault': {
        const [k, w] = value.split('=');
        const key = FAULT_NAMES[k ?? ''];
        const weight = Number(w);
        if (key === undefined) return { ok: false, error: `--fault: unknown fault ${k}; known: ${Object.keys(FAULT_NAMES).join(', ')}` };
        if (w === undefined || !Number.isFinite(weight) || weight < 0) return { ok: false, error: `--fault ${k} needs a weight >= 0: ${value}` };
        faultOverrides.push([key, weight]);
        break;
      }
      case '--mix': {
        const next: Record<string, number> = { put: 0, get: 0, serializableGet: 0, delete: 0, txn: 0, compact: 0 };
        for (const part of value.split(',')) {
          const [k, w] = part.split('=');
          const key = MIX_NAMES[k ?? ''];
          const weight = Number(w);
          if (key === undefined || !Number.isFinite(weight) || weight < 0) return { ok: false, error: `--mix: bad entry ${part}` };
          next[key] = weight;
        }
        if (Object.values(next).every((x) => x === 0)) return { ok: false, error: '--mix needs one positive weight' };
        mix = next as unknown as OpMix;
        break;
      }
      case '--mutate':
        if (value === 'stale-reads') mutations.staleReads = true;
        else if (value === 'ack-before-fsync') mutations.ackBeforeFsync = true;
        else if (value === 'fast-lease-clock') mutations.fastLeaseClock = true;
        else return { ok: false, error: `--mutate must be stale-reads, ack-before-fsync or fast-lease-clock: ${value}` };
        break;
      default:
        return { ok: false, error: `unknown flag ${name}` };
    }
    if (typeof v === 'string') return { ok: false, error: v };
  }
  for (const [key, weight] of faultOverrides) faults[key] = key === 'tornWrites' ? weight > 0 : weight;
  if (![1, 3, 5].includes(members)) return { ok: false, error: `--members must be 1, 3 or 5: ${members}` };
  const options = (s: number): SimOptions => ({
    seed: s, members: members as 1 | 3 | 5, clients, keys, opsPerClient: ops, watchers, leaseClients, faultWindowMs: windowMs,
    faults: faults as unknown as FaultWeights, mutations, mix,
  });
  const modes = [seed !== null, seeds !== null, replay !== null].filter(Boolean).length;
  if (modes !== 1) return { ok: false, error: 'give exactly one of --seed N, --seeds N, --replay FILE' };
  if (replay !== null) return { ok: true, command: { kind: 'replay', file: replay } };
  if (seed !== null) {
    return { ok: true, command: workload === undefined ? { kind: 'seed', options: options(seed), verbose } : { kind: 'seed', options: options(seed), workload, verbose } };
  }
  const sweep = { kind: 'sweep' as const, options: options(from), from, count: seeds!, workers, outDir };
  return { ok: true, command: workload === undefined ? sweep : { ...sweep, workload } };
}
