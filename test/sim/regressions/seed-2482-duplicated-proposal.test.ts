/**
 * Regression, seed 2482 (also 2744, 3425, 4846, 6505, 6668 of the first 10,000-seed sweep): the
 * linearizability checker found "get k1 -> v48 where v29 is current": a follower's forwarded
 * proposal (MsgProp) for put v48, duplicated by the network, was appended and applied twice, the
 * second time after v29 overwrote it. Raft tolerates duplicates of every message but MsgProp
 * (etcd-raft leaves deduplicating proposals to the application, which strata's applier does not
 * do); the simulated network no longer duplicates MsgProp, as the TCP transport never will.
 */
import t from 'tap';
import { DEFAULT_OPTIONS, planOf, runPlan } from '../../../src/sim/index.js';

for (const seed of [2482, 2744, 3425, 4846]) {
  t.test(`seed ${seed} passes every checker`, async (t) => {
    const r = await runPlan(planOf({ ...DEFAULT_OPTIONS, seed }));
    t.equal(r.ok, true, r.violations[0]?.detail ?? '');
  });
}
