/**
 * One randomized Raft run per seed: the seed picks the cluster size (3 or 5), the message fault
 * rates and the fault schedule. A chaos phase crashes and restarts members, partitions and heals
 * the network and proposes entries, with the invariants checked after every step; then the
 * network heals and every member restarts, and liveness is required: a leader that all members
 * follow within a bounded number of ticks, and a new entry applied everywhere soon after.
 */
import { SeededRng } from '../base/index.js';
import type { MemberId } from '../base/index.js';
import { utf8 } from '../base/index.js';
import { RaftCluster } from './raft-cluster.js';
import { InvariantViolation } from './raft-invariants.js';

export interface RaftSeedOptions {
  readonly chaosTicks?: number;
  /** Ticks after the heal within which a stable leader must exist. */
  readonly leaderWithinTicks?: number;
  /** Ticks after that within which a new entry must be applied on every member. */
  readonly commitWithinTicks?: number;
  readonly traceMax?: number;
}

export interface RaftSeedResult {
  readonly seed: number;
  /** Every choice the seed made, printed with a failure. */
  readonly choices: string;
  readonly steps: number;
  readonly committed: number;
  readonly leaderAfterHealTicks: number;
  readonly error: Error | null;
  readonly trace: readonly string[];
}

export function runRaftSeed(seed: number, opts: RaftSeedOptions = {}): RaftSeedResult {
  const chaosTicks = opts.chaosTicks ?? 150;
  const leaderWithin = opts.leaderWithinTicks ?? 150;
  const commitWithin = opts.commitWithinTicks ?? 60;
  const choose = new SeededRng(seed);
  const members = choose.pick([3, 5]);
  const dropRate = choose.pick([0, 0.02, 0.1]);
  const duplicateRate = choose.pick([0, 0.02, 0.1]);
  const latencyMaxMs = choose.pick([2, 8, 25]);
  const crashRate = choose.pick([0, 0.01, 0.03]);
  const partitionRate = choose.pick([0, 0.01, 0.03]);
  const snapshotEvery = choose.pick([10, 40]);
  const choices = `members=${members} drop=${dropRate} dup=${duplicateRate} latencyMax=${latencyMaxMs}ms `
    + `crash=${crashRate} partition=${partitionRate} snapshotEvery=${snapshotEvery} chaosTicks=${chaosTicks}`;
  const cluster = new RaftCluster({
    seed: choose.u32(), members, dropRate, duplicateRate, latencyMaxMs, snapshotEvery,
    traceMax: opts.traceMax ?? 0,
  });
  const rng = cluster.rng;
  let leaderAfterHealTicks = -1;
  let proposals = 0;
  const ids = cluster.members.map((m) => m.id);
  try {
    for (let t = 0; t < chaosTicks; t++) {
      if (rng.chance(0.4)) {
        const batch = Array.from({ length: rng.int(1, 3) }, () => utf8(`p${proposals++}`));
        cluster.propose(rng.pick(ids), batch);
      }
      if (rng.chance(crashRate)) cluster.crash(rng.pick(ids));
      const down = cluster.members.filter((m) => !m.up);
      if (down.length > 0 && rng.chance(0.1)) cluster.restart(rng.pick(down).id);
      if (rng.chance(partitionRate)) cluster.partition([shuffle(rng, ids).slice(0, rng.int(1, members - 1))]);
      if (rng.chance(0.05)) cluster.heal();
      cluster.runTicks(1);
      if (t % 50 === 49) cluster.fullCheck();
    }
    cluster.heal();
    cluster.setMessageFaults(0, 0);
    for (const m of cluster.members) if (!m.up) cluster.restart(m.id);
    for (let t = 0; t <= leaderWithin; t++) {
      if (cluster.stableLeader() !== null) {
        leaderAfterHealTicks = t;
        break;
      }
      cluster.runTicks(1);
    }
    if (leaderAfterHealTicks < 0) {
      throw new InvariantViolation('Liveness', `no stable leader ${leaderWithin} ticks after the network healed`);
    }
    const leader = cluster.stableLeader()!;
    cluster.propose(leader.id, [utf8('after-heal')]);
    const target = leader.node!.raft.log.lastIndex();
    let t = 0;
    for (; t < commitWithin && !cluster.members.every((m) => m.sm.index >= target); t++) cluster.runTicks(1);
    if (t === commitWithin) {
      throw new InvariantViolation('Liveness', `entry ${target} not applied everywhere ${commitWithin} ticks after a leader emerged`);
    }
    cluster.fullCheck();
  } catch (e) {
    return {
      seed, choices, steps: cluster.steps, committed: maxApplied(cluster), leaderAfterHealTicks,
      error: e instanceof Error ? e : new Error(String(e)), trace: cluster.trace,
    };
  }
  return {
    seed, choices, steps: cluster.steps, committed: maxApplied(cluster), leaderAfterHealTicks,
    error: null, trace: cluster.trace,
  };
}

function maxApplied(c: RaftCluster): number {
  return Math.max(...c.members.map((m) => m.sm.index));
}

function shuffle(rng: { int(a: number, b: number): number }, ids: readonly MemberId[]): MemberId[] {
  const out = [...ids];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
