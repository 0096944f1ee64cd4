/**
 * `npm run sim:raft -- --seed N [--trace K]` replays one randomized Raft simulation seed exactly
 * (the same seed makes the same run, event for event) and prints its choices, outcome and, with
 * --trace, the last K trace lines. `--from A --count C` sweeps seeds A..A+C-1 instead.
 */
import { runRaftSeed } from '../src/sim/raft-scenario.js';

function flag(name: string): number | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const v = Number(process.argv[i + 1]);
  if (!Number.isSafeInteger(v)) throw new Error(`--${name} needs an integer`);
  return v;
}

const seed = flag('seed');
const from = flag('from') ?? 1;
const count = flag('count') ?? 1;
const traceMax = flag('trace') ?? (seed !== undefined ? 100 : 0);
const seeds = seed !== undefined ? [seed] : Array.from({ length: count }, (_, i) => from + i);
let failed = 0;
for (const s of seeds) {
  const r = runRaftSeed(s, { traceMax });
  const status = r.error === null ? 'ok' : `FAILED: ${r.error.message}`;
  console.log(`seed ${s}: ${r.choices} steps=${r.steps} applied=${r.committed} leaderAfterHeal=${r.leaderAfterHealTicks} ${status}`);
  if (r.error !== null) {
    failed++;
    if (traceMax > 0) console.log(r.trace.join('\n'));
    if (seed !== undefined && r.error.stack !== undefined) console.log(r.error.stack);
  }
}
if (seeds.length > 1) console.log(`${seeds.length - failed}/${seeds.length} seeds passed`);
process.exitCode = failed > 0 ? 1 : 0;
