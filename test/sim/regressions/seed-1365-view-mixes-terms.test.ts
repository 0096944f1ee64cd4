/**
 * Regression, seed 1365 (also 2882, 3125, 3383, 3821, 3928, 6324, 6490): "Election Safety violated:
 * members 1 and 2 both led term 2" with no crash at all. The harness built a member's view from
 * its last reported role (leader, term 1) and its durable term (2, just persisted on stepping
 * down, not yet reported), inventing a leader of term 2. Role and term now come from the same
 * report. These seeds must pass every checker.
 */
import t from 'tap';
import { DEFAULT_OPTIONS, planOf, runPlan } from '../../../src/sim/index.js';

for (const seed of [1365, 2882, 3125, 3383]) {
  t.test(`seed ${seed} passes every checker`, async (t) => {
    const r = await runPlan(planOf({ ...DEFAULT_OPTIONS, seed }));
    t.equal(r.ok, true, r.violations[0]?.detail ?? '');
  });
}
