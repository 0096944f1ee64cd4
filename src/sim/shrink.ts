/**
 * Shrinking a failing run: drop faults, then client operations, while the run still fails with
 * the same checker (delta debugging: chunks of half the list first, down to single items). What
 * remains is a plan whose every fault and operation is needed for the failure, the smallest
 * history a person has to read. Every attempt is a whole deterministic run, so the result replays
 * exactly; the number of attempts is bounded.
 */
import { assert } from '../base/index.js';
import type { Plan } from './sim-plan.js';
import { runPlan, type RunResult } from './sim-run.js';

/** Runs tried at most while shrinking one failure. */
export const SHRINK_RUNS_MAX = 300;

export interface ShrinkResult {
  readonly plan: Plan;
  readonly result: RunResult;
  readonly runs: number;
}

export async function shrink(plan: Plan, failed: RunResult, runsMax = SHRINK_RUNS_MAX): Promise<ShrinkResult> {
  assert(!failed.ok, 'only a failing run is shrunk');
  const checker = failed.violations[0]!.checker;
  let best = { plan, result: failed };
  let runs = 0;
  const stillFails = async (candidate: Plan): Promise<boolean> => {
    runs++;
    const r = await runPlan(candidate);
    if (r.ok || r.violations[0]!.checker !== checker) return false;
    best = { plan: candidate, result: r };
    return true;
  };
  for (const field of ['faults', 'ops'] as const) {
    let chunk = Math.max(1, Math.ceil(best.plan[field].length / 2));
    while (chunk >= 1 && runs < runsMax) {
      let removedAny = false;
      for (let at = 0; at < best.plan[field].length && runs < runsMax;) {
        const list = best.plan[field] as readonly unknown[];
        const candidate = { ...best.plan, [field]: [...list.slice(0, at), ...list.slice(at + chunk)] } as Plan;
        if (await stillFails(candidate)) removedAny = true;
        else at += chunk;
      }
      if (!removedAny || chunk > 1) chunk = chunk === 1 ? 0 : Math.ceil(chunk / 2);
    }
  }
  return { plan: best.plan, result: best.result, runs };
}
