/**
 * The host side of `strata sim` shared by the main thread and the sweep workers: loading a
 * user's workload module, running one seed (shrinking it when it fails), and the failure file
 * (the shrunk plan plus its verdict and history, which `--replay` runs again exactly).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  BUILTIN_WORKLOAD, describeOp, describePlan, planOf, runPlan, shrink,
  type Plan, type RunResult, type SimOptions, type WorkloadModule,
} from '../../sim/index.js';

export const FAILURE_FORMAT = 'strata-sim-failure/1';

export interface FailureFile {
  readonly format: typeof FAILURE_FORMAT;
  readonly seed: number;
  readonly checker: string;
  readonly detail: string;
  readonly traceHash: string;
  /** The shrunk plan: replaying it gives `traceHash` and the same verdict. */
  readonly plan: Plan;
  readonly shrinkRuns: number;
  /** Readable copies of what the run did (not read back). */
  readonly choices: readonly string[];
  readonly events: readonly string[];
  readonly history: readonly string[];
}

export async function loadWorkload(file: string | undefined): Promise<WorkloadModule> {
  if (file === undefined) return BUILTIN_WORKLOAD;
  const mod = await import(pathToFileURL(resolve(file)).href) as { planOps?: unknown; default?: { planOps?: unknown } };
  const planOps = mod.planOps ?? mod.default?.planOps;
  if (typeof planOps !== 'function') throw new Error(`${file} exports no planOps(options, rng) function`);
  return { planOps: planOps as WorkloadModule['planOps'] };
}

export interface SeedOutcome {
  readonly seed: number;
  readonly ok: boolean;
  readonly traceHash: string;
  readonly operations: number;
  readonly checker?: string;
  readonly detail?: string;
  readonly file?: string;
}

/** Runs one seed; a failure is shrunk and written to `outDir`. */
export async function runSeed(options: SimOptions, workload: WorkloadModule, outDir: string): Promise<SeedOutcome> {
  const plan = planOf(options, workload);
  const r = await runPlan(plan);
  const operations = r.counts.ok + r.counts.failed + r.counts.unknown;
  if (r.ok) return { seed: options.seed, ok: true, traceHash: r.traceHash, operations };
  const small = await shrink(plan, r);
  const file = writeFailure(outDir, small.plan, small.result, small.runs);
  const v = small.result.violations[0]!;
  return { seed: options.seed, ok: false, traceHash: r.traceHash, operations, checker: v.checker, detail: v.detail, file };
}

export function writeFailure(outDir: string, plan: Plan, r: RunResult, shrinkRuns: number): string {
  mkdirSync(outDir, { recursive: true });
  const v = r.violations[0]!;
  const body: FailureFile = {
    format: FAILURE_FORMAT, seed: plan.options.seed, checker: v.checker, detail: v.detail,
    traceHash: r.traceHash, plan, shrinkRuns, choices: describePlan(plan), events: [...r.events],
    history: r.history.map(describeOp),
  };
  const file = join(outDir, `sim-failure-seed-${plan.options.seed}.json`);
  writeFileSync(file, `${JSON.stringify(body, null, 1)}\n`);
  return file;
}

export function readFailure(file: string): FailureFile {
  const body = JSON.parse(readFileSync(file, 'utf8')) as Partial<FailureFile>;
  if (body.format !== FAILURE_FORMAT || body.plan === undefined) {
    throw new Error(`${file} is not a ${FAILURE_FORMAT} file`);
  }
  return body as FailureFile;
}
