/**
 * Regression, seed 26 (also 53, 58): the whole-cluster sweep reported "Election Safety violated:
 * members 2 and 1 both led term 2". The cause was the harness: a crashed leader's last Raft state
 * report ("leader of term 2") outlived it and was combined with its restarted durable term. The
 * nemesis now forgets a member's reports when it crashes it. These seeds must pass every checker.
 */
import t from 'tap';
import { DEFAULT_OPTIONS, planOf, runPlan } from '../../../src/sim/index.js';

for (const seed of [26, 53, 58]) {
  t.test(`seed ${seed} passes every checker`, async (t) => {
    const r = await runPlan(planOf({ ...DEFAULT_OPTIONS, seed }));
    t.equal(r.ok, true, r.violations[0]?.detail ?? '');
  });
}
