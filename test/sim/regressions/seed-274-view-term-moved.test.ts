/**
 * Regression, seed 274 (also 7108) of the second 10,000-seed sweep: "Leader Append-Only violated:
 * leader 1 (term 1) rewrote index 35: term 1 -> 2". The harness judged member 1 by its last
 * report (leader of term 1) while its durable log already held term 2's entries: it had stepped
 * down and persisted them before its new role reached the report. A member whose durable term
 * passed its report is now viewed as a follower of that term. These seeds must pass.
 */
import t from 'tap';
import { DEFAULT_OPTIONS, planOf, runPlan } from '../../../src/sim/index.js';

for (const seed of [274, 7108]) {
  t.test(`seed ${seed} passes every checker`, async (t) => {
    const r = await runPlan(planOf({ ...DEFAULT_OPTIONS, seed }));
    t.equal(r.ok, true, r.violations[0]?.detail ?? '');
  });
}
