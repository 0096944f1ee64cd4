/**
 * src/cli/bench: `strata bench`, the load benchmark for any etcd-compatible endpoint, and
 * `strata bench compare` (a real etcd against a strata member, side by side). The load comes
 * from worker threads speaking gRPC on node:http2 with hand-built frames; latencies go into
 * HDR-style histograms merged across threads. Exit codes: 0 ok, 1 the run failed, 2 bad usage.
 */
import { runCompare } from './compare.js';
import { BENCH_USAGE, parseBenchArgs } from './options.js';
import { humanTable, jsonLine, ProgressBar } from './report.js';
import { runLoad } from './run.js';

export { Histogram } from './histogram.js';
export type { HistogramSnapshot } from './histogram.js';
export { parseBenchArgs, WORKLOADS } from './options.js';
export type { BenchOptions, Workload } from './options.js';
export { runLoad } from './run.js';
export type { RunResult } from './run.js';

export interface BenchIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly isTTY: boolean;
}

/** `strata bench ...` (argv after "bench"); resolves with the exit code. */
export async function runBench(argv: readonly string[], io: BenchIo): Promise<number> {
  if (argv[0] === 'compare') return runCompare(argv.slice(1), io);
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === 'help') {
    io.stdout.write(`${BENCH_USAGE}\n`);
    return argv.length === 0 ? 2 : 0;
  }
  const parsed = parseBenchArgs(argv);
  if (!parsed.ok) {
    io.stderr.write(`strata bench: ${parsed.error}\n`);
    return 2;
  }
  const o = parsed.value;
  const bar = new ProgressBar(io.stderr, o.workload, io.isTTY);
  try {
    const r = await runLoad(o, { onProgress: (ops, fraction) => bar.update(ops, fraction) });
    bar.done();
    if (!o.json) io.stdout.write(`${humanTable(r)}\n`);
    io.stdout.write(`${jsonLine(r, { endpoints: o.endpoints.join(',') })}\n`);
    return r.ops === 0 || r.errors > 0 ? 1 : 0;
  } catch (err) {
    bar.done();
    io.stderr.write(`strata bench: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
