/**
 * The piscina task of a seed sweep: runs a consecutive block of seeds on this thread and returns
 * one outcome per seed (failures shrunk and written by the worker itself).
 */
import type { SimOptions } from '../../sim/index.js';
import { loadWorkload, runSeed, type SeedOutcome } from './run-seed.js';

export interface SweepTask {
  readonly options: SimOptions;
  readonly from: number;
  readonly to: number;
  readonly outDir: string;
  readonly workload?: string;
}

export default async function runBlock(task: SweepTask): Promise<SeedOutcome[]> {
  const workload = await loadWorkload(task.workload);
  const out: SeedOutcome[] = [];
  for (let seed = task.from; seed < task.to; seed++) {
    out.push(await runSeed({ ...task.options, seed }, workload, task.outDir));
  }
  return out;
}
