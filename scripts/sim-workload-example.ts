/**
 * An example of a user's own workload for `strata sim --workload`: a module exporting
 * `planOps(options, rng)`, which returns every client's operations. This one is a contended
 * counter-like workload: every client runs read-then-Txn rounds on one hot key (k0) and writes a
 * cold key now and then, so Txn compares fail and succeed under faults.
 *
 *   npx tsc -p tsconfig.json
 *   node dist/src/cli/main.js sim --seed 1 --workload dist/scripts/sim-workload-example.js
 *
 * Rules the simulator checks (checkOps): keys are k0..k(keys-1), written values are unique,
 * clients are 0..clients-1.
 */
import type { Rng } from '../src/base/index.js';
import type { PlannedOp, SimOptions } from '../src/sim/index.js';

export function planOps(options: SimOptions, rng: Rng): PlannedOp[] {
  const ops: PlannedOp[] = [];
  let value = 0;
  for (let client = 0; client < options.clients; client++) {
    for (let i = 0; i < options.opsPerClient; i++) {
      const thinkMs = rng.int(0, 20);
      if (i % 2 === 0) ops.push({ client, thinkMs, op: { kind: 'get', key: 'k0', serializable: false } });
      else if (rng.chance(0.8)) ops.push({ client, thinkMs, op: { kind: 'cas', key: 'k0', value: `c${client}.${++value}` } });
      else ops.push({ client, thinkMs, op: { kind: 'put', key: `k${rng.int(0, options.keys - 1)}`, value: `c${client}.${++value}` } });
    }
  }
  return ops;
}
