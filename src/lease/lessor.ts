/**
 * The lessor: etcd 3.4's server/lease/lessor.go as a pure core. It joins the two halves:
 *
 * - the replicated table (lease-table.ts), changed only by committed Raft entries through
 *   `grant`, `revoke`, `checkpoint` and by the apply side's `attach` / `detach`. Each returns the
 *   `LeaseWrite`s the apply side persists in the same write transaction, and `revoke` returns
 *   the keys to delete in that transaction: the lessor never deletes keys itself;
 * - the leader-only deadlines (leader-leases.ts), present between `promote` and `demote`:
 *   `renew` (keepalive, never replicated), `timeToLive`, and `tick`, which yields the
 *   `LeaseCommand`s (revoke on expiry, checkpoint of remaining TTL) the caller proposes.
 *
 * Time is read only from the injected Clock. Ordering rule for the caller: apply entries in log
 * order; call `tick` at least every `tickMs` while leading (expiry lateness is one tick past
 * that); propose what `tick` and `renew` return; nothing else changes replicated state.
 */
import { assert, limits } from '../base/index.js';
import type { Clock, LeaseId } from '../base/index.js';
import { LeaderLeases } from './leader-leases.js';
import type { LeaderLeasesOptions, RenewOutcome } from './leader-leases.js';
import { LEASE_TTL_MAX_SECONDS, LeaseTable, sortedKeys, toView } from './lease-table.js';
import type { AttachOutcome, RevokeOutcome } from './lease-table.js';
import type {
  LeaseCommand, LeaseFailure, LeaseRecord, LeaseView, LeaseWrite,
} from './types.js';

export interface LessorOptions extends Partial<LeaderLeasesOptions> {
  readonly clock: Clock;
  /** The minimum TTL; see `minLeaseTtlSeconds`. */
  readonly minTtlSeconds: number;
}

/** Defaults follow etcd 3.4 where it has a value (lessor.go constants). */
export const LESSOR_DEFAULTS: LeaderLeasesOptions = {
  tickMs: 100,
  slotCount: 4096,
  revokesPerSecondMax: limits.leaseRevokesPerSecondMax,
  revokesPerTickMax: limits.leaseRevokesPerSecondMax / 2,
  revokeRetryMs: 3_000,
  checkpointIntervalMs: 5 * 60 * 1000,
  checkpointsPerTickMax: 1_000,
};

/**
 * etcd's minimum lease TTL: ceil((3 * electionTicks / 2) * heartbeat) in whole seconds, the
 * division on ticks being integer (etcdserver/server.go). 10 ticks of 100 ms give 2 s.
 */
export function minLeaseTtlSeconds(electionTicks: number, heartbeatMs: number): number {
  assert(Number.isSafeInteger(electionTicks) && electionTicks >= 1, 'electionTicks must be >= 1');
  assert(Number.isSafeInteger(heartbeatMs) && heartbeatMs >= 1, 'heartbeatMs must be >= 1');
  return Math.ceil((Math.floor((3 * electionTicks) / 2) * heartbeatMs) / 1000);
}

