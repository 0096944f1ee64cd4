/**
 * `strata bench compare`: starts a real etcd and a strata member with the same flags, runs the
 * same workload matrix against each, alternately (etcd first on even rows, strata first on odd
 * ones, swapped each round, so warm-up and background load do not favour one side), for
 * --rounds rounds (each figure in the table is the median over the rounds: this machine is
 * shared, and one noisy neighbour should not decide a ratio), and prints each workload's
 * throughput, p50 / p99 and server CPU per operation side by side with the ratios strata / etcd.
 * CPU per operation comes from /proc of the server process; it is the figure that carries over
 * to bigger machines, since on two cores the load generator itself takes about one.
 * When strata does not start, the etcd column is still measured and the command exits 1 with
 * "strata did not start: ...".
 */
import { assert } from '../../base/index.js';
import { BENCH_LIMITS, parseBenchArgs, splitFlags, type BenchOptions } from './options.js';
import { jsonLine, ProgressBar } from './report.js';
import { runLoad, type RunResult } from './run.js';
import { startServer, type ServerProcess } from './server-process.js';
import type { BenchIo } from './index.js';

export interface MatrixRow {
  readonly label: string;
  /** `strata bench` arguments, without --endpoints / --server-pid / --duration. */
  readonly args: readonly string[];
  /** The row runs a fixed --total instead of the matrix duration (delete uses up its keys). */
  readonly total?: number;
}

const KV = ['--key-size', '8', '--val-size', '256'];

/** The matrix the issue asks for. */
export const MATRIX: readonly MatrixRow[] = [
  ...[1, 16, 64, 256].map((c) => ({
    label: `put c=${c}`,
    args: ['put', '--clients', String(c), '--conns', String(Math.min(c, 4)),
      '--key-space-size', '100000', ...KV],
  })),
  ...(['l', 's'] as const).flatMap((cons) => [1, 64].map((c) => ({
    label: `range ${cons === 'l' ? 'linearizable' : 'serializable'} c=${c}`,
    args: ['range', '--consistency', cons, '--clients', String(c),
      '--conns', String(Math.min(c, 4)),
      '--key-space-size', '1000', ...KV],
  }))),
  { label: 'txn-put 4 ops c=64', args: ['txn-put', '--txn-ops', '4', '--clients', '64',
    '--conns', '4', '--key-space-size', '100000', ...KV] },
  { label: 'delete c=64', total: 10_000, args: ['delete', '--clients', '64', '--conns', '4',
    '--key-space-size', '10000', '--sequential-keys', ...KV] },
  { label: 'watch 100 watchers, 200 puts/s', args: ['watch', '--watchers', '100',
    '--watch-streams', '10', '--clients', '8', '--conns', '2', '--rate', '200',
    '--key-space-size', '1000', ...KV] },
  { label: 'lease keepalive c=64', args: ['lease-keepalive', '--clients', '64', '--conns', '4'] },
];

/** Rounds of the matrix by default (about 2 x 135 s here), and at most. */
export const ROUNDS_DEFAULT = 2;
const ROUNDS_MAX = 20;

const COMPARE_FLAGS = {
  duration: { kind: 'number', min: 0.2, max: BENCH_LIMITS.durationSecondsMax },
  quick: { kind: 'bool' },
  json: { kind: 'bool' },
  etcd: { kind: 'string' },
  only: { kind: 'string' },
  rounds: { kind: 'int', min: 1, max: ROUNDS_MAX },
  workers: { kind: 'int', min: 1, max: BENCH_LIMITS.workersMax },
  /** The strata entry point to start (default: this build's dist/src/cli/main.js). */
  'strata-main': { kind: 'string' },
} as const;

interface Side {
  readonly server: ServerProcess | undefined;
  readonly startError: string | undefined;
  /** Per matrix row, the runs of every round (an error text for a run that failed). */
  readonly results: (RunResult | string)[][];
}

function rowOptions(row: MatrixRow, server: ServerProcess, durationSeconds: number,
  workers: number | undefined, quick: boolean): BenchOptions {
  const args = [...row.args, '--endpoints', server.endpoint, '--server-pid', String(server.pid)];
  if (row.total !== undefined) {
    args.push('--total', String(quick ? Math.floor(row.total / 5) : row.total));
  }
  else args.push('--duration', String(durationSeconds));
  if (workers !== undefined) args.push('--workers', String(workers));
  const parsed = parseBenchArgs(args);
  if (!parsed.ok) throw new Error(`matrix row "${row.label}": ${parsed.error}`);
  return parsed.value;
}

