/**
 * src/sim: deterministic simulation. Owns the pure Raft cluster harness (N RawNodes on a virtual
 * clock over a seeded faulty network, with crashes that lose unsynced state), the named Raft
 * invariant checkers, the seed runner, and the whole-cluster simulator: the real raft, apply and
 * front actor shells, with the watch hub and lease wheel actors, of 1, 3 or 5 members on the SimHost, over a simulated disk (writes complete
 * from scheduled fsync events; a crash loses or tears what was not synced) and a simulated
 * network (loss, duplication, delay, partitions), driven by planned clients and a nemesis, judged
 * by named checkers (Linearizability, Replica Agreement, Serializable Reads See Committed State,
 * HashKV Equal, the watch guarantees, Lease Keys Go Together, No Early Expiry, the Raft
 * invariants, Liveness). Invariant: a seed (or a plan) fixes every choice,
 * so a run replays exactly; nothing here reads ambient time or randomness.
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
export { Completion } from './completion.js';
export { DISK_PENDING_MAX, DiskActor, SimBackend, SimDisk, SimRaftStorage } from './sim-disk.js';
export type { DiskOptions, WriteHooks } from './sim-disk.js';
export { NET_ADDRESS, NO_NETWORK_FAULTS, NetActor, SimNetwork } from './sim-network.js';
export type { NetworkFaultRates, NetworkStats } from './sim-network.js';
export { DriftingActor, SimCluster, SimMember as SimClusterMember, entryDigestOf } from './sim-cluster.js';
export type { ClusterObserver, ClusterOptions } from './sim-cluster.js';
export {
  LINEARIZABILITY_STEPS_MAX, checkLinearizable, describeOp, stepKv,
} from './linearizability.js';
export type { KvHistoryOp, KvOp, KvOutput, LinearizabilityVerdict } from './linearizability.js';
export {
  ALL_FAULTS, BUILTIN_WORKLOAD, DEFAULT_MIX, DEFAULT_OPTIONS, NO_FAULTS, NO_MUTATIONS, checkOps,
  describeFault, describePlan, planOf, validateOptions,
} from './sim-plan.js';
export type {
  FaultWeights, Mutations, OpMix, Plan, PlanFault, PlanOp, PlannedOp, SimOptions, WorkloadModule,
} from './sim-plan.js';
export { runPlan } from './sim-run.js';
export type { RunResult, Violation } from './sim-run.js';
export { SHRINK_RUNS_MAX, shrink } from './shrink.js';
export type { ShrinkResult } from './shrink.js';
export { CLIENTS_ADDRESS, CLIENT_WARMUP_MS, ClientsActor, Workload } from './workload.js';
export { WATCHERS_MAX, WatchClients } from './sim-watch.js';
export { LEASE_CLIENTS_ADDRESS, LeaseClients, LeaseClientsActor, checkLeases } from './sim-lease.js';
export type { LeaseRecord, LeaseScript } from './sim-lease.js';
export type { SerializableRead } from './workload.js';