function validated(options: LessorOptions): LeaderLeasesOptions {
  const o: LeaderLeasesOptions = {
    tickMs: options.tickMs ?? LESSOR_DEFAULTS.tickMs,
    slotCount: options.slotCount ?? LESSOR_DEFAULTS.slotCount,
    revokesPerSecondMax: options.revokesPerSecondMax ?? LESSOR_DEFAULTS.revokesPerSecondMax,
    revokesPerTickMax: options.revokesPerTickMax ??
      Math.max(1, Math.floor((options.revokesPerSecondMax ?? LESSOR_DEFAULTS.revokesPerSecondMax) / 2)),
    revokeRetryMs: options.revokeRetryMs ?? LESSOR_DEFAULTS.revokeRetryMs,
    checkpointIntervalMs: options.checkpointIntervalMs ?? LESSOR_DEFAULTS.checkpointIntervalMs,
    checkpointsPerTickMax: options.checkpointsPerTickMax ?? LESSOR_DEFAULTS.checkpointsPerTickMax,
  };
  const positiveInts: (keyof LeaderLeasesOptions)[] = [
    'slotCount', 'revokesPerSecondMax', 'revokesPerTickMax', 'checkpointsPerTickMax',
  ];
  for (const field of positiveInts) {
    assert(Number.isSafeInteger(o[field]) && o[field] >= 1, `lessor option ${field} must be >= 1`);
  }
  assert(o.tickMs > 0 && Number.isFinite(o.tickMs), 'lessor option tickMs must be positive');
  assert(o.revokeRetryMs > 0, 'lessor option revokeRetryMs must be positive');
  assert(o.checkpointIntervalMs >= 0, 'lessor option checkpointIntervalMs must be >= 0');
  assert(o.revokesPerTickMax <= o.revokesPerSecondMax,
    'lessor option revokesPerTickMax must not exceed revokesPerSecondMax');
  return o;
}

export type GrantResult =
  | {
    readonly ok: true;
    readonly id: LeaseId;
    /** The effective TTL (after the minimum clamp): LeaseGrantResponse.TTL. */
    readonly ttlSeconds: number;
    readonly writes: readonly LeaseWrite[];
  }
  | LeaseFailure<'ErrLeaseNotFound' | 'ErrLeaseExist' | 'ErrLeaseTTLTooLarge'>;

export type LessorRenewResult = RenewOutcome | LeaseFailure<'ErrNotPrimary'>;

export type TimeToLiveResult =
  | {
    readonly ok: true;
    readonly id: LeaseId;
    /** Remaining whole seconds, truncated (etcd int64(Remaining().Seconds())). */
    readonly ttlSeconds: number;
    readonly grantedTtlSeconds: number;
    /** Attached keys, ascending, if asked for; else empty. */
    readonly keys: readonly Uint8Array[];
  }
  | LeaseFailure<'ErrLeaseNotFound' | 'ErrNotPrimary'>;

export class Lessor {
  readonly minTtlSeconds: number;
  readonly options: LeaderLeasesOptions;
  readonly #clock: Clock;
  readonly #table: LeaseTable;
  #leader: LeaderLeases | null = null;

  constructor(options: LessorOptions) {
    assert(Number.isSafeInteger(options.minTtlSeconds), 'lessor option minTtlSeconds: integer');
    assert(options.minTtlSeconds >= 1, 'lessor option minTtlSeconds must be >= 1');
    assert(options.minTtlSeconds <= LEASE_TTL_MAX_SECONDS, 'lessor option minTtlSeconds too big');
    this.options = validated(options);
    this.minTtlSeconds = options.minTtlSeconds;
    this.#clock = options.clock;
    this.#table = new LeaseTable(options.minTtlSeconds);
  }

  /** Whether this member is the primary lessor (the Raft leader) and expires leases. */
  get isPrimary(): boolean {
    return this.#leader !== null;
  }

  get size(): number {
    return this.#table.size;
  }

  // --- Replicated: called by apply, on every member, in log order. ---

  /** A committed LeaseGrant. The id was chosen before proposing (see LeaseIdGenerator). */
  grant(id: LeaseId, requestedTtlSeconds: number | bigint): GrantResult {
    const outcome = this.#table.grant(id, requestedTtlSeconds);
    if (!outcome.ok) return outcome;
    this.#leader?.track(outcome.lease, this.#clock.now());
    return { ok: true, id, ttlSeconds: outcome.lease.ttlSeconds, writes: outcome.writes };
  }

  /** A committed LeaseRevoke (client or expiry): returns the keys to delete with it. */
  revoke(id: LeaseId): RevokeOutcome {
    const outcome = this.#table.revoke(id);
    if (outcome.ok) this.#leader?.untrack(id);
    return outcome;
  }

