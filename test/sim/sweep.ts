/**
 * The bounded sweep `npm test` runs (split over four files so each stays well under a minute on
 * two shared cores): 3-member clusters with every fault on, 50 seeds per file. A failing seed is
 * reported with its checker, its explanation and the command that replays it.
 */
import t from 'tap';
import { DEFAULT_OPTIONS, planOf, runPlan, type SimOptions } from '../../src/sim/index.js';

/** Sweep runs are smaller than the CLI's default, for time: 4 clients x 20 operations, 2 s of faults. */
export const SWEEP_OPTIONS: Omit<SimOptions, 'seed'> = { ...DEFAULT_OPTIONS, opsPerClient: 20, faultWindowMs: 2_000 };

export function sweep(first: number, count: number): void {
  t.test(`seeds ${first}..${first + count - 1}: 3 members, all faults, every checker holds`, async (t) => {
    const failures: string[] = [];
    let operations = 0;
    for (let seed = first; seed < first + count; seed++) {
      const r = await runPlan(planOf({ ...SWEEP_OPTIONS, seed }));
      operations += r.counts.ok;
      if (!r.ok) {
        const v = r.violations[0]!;
        failures.push(`seed ${seed}: ${v.checker}: ${v.detail}\n  replay: strata sim --seed ${seed} --ops 20 --window 2000`);
      }
    }
    t.same(failures, [], 'no violation');
    t.ok(operations > count * 20, `clients completed operations (${operations})`);
  });
}
