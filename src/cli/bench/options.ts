/**
 * Flags of `strata bench`, modelled on etcd's tools/benchmark: --endpoints, --conns, --clients,
 * --total or --duration, --key-size, --val-size, --key-space-size, --sequential-keys, --rate,
 * --consistency. Parsing never throws: a bad flag becomes one line of error text.
 */
import { availableParallelism } from 'node:os';

export const WORKLOADS = [
  'put', 'range', 'txn-put', 'delete', 'mixed', 'watch', 'lease-keepalive',
] as const;
export type Workload = (typeof WORKLOADS)[number];

/** Named maxima of the flags (each guards a buffer or a loop of the generator). */
export const BENCH_LIMITS = {
  clientsMax: 10_000,
  connsMax: 1_000,
  workersMax: 64,
  keySizeMax: 1024,
  valSizeMax: 1024 * 1024,
  txnOpsMax: 128,
  watchersMax: 100_000,
  durationSecondsMax: 3600,
} as const;

export interface BenchOptions {
  readonly workload: Workload;
  readonly endpoints: readonly string[];
  readonly conns: number;
  readonly clients: number;
  /** Exactly one of total and durationSeconds is set. */
  readonly total: number | undefined;
  readonly durationSeconds: number | undefined;
  readonly keySize: number;
  readonly valSize: number;
  readonly keySpaceSize: number;
  readonly sequentialKeys: boolean;
  /** Operations per second over all clients; 0 means as fast as possible. */
  readonly rate: number;
  readonly consistency: 'l' | 's';
  readonly txnOps: number;
  /** Fraction of reads in the mixed workload. */
  readonly readRatio: number;
  readonly watchers: number;
  readonly watchStreams: number;
  readonly prefix: string;
  readonly workers: number;
  readonly seed: number;
  /** A local server process to charge CPU to (utime + stime from /proc), or undefined. */
  readonly serverPid: number | undefined;
  /** Print only the JSON line. */
  readonly json: boolean;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

interface FlagSpec {
  readonly kind: 'int' | 'number' | 'string' | 'bool';
  readonly min?: number;
  readonly max?: number;
}

const FLAGS: Record<string, FlagSpec> = {
  endpoints: { kind: 'string' },
  conns: { kind: 'int', min: 1, max: BENCH_LIMITS.connsMax },
  clients: { kind: 'int', min: 1, max: BENCH_LIMITS.clientsMax },
  total: { kind: 'int', min: 1, max: 1e12 },
  duration: { kind: 'number', min: 0.05, max: BENCH_LIMITS.durationSecondsMax },
  'key-size': { kind: 'int', min: 1, max: BENCH_LIMITS.keySizeMax },
  'val-size': { kind: 'int', min: 0, max: BENCH_LIMITS.valSizeMax },
  'key-space-size': { kind: 'int', min: 1, max: 1e12 },
  'sequential-keys': { kind: 'bool' },
  rate: { kind: 'number', min: 0, max: 1e9 },
  consistency: { kind: 'string' },
  'txn-ops': { kind: 'int', min: 1, max: BENCH_LIMITS.txnOpsMax },
  'read-ratio': { kind: 'number', min: 0, max: 1 },
  watchers: { kind: 'int', min: 1, max: BENCH_LIMITS.watchersMax },
  'watch-streams': { kind: 'int', min: 1, max: BENCH_LIMITS.watchersMax },
  prefix: { kind: 'string' },
  workers: { kind: 'int', min: 1, max: BENCH_LIMITS.workersMax },
  seed: { kind: 'int', min: 0, max: Number.MAX_SAFE_INTEGER },
  'server-pid': { kind: 'int', min: 1, max: 2 ** 31 },
  json: { kind: 'bool' },
};

type RawFlags = Map<string, string | number | boolean>;

/** Splits `--name=value`, `--name value` and boolean `--name` flags; positional args apart. */
export function splitFlags(argv: readonly string[], specs: Record<string, FlagSpec>):
  Parsed<{ positional: string[]; flags: RawFlags }> {
  const positional: string[] = [];
  const flags: RawFlags = new Map();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    const spec = specs[name];
    if (spec === undefined) return { ok: false, error: `unknown flag --${name}` };
    if (flags.has(name)) return { ok: false, error: `flag --${name} given twice` };
    let text: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    if (spec.kind === 'bool') {
      if (text !== undefined && text !== 'true' && text !== 'false') {
        return { ok: false, error: `flag --${name} takes true or false, not "${text}"` };
      }
      flags.set(name, text !== 'false');
      continue;
    }
    if (text === undefined) {
      text = argv[++i];
      if (text === undefined) return { ok: false, error: `flag --${name} needs a value` };
    }
    const value = convert(name, spec, text);
    if (typeof value === 'object') return value;
    flags.set(name, value);
  }
  return { ok: true, value: { positional, flags } };
}

function convert(name: string, spec: FlagSpec, text: string):
  string | number | { ok: false; error: string } {
  if (spec.kind === 'string') return text;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n)) {
    return { ok: false, error: `flag --${name} needs a number, not "${text}"` };
  }
  if (spec.kind === 'int' && !Number.isInteger(n)) {
    return { ok: false, error: `flag --${name} needs an integer, not "${text}"` };
  }
  if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
    const range = `[${spec.min ?? '-inf'}, ${spec.max ?? 'inf'}]`;
    return { ok: false, error: `flag --${name} must be in ${range}, not ${text}` };
  }
  return n;
}