  /** A committed LeaseCheckpoint entry: sets the remaining TTL a future leader starts from. */
  checkpoint(id: LeaseId, remainingTtlSeconds: number): readonly LeaseWrite[] {
    const writes = this.#table.checkpoint(id, remainingTtlSeconds);
    if (writes.length > 0) this.#leader?.scheduleCheckpoint(id, this.#clock.now());
    return writes;
  }

  /** A put naming lease `id` (or a restore re-attaching stored keys). */
  attach(id: LeaseId, keys: readonly Uint8Array[]): AttachOutcome {
    return this.#table.attach(id, keys);
  }

  /** A delete of keys, or a put moving them off lease `id`. */
  detach(id: LeaseId, keys: readonly Uint8Array[]): AttachOutcome {
    return this.#table.detach(id, keys);
  }

  /** Startup or snapshot install: replaces every lease; keys are re-attached afterwards. */
  restore(records: readonly LeaseRecord[]): void {
    assert(this.#leader === null, 'a leader does not restore leases (it never installs snapshots)');
    this.#table.restore(records);
  }

  // --- Reads, any member. ---

  /** Every live lease id (LeaseLeases), in grant order. */
  leases(): LeaseId[] {
    return [...this.#table.entries()].map((l) => l.id);
  }

  /** A copy of lease `id` with its keys, or undefined. */
  lookup(id: LeaseId): LeaseView | undefined {
    const lease = this.#table.get(id);
    return lease === undefined ? undefined : toView(lease);
  }

  /** The lease a key is attached to (mvcc asks when a key is overwritten or deleted). */
  leaseOfKey(key: Uint8Array): LeaseId | undefined {
    return this.#table.leaseOfKey(key);
  }

  // --- Leader-only. ---

  /**
   * Becoming leader (etcd Promote(electionTimeout)): every lease gets a deadline of
   * now + extendMs + (checkpointed remaining TTL or TTL) before any can expire, so none expires
   * early because the old leader's renewals were not replicated.
   */
  promote(extendMs: number): void {
    assert(this.#leader === null, 'promote while already primary');
    this.#leader = new LeaderLeases(this.options, this.#table.entries(), this.#clock.now(),
      extendMs);
    assert(this.#leader.size === this.#table.size, 'promotion must track every lease');
  }

  /** Losing leadership (etcd Demote): all deadlines are dropped; nothing expires here any more. */
  demote(): void {
    assert(this.#leader !== null, 'demote while not primary');
    this.#leader = null;
  }

  /** A keepalive: on the leader only (followers forward). Returns the granted TTL. */
  renew(id: LeaseId): LessorRenewResult {
    if (this.#leader === null) return { ok: false, code: 'ErrNotPrimary' };
    return this.#leader.renew(id, this.#clock.now());
  }

  /** LeaseTimeToLive, answered by the leader. */
  timeToLive(id: LeaseId, withKeys: boolean): TimeToLiveResult {
    if (this.#leader === null) return { ok: false, code: 'ErrNotPrimary' };
    const lease = this.#table.get(id);
    if (lease === undefined) return { ok: false, code: 'ErrLeaseNotFound' };
    const expiryMs = this.#leader.expiryMs(id);
    assert(expiryMs !== undefined, `leader does not track lease ${id}`);
    // `+ 0` turns a truncated -0 (just past the deadline) into 0.
    const ttlSeconds = Math.trunc((expiryMs - this.#clock.now()) / 1000) + 0;
    return {
      ok: true,
      id,
      ttlSeconds,
      grantedTtlSeconds: lease.ttlSeconds,
      keys: withKeys ? sortedKeys(lease) : [],
    };
  }

  /** The leader's deadline for lease `id` in clock milliseconds (tests, checkers, TimeToLive). */
  expiryMs(id: LeaseId): number | undefined {
    return this.#leader?.expiryMs(id);
  }

  /** Advances expiry and checkpoint scheduling to now; returns what to propose. */
  tick(): LeaseCommand[] {
    if (this.#leader === null) return [];
    return this.#leader.tick(this.#clock.now());
  }
}
