/**
 * `strata sim`: deterministic whole-cluster simulation (src/sim) from the command line. One seed
 * prints every choice the seed made, what the nemesis did, the trace hash and the verdict; a sweep
 * runs blocks of seeds on a piscina pool with a progress bar, shrinks and writes each failure, and
 * prints the throughput (simulated client operations per second of wall time); a replay runs a
 * failure file's plan again and checks it gives the same trace hash.
 */
import { Piscina } from 'piscina';
import { describePlan, planOf, runPlan } from '../../sim/index.js';
import { parseSimArgs, SIM_USAGE, type SimCommand } from './options.js';
import { loadWorkload, readFailure, type SeedOutcome } from './run-seed.js';
import type { SweepTask } from './worker.js';

export interface SimIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly isTTY: boolean;
}

/** Seeds per piscina task: small enough for a smooth progress bar, large enough to amortize. */
const SEEDS_PER_TASK = 10;

/** `strata sim ...` (argv after "sim"); resolves with the exit code (1 when a check failed). */
export async function runSim(argv: readonly string[], io: SimIo): Promise<number> {
  const parsed = parseSimArgs(argv);
  if (!parsed.ok) {
    io.stderr.write(`strata sim: ${parsed.error}\n${SIM_USAGE}\n`);
    return 2;
  }
  const c = parsed.command;
  switch (c.kind) {
    case 'help':
      io.stdout.write(`${SIM_USAGE}\n`);
      return 0;
    case 'seed':
      return runOne(c, io);
    case 'sweep':
      return runSweep(c, io);
    case 'replay':
      return runReplay(c.file, io);
  }
}

async function runOne(c: Extract<SimCommand, { kind: 'seed' }>, io: SimIo): Promise<number> {
  const workload = await loadWorkload(c.workload);
  const plan = planOf(c.options, workload);
  for (const line of describePlan(plan)) io.stdout.write(`${line}\n`);
  const started = performance.now();
  const r = await runPlan(plan);
  const wallS = (performance.now() - started) / 1_000;
  if (c.verbose) for (const e of r.events) io.stdout.write(`  ${e}\n`);
  const ops = r.counts.ok + r.counts.failed + r.counts.unknown;
  io.stdout.write(`operations: ${r.counts.ok} ok, ${r.counts.failed} failed, ${r.counts.unknown} outcome unknown; `
    + `${r.deliveries} deliveries over ${r.virtualMs.toFixed(0)} virtual ms; network ${JSON.stringify(r.network)}\n`);
  io.stdout.write(`watches: ${r.watch.watches} created (resumptions included), ${r.watch.events} events delivered\n`);
  io.stdout.write(`leases: ${r.leases.leases} tried, ${r.leases.granted} granted, ${r.leases.keepalives} keepalives acknowledged, ${r.leases.revoked} revoked\n`);
  io.stdout.write(`throughput: ${Math.round(ops / wallS)} simulated operations/s of wall time\n`);
  io.stdout.write(`trace hash: ${r.traceHash}\n`);
  if (r.ok) {
    io.stdout.write('verdict: ok (Linearizability, Serializable Reads See Committed State, Replica Agreement, HashKV Equal, Watch Guarantees, Lease Keys Go Together, No Early Expiry, Raft invariants, Liveness)\n');
    return 0;
  }
  const v = r.violations[0]!;
  io.stdout.write(`verdict: VIOLATION of ${v.checker}\n${v.detail}\n`);
  return 1;
}

async function runSweep(c: Extract<SimCommand, { kind: 'sweep' }>, io: SimIo): Promise<number> {
  const started = performance.now();
  const pool = new Piscina({
    filename: new URL('./worker.js', import.meta.url).href,
    minThreads: c.workers, maxThreads: c.workers, idleTimeout: 1_000,
  });
  const total = c.count;
  let done = 0;
  let operations = 0;
  const failures: SeedOutcome[] = [];
  const progress = new Progress(io, total);
  const tasks: Promise<void>[] = [];
  try {
    for (let from = c.from; from < c.from + total; from += SEEDS_PER_TASK) {
      const task: SweepTask = {
        options: c.options, from, to: Math.min(from + SEEDS_PER_TASK, c.from + total), outDir: c.outDir,
        ...(c.workload === undefined ? {} : { workload: c.workload }),
      };
      tasks.push((pool.run(task) as Promise<SeedOutcome[]>).then((outcomes) => {
        for (const o of outcomes) {
          done++;
          operations += o.operations;
          if (!o.ok) {
            failures.push(o);
            progress.note(`seed ${o.seed}: VIOLATION of ${o.checker}; shrunk failure written to ${o.file}`);
          }
        }
        progress.update(done, failures.length);
      }));
    }
    await Promise.all(tasks);
  } finally {
    await pool.destroy();
  }
  progress.finish();
  const wallS = (performance.now() - started) / 1_000;
  io.stdout.write(`${total} seeds (${c.from}..${c.from + total - 1}), ${c.options.members} members, ${c.workers} workers: `
    + `${failures.length} violation(s)\n`);
  io.stdout.write(`throughput: ${Math.round(operations / wallS)} simulated operations/s of wall time `
    + `(${operations} operations in ${wallS.toFixed(1)} s)\n`);
  for (const f of failures.sort((a, b) => a.seed - b.seed)) {
    io.stdout.write(`  seed ${f.seed}: ${f.checker}: ${(f.detail ?? '').split('\n')[0]} -> ${f.file}\n`);
  }
  return failures.length === 0 ? 0 : 1;
}

async function runReplay(file: string, io: SimIo): Promise<number> {
  const failure = readFailure(file);
  for (const line of describePlan(failure.plan)) io.stdout.write(`${line}\n`);
  const r = await runPlan(failure.plan);
  io.stdout.write(`trace hash: ${r.traceHash} (recorded ${failure.traceHash}${r.traceHash === failure.traceHash ? ', identical' : ', DIFFERENT'})\n`);
  if (r.ok) {
    io.stdout.write(`verdict: ok (the recorded run violated ${failure.checker}: fixed since, or the replay diverged)\n`);
    return 0;
  }
  const v = r.violations[0]!;
  io.stdout.write(`verdict: VIOLATION of ${v.checker}\n${v.detail}\n`);
  return 1;
}

/** A one-line progress bar on a terminal, a line per tenth otherwise. */
class Progress {
  readonly #io: SimIo;
  readonly #total: number;
  #lastTenth = -1;

  constructor(io: SimIo, total: number) {
    this.#io = io;
    this.#total = total;
  }

  update(done: number, failed: number): void {
    const frac = done / this.#total;
    if (this.#io.isTTY) {
      const width = 40;
      const fill = Math.round(frac * width);
      this.#io.stderr.write(`\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${done}/${this.#total} seeds, ${failed} failed`);
      return;
    }
    const tenth = Math.floor(frac * 10);
    if (tenth !== this.#lastTenth) {
      this.#lastTenth = tenth;
      this.#io.stderr.write(`${done}/${this.#total} seeds, ${failed} failed\n`);
    }
  }

  note(line: string): void {
    this.#io.stderr.write(this.#io.isTTY ? `\r\x1b[K${line}\n` : `${line}\n`);
  }

  finish(): void {
    if (this.#io.isTTY) this.#io.stderr.write('\n');
  }
}