/** Normalises `http://host:port` and `host:port` to `host:port`. */
export function parseEndpoints(text: string): Parsed<string[]> {
  const out: string[] = [];
  for (const part of text.split(',')) {
    const e = part.trim().replace(/^https?:\/\//, '').replace(/\/$/, '');
    if (!/^[^:/\s]+:\d{1,5}$/.test(e)) {
      return { ok: false, error: `bad endpoint "${part}" (want host:port)` };
    }
    out.push(e);
  }
  return { ok: true, value: out };
}

const num = (f: RawFlags, name: string, dflt: number): number => {
  const v = f.get(name);
  return typeof v === 'number' ? v : dflt;
};
const str = (f: RawFlags, name: string, dflt: string): string => {
  const v = f.get(name);
  return typeof v === 'string' ? v : dflt;
};

/** Parses `strata bench <workload> [flags]` (argv after "bench"). */
export function parseBenchArgs(argv: readonly string[]): Parsed<BenchOptions> {
  const split = splitFlags(argv, FLAGS);
  if (!split.ok) return split;
  const { positional, flags } = split.value;
  const name = positional[0];
  const known = `one of ${WORKLOADS.join(', ')}, compare`;
  if (name === undefined) return { ok: false, error: `missing workload (${known})` };
  if (positional.length > 1) return { ok: false, error: `unexpected argument "${positional[1]}"` };
  if (!(WORKLOADS as readonly string[]).includes(name)) {
    return { ok: false, error: `unknown workload "${name}" (${known})` };
  }
  const workload = name as Workload;
  const endpoints = parseEndpoints(str(flags, 'endpoints', '127.0.0.1:2379'));
  if (!endpoints.ok) return endpoints;
  const consistency = str(flags, 'consistency', 'l');
  if (consistency !== 'l' && consistency !== 's') {
    return { ok: false, error: `flag --consistency takes l or s, not "${consistency}"` };
  }
  if (flags.has('total') && flags.has('duration')) {
    return { ok: false, error: 'give --total or --duration, not both' };
  }
  const clients = num(flags, 'clients', 1);
  const conns = num(flags, 'conns', 1);
  const watchers = num(flags, 'watchers', 100);
  const watchStreams = num(flags, 'watch-streams', 10);
  if (watchStreams > watchers) {
    return { ok: false, error: '--watch-streams cannot exceed --watchers' };
  }
  const cores = availableParallelism();
  const workers = num(flags, 'workers', Math.max(1, Math.min(cores - 1, clients)));
  if (workers > clients && workload !== 'watch') {
    return { ok: false, error: `--workers (${workers}) cannot exceed --clients (${clients})` };
  }
  const keySize = num(flags, 'key-size', 8);
  const keySpaceSize = num(flags, 'key-space-size', 1);
  const digits = String(keySpaceSize - 1).length;
  if (digits > keySize) {
    const error = `--key-space-size ${keySpaceSize} needs --key-size of at least ${digits}`;
    return { ok: false, error };
  }
  const txnOps = num(flags, 'txn-ops', 4);
  if (workload === 'txn-put' && txnOps > keySpaceSize) {
    const error = `--txn-ops ${txnOps} needs --key-space-size of at least ${txnOps} `
      + '(distinct keys)';
    return { ok: false, error };
  }
  const valSize = num(flags, 'val-size', 8);
  if (workload === 'watch' && valSize < 8) {
    const error = '--val-size must be at least 8 for watch (values carry their put time)';
    return { ok: false, error };
  }
  const duration = flags.get('duration');
  return {
    ok: true,
    value: {
      workload, endpoints: endpoints.value, conns, clients,
      total: typeof duration === 'number' ? undefined : num(flags, 'total', 10_000),
      durationSeconds: typeof duration === 'number' ? duration : undefined,
      keySize, valSize, keySpaceSize,
      sequentialKeys: flags.get('sequential-keys') === true,
      rate: num(flags, 'rate', workload === 'watch' ? 1000 : 0),
      consistency, txnOps, readRatio: num(flags, 'read-ratio', 0.9),
      watchers, watchStreams,
      prefix: str(flags, 'prefix', workload === 'watch' ? 'bench-watch/' : ''),
      workers, seed: num(flags, 'seed', 1),
      serverPid: flags.has('server-pid') ? num(flags, 'server-pid', 0) : undefined,
      json: flags.get('json') === true,
    },
  };
}

export const BENCH_USAGE = `usage: strata bench <${WORKLOADS.join('|')}> [flags]
       strata bench compare [--duration S] [--quick] [--json]
flags: --endpoints h:p[,h:p] --conns N --clients N (--total N | --duration S) --key-size N
       --val-size N --key-space-size N --sequential-keys --rate OPS --consistency l|s
       --txn-ops N --read-ratio F --watchers N --watch-streams N --prefix P --workers N
       --seed N --server-pid PID --json`;
