/**
 * Raft configuration: validated once at construction, defaults filled in, and a bad field named
 * in the thrown RaftConfigError (etcd's Config.validate).
 */
import type { Logger, MemberId, Rng } from '../base/index.js';
import { limits, nullLogger } from '../base/index.js';
import type { RaftStorageReader } from './storage.js';

export interface RaftConfig {
  /** This member's id; must not be 0. */
  readonly id: MemberId;
  readonly storage: RaftStorageReader;
  /** Election timeout jitter comes from here, so a seed fixes every timeout. */
  readonly rng: Rng;
  readonly logger?: Logger;
  /** A follower that hears no leader for this many ticks (plus jitter) starts an election. */
  readonly electionTicks?: number;
  /** The leader sends heartbeats every this many ticks; must be less than electionTicks. */
  readonly heartbeatTicks?: number;
  /** The last index the application applied (on restart); entries after it are re-delivered. */
  readonly applied?: number;
  readonly maxEntriesPerMessage?: number;
  readonly maxBytesPerMessage?: number;
  /** The bounded window of appends in flight to one follower in replicate state. */
  readonly maxInflightMessages?: number;
  /** The leader drops proposals while this many bytes of its log are uncommitted. */
  readonly maxUncommittedBytes?: number;
  /** Bytes of committed entries handed out in one Ready (at least one entry always). */
  readonly maxCommittedBytesPerReady?: number;
  /** A leader that has not heard from a quorum for an election timeout steps down. */
  readonly checkQuorum?: boolean;
  /** Elections run a PreVote round first, so a partitioned member cannot inflate terms. */
  readonly preVote?: boolean;
}

export type ResolvedRaftConfig = Required<RaftConfig>;

export class RaftConfigError extends Error {
  override readonly name = 'RaftConfigError';
  readonly field: string;

  constructor(field: string, why: string) {
    super(`raft config: ${field} ${why}`);
    this.field = field;
  }
}

export const RAFT_DEFAULTS = {
  electionTicks: 10,
  heartbeatTicks: 1,
  applied: 0,
  maxEntriesPerMessage: limits.raftEntriesPerMessageMax,
  maxBytesPerMessage: 1024 * 1024,
  maxInflightMessages: limits.raftInflightMessagesMax,
  maxUncommittedBytes: 64 * 1024 * 1024,
  maxCommittedBytesPerReady: 64 * 1024 * 1024,
  checkQuorum: true,
  preVote: true,
} as const;

function positiveInteger(field: string, n: number): void {
  if (!Number.isSafeInteger(n) || n <= 0) throw new RaftConfigError(field, `must be a positive integer, got ${n}`);
}

export function resolveRaftConfig(c: RaftConfig): ResolvedRaftConfig {
  const r: ResolvedRaftConfig = {
    id: c.id,
    storage: c.storage,
    rng: c.rng,
    logger: c.logger ?? nullLogger,
    electionTicks: c.electionTicks ?? RAFT_DEFAULTS.electionTicks,
    heartbeatTicks: c.heartbeatTicks ?? RAFT_DEFAULTS.heartbeatTicks,
    applied: c.applied ?? RAFT_DEFAULTS.applied,
    maxEntriesPerMessage: c.maxEntriesPerMessage ?? RAFT_DEFAULTS.maxEntriesPerMessage,
    maxBytesPerMessage: c.maxBytesPerMessage ?? RAFT_DEFAULTS.maxBytesPerMessage,
    maxInflightMessages: c.maxInflightMessages ?? RAFT_DEFAULTS.maxInflightMessages,
    maxUncommittedBytes: c.maxUncommittedBytes ?? RAFT_DEFAULTS.maxUncommittedBytes,
    maxCommittedBytesPerReady: c.maxCommittedBytesPerReady ?? RAFT_DEFAULTS.maxCommittedBytesPerReady,
    checkQuorum: c.checkQuorum ?? RAFT_DEFAULTS.checkQuorum,
    preVote: c.preVote ?? RAFT_DEFAULTS.preVote,
  };
  if (typeof r.id !== 'bigint' || r.id <= 0n) throw new RaftConfigError('id', `must be a non-zero member id, got ${String(r.id)}`);
  if (typeof r.storage !== 'object' || r.storage === null) throw new RaftConfigError('storage', 'is required');
  if (typeof r.rng !== 'object' || r.rng === null) throw new RaftConfigError('rng', 'is required');
  positiveInteger('heartbeatTicks', r.heartbeatTicks);
  positiveInteger('electionTicks', r.electionTicks);
  if (r.electionTicks <= r.heartbeatTicks) {
    throw new RaftConfigError('electionTicks', `must be greater than heartbeatTicks (${r.heartbeatTicks}), got ${r.electionTicks}`);
  }
  if (!Number.isSafeInteger(r.applied) || r.applied < 0) throw new RaftConfigError('applied', `must be a non-negative integer, got ${r.applied}`);
  positiveInteger('maxEntriesPerMessage', r.maxEntriesPerMessage);
  positiveInteger('maxBytesPerMessage', r.maxBytesPerMessage);
  positiveInteger('maxInflightMessages', r.maxInflightMessages);
  positiveInteger('maxUncommittedBytes', r.maxUncommittedBytes);
  positiveInteger('maxCommittedBytesPerReady', r.maxCommittedBytesPerReady);
  const first = r.storage.firstIndex();
  const committed = r.storage.initialState().hardState.commit;
  if (r.applied > 0 && r.applied < first - 1) {
    throw new RaftConfigError('applied', `(${r.applied}) is below the snapshot index ${first - 1}`);
  }
  if (r.applied > Math.max(committed, first - 1)) {
    throw new RaftConfigError('applied', `(${r.applied}) is beyond the committed index ${committed}`);
  }
  return r;
}