export async function runCompare(argv: readonly string[], io: BenchIo): Promise<number> {
  const split = splitFlags(argv, COMPARE_FLAGS);
  if (!split.ok || split.value.positional.length > 0) {
    const why = split.ok ? `unexpected argument "${split.value.positional[0]}"` : split.error;
    io.stderr.write(`strata bench compare: ${why}\n`);
    return 2;
  }
  const f = split.value.flags;
  const quick = f.get('quick') === true;
  const numberFlag = (name: string): number | undefined => {
    const v = f.get(name);
    return typeof v === 'number' ? v : undefined;
  };
  const stringFlag = (name: string): string | undefined => {
    const v = f.get(name);
    return typeof v === 'string' ? v : undefined;
  };
  const duration = numberFlag('duration') ?? (quick ? 1 : 5);
  const rounds = numberFlag('rounds') ?? (quick ? 1 : ROUNDS_DEFAULT);
  const workers = numberFlag('workers');
  const only = stringFlag('only');
  const rows = MATRIX.filter((r) => only === undefined || r.label.startsWith(only));
  if (rows.length === 0) {
    io.stderr.write(`strata bench compare: no matrix row starts with "${only}"\n`);
    return 2;
  }
  const etcdBinary = stringFlag('etcd') ?? 'etcd';
  const strataMain = stringFlag('strata-main');
  const sides = {
    etcd: await start('etcd', etcdBinary, strataMain),
    strata: await start('strata', etcdBinary, strataMain),
  };
  for (const [kind, side] of Object.entries(sides)) {
    if (side.startError === undefined) continue;
    io.stderr.write(`${kind} did not start: ${side.startError} (measuring the other side only)\n`);
  }
  for (const side of Object.values(sides)) for (const _ of rows) side.results.push([]);
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [i, row] of rows.entries()) {
        const order = (i + round) % 2 === 0 ? (['etcd', 'strata'] as const)
          : (['strata', 'etcd'] as const);
        for (const kind of order) {
          const side = sides[kind];
          const runs = side.results[i];
          assert(runs !== undefined, 'one result list per row');
          if (side.server === undefined) {
            runs.push('did not start');
            continue;
          }
          const o = rowOptions(row, side.server, duration, workers, quick);
          const bar = new ProgressBar(io.stderr, `${kind}: ${row.label}`, io.isTTY);
          try {
            const r = await runLoad(o, { onProgress: (ops, fr) => bar.update(ops, fr) });
            runs.push(r);
            io.stdout.write(`${jsonLine(r, { server: kind, row: row.label, round })}\n`);
          } catch (err) {
            runs.push(err instanceof Error ? err.message : String(err));
          } finally {
            bar.done();
          }
        }
      }
    }
  } finally {
    await Promise.all(Object.values(sides).map((s) => s.server?.stop()));
  }
  if (f.get('json') !== true) {
    const etcd = sides.etcd.results.map(medianRun);
    const strata = sides.strata.results.map(medianRun);
    io.stdout.write(`${compareTable(rows, etcd, strata)}\n`);
  }
  const failed = [sides.etcd, sides.strata].some((s) => s.startError !== undefined
    || s.results.some((runs) => runs.some((r) => typeof r === 'string' || r.errors > 0)));
  if (sides.strata.startError !== undefined) {
    io.stderr.write(`strata did not start: ${sides.strata.startError}\n`);
  }
  return failed ? 1 : 0;
}

async function start(kind: 'etcd' | 'strata', etcdBinary: string, strataMain: string | undefined):
  Promise<Side> {
  try {
    const server = await startServer(kind, etcdBinary, strataMain);
    return { server, startError: undefined, results: [] };
  } catch (err) {
    const startError = err instanceof Error ? err.message : String(err);
    return { server: undefined, startError, results: [] };
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid] ?? 0 : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
};

/**
 * One row's figures over its rounds: each figure is the median of the runs whose figures are
 * usable; the first error of any run is kept so the table's notes still show it. With no usable
 * run, the first failed run (or its error text) stands for the row.
 */
