/**
 * src/lease: the lessor as a pure core (etcd 3.4 server/lease). It owns the replicated lease
 * table (ids, TTLs, checkpointed remaining TTLs, attached keys) and, on the leader only, the
 * deadlines in a hashed timing wheel, the rate-limited expiry queue and checkpoint scheduling.
 *
 * Invariants:
 * - replicated state changes only through grant / revoke / checkpoint (committed entries) and
 *   attach / detach (the apply side), identically on every member;
 * - the lessor never deletes keys or writes storage: revoke returns the keys to delete and every
 *   replicated change returns the LeaseWrites to persist; expiry yields commands as data;
 * - a lease never expires before its deadline (TTL after the last acknowledged renewal, or
 *   extend + remaining TTL after a promotion), and only a primary expires leases;
 * - time comes only from the injected Clock; no I/O, no ambient randomness.
 */
export type {
  LeaseCheckpoint, LeaseCommand, LeaseErrorCode, LeaseFailure, LeaseRecord, LeaseStore, LeaseView,
  LeaseWrite,
} from './types.js';
export { writeLeases } from './types.js';
export type { GrantResult, LessorOptions, LessorRenewResult, TimeToLiveResult } from './lessor.js';
export { LESSOR_DEFAULTS, Lessor, minLeaseTtlSeconds } from './lessor.js';
export type { LeaderLeasesOptions, RenewOutcome } from './leader-leases.js';
export type { AttachOutcome, RevokeOutcome } from './lease-table.js';
export {
  LEASES_MAX, LEASE_TTL_MAX_SECONDS, NO_LEASE, effectiveTtlSeconds, keyIdentity,
} from './lease-table.js';
export { LeaseIdGenerator } from './lease-id-generator.js';
export { MemoryLeaseStore } from './memory-lease-store.js';
export type { TimingWheelOptions } from './timing-wheel.js';
export { Timer, TimingWheel } from './timing-wheel.js';
export { RateWindow } from './rate-window.js';
