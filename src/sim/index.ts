/**
 * src/sim: deterministic simulation. Owns the pure Raft cluster harness (N RawNodes on a virtual
 * clock over a seeded faulty network, with crashes that lose unsynced state), the named Raft
 * invariant checkers, and the seed runner. Invariant: a seed fixes every choice, so a run replays
 * exactly; nothing here reads ambient time or randomness.
 */
export { RaftCluster, SimMember, decodeStateMachine, encodeStateMachine, entryDigest } from './raft-cluster.js';
export type { CommittedRecord, RaftClusterOptions, SimStateMachine } from './raft-cluster.js';
export {
  InvariantViolation, RaftInvariants, checkElectionSafety, checkLeaderAppendOnly,
  checkLeaderCompleteness, checkLogMatching, checkStateMachineSafety, fnv1a,
} from './raft-invariants.js';
export type { InvariantName, RaftMemberView } from './raft-invariants.js';
export { runRaftSeed } from './raft-scenario.js';
export type { RaftSeedOptions, RaftSeedResult } from './raft-scenario.js';