export function medianRun(runs: readonly (RunResult | string)[]): RunResult | string {
  const ok = runs.filter((r): r is RunResult => usable(r) !== undefined);
  const first = ok[0];
  if (first === undefined) return runs.find((r) => typeof r === 'object') ?? runs[0] ?? 'no runs';
  const m = (pick: (r: RunResult) => number): number => median(ok.map(pick));
  const cpu = ok.every((r) => r.serverCpuMicrosPerOp !== undefined)
    ? m((r) => r.serverCpuMicrosPerOp ?? 0) : undefined;
  const all = runs.filter((r): r is RunResult => typeof r === 'object');
  return {
    ...first,
    ops: m((r) => r.ops), errors: m((r) => r.errors),
    firstError: all.find((r) => r.firstError !== undefined)?.firstError,
    elapsedSeconds: m((r) => r.elapsedSeconds), throughput: m((r) => r.throughput),
    latencyMs: {
      min: m((r) => r.latencyMs.min), mean: m((r) => r.latencyMs.mean),
      p50: m((r) => r.latencyMs.p50), p90: m((r) => r.latencyMs.p90),
      p99: m((r) => r.latencyMs.p99), p999: m((r) => r.latencyMs.p999),
      max: m((r) => r.latencyMs.max),
    },
    serverCpuMicrosPerOp: cpu, clientCpuMicrosPerOp: m((r) => r.clientCpuMicrosPerOp),
  };
}

/** Most failed requests, as a fraction of the successful ones, for a run's figures to be shown. */
export const ERROR_FRACTION_MAX = 0.01;

function usable(r: RunResult | string | undefined): RunResult | undefined {
  if (typeof r !== 'object' || r.ops === 0) return undefined;
  return r.errors > r.ops * ERROR_FRACTION_MAX ? undefined : r;
}

const num = (n: number | undefined, d: number): string => (n === undefined ? '-' : n.toFixed(d));
const ratio = (a: number | undefined, b: number | undefined): string =>
  (a === undefined || b === undefined || b === 0 ? '-' : (a / b).toFixed(2));

/** The side-by-side table: one line per workload, etcd | strata | strata / etcd. */
export function compareTable(rows: readonly MatrixRow[], etcd: readonly (RunResult | string)[],
  strata: readonly (RunResult | string)[]): string {
  const head = ['workload', 'etcd ops/s', 'strata ops/s', 'x',
    'etcd p50/p99 ms', 'strata p50/p99 ms',
    'x p99', 'etcd us/op', 'strata us/op', 'x cpu'];
  const lines: string[][] = [head];
  const notes: string[] = [];
  rows.forEach((row, i) => {
    const e = etcd[i];
    const s = strata[i];
    const er = usable(e);
    const sr = usable(s);
    if (typeof e === 'string') notes.push(`etcd, ${row.label}: ${e}`);
    if (typeof s === 'string' && s !== 'did not start') notes.push(`strata, ${row.label}: ${s}`);
    for (const [who, r] of [['etcd', e], ['strata', s]] as const) {
      if (typeof r !== 'object' || r.firstError === undefined) continue;
      notes.push(`${who}, ${row.label}: ${r.errors} errors, first: ${r.firstError}`);
    }
    lines.push([
      row.label,
      num(er?.throughput, 0), num(sr?.throughput, 0), ratio(sr?.throughput, er?.throughput),
      er === undefined ? '-' : `${num(er.latencyMs.p50, 2)}/${num(er.latencyMs.p99, 2)}`,
      sr === undefined ? '-' : `${num(sr.latencyMs.p50, 2)}/${num(sr.latencyMs.p99, 2)}`,
      ratio(sr?.latencyMs.p99, er?.latencyMs.p99),
      num(er?.serverCpuMicrosPerOp, 1), num(sr?.serverCpuMicrosPerOp, 1),
      ratio(sr?.serverCpuMicrosPerOp, er?.serverCpuMicrosPerOp),
    ]);
  });
  const widths = head.map((_, c) => Math.max(...lines.map((l) => (l[c] ?? '').length)));
  const text = lines.map((l) => l.map((cell, c) => (c === 0 ? cell.padEnd(widths[c] ?? 0)
    : cell.padStart(widths[c] ?? 0))).join('  ').trimEnd());
  text.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return [...text, ...notes.map((n) => `note: ${n}`)].join('\n');
}
