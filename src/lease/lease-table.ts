/**
 * The replicated half of the lessor: what every member holds because it applied the same Raft
 * entries in the same order (grant, revoke, checkpoint) plus the key attachments the apply side
 * makes while it applies puts and deletes. Nothing here knows about time or leadership; the
 * leader-only half (deadlines, renewals, expiry) lives in leader-leases.ts.
 *
 * Invariants:
 * - a key is attached to at most one lease (`#leaseOfKey` is the inverse of every lease's keys);
 * - every lease has a TTL in [minTtlSeconds, LEASE_TTL_MAX_SECONDS] and a non-zero id;
 * - a remaining TTL from a checkpoint is 0 (none) or positive.
 */
import { assert, compareBytes, copyBytes, limits } from '../base/index.js';
import type { LeaseId } from '../base/index.js';
import type { LeaseFailure, LeaseRecord, LeaseView, LeaseWrite } from './types.js';

/** etcd MaxLeaseTTL: 9,000,000,000 s is accepted, one more is ErrLeaseTTLTooLarge. */
export const LEASE_TTL_MAX_SECONDS = 9_000_000_000;

/**
 * Leases a member may hold. etcd has no count limit, but every grant costs 64 bytes of backend
 * quota, so the quota bounds the count; a grant past it is refused with NOSPACE before it is
 * proposed, and reaching this at apply time is a programmer error.
 */
export const LEASES_MAX = Math.floor(limits.backendQuotaBytes / 64);

/** The lease id meaning "no lease" (etcd NoLease). */
export const NO_LEASE = 0n as LeaseId;

/** One lease in memory. Owned by the table; the leader half holds references, never writes. */
export interface LeaseEntry {
  readonly id: LeaseId;
  readonly ttlSeconds: number;
  remainingTtlSeconds: number;
  /** Attached keys by their binary-string identity. */
  readonly keys: Map<string, Uint8Array>;
}

export type GrantOutcome =
  | { readonly ok: true; readonly lease: LeaseEntry; readonly writes: readonly LeaseWrite[] }
  | LeaseFailure<'ErrLeaseNotFound' | 'ErrLeaseExist' | 'ErrLeaseTTLTooLarge'>;

export type RevokeOutcome =
  | {
    readonly ok: true;
    /** Keys to delete, ascending, in the same revision as the lease's removal. */
    readonly keys: readonly Uint8Array[];
    readonly writes: readonly LeaseWrite[];
  }
  | LeaseFailure<'ErrLeaseNotFound'>;

export type AttachOutcome = { readonly ok: true } | LeaseFailure<'ErrLeaseNotFound'>;

/**
 * The identity of a key as a JS string, one UTF-16 unit per byte (V8 stores it one byte per
 * char). Injective, so it can key a Map.
 */
export function keyIdentity(key: Uint8Array): string {
  const chunk = 8192;
  if (key.length <= chunk) return String.fromCharCode.apply(null, key as unknown as number[]);
  let out = '';
  for (let i = 0; i < key.length; i += chunk) {
    out += String.fromCharCode.apply(null, key.subarray(i, i + chunk) as unknown as number[]);
  }
  return out;
}

/**
 * Normalises a requested TTL as etcd does: above the maximum is an error; zero, negative and
 * anything below the minimum become the minimum. Accepts bigint so that any int64 from the
 * wire can be judged without loss.
 */
export function effectiveTtlSeconds(
  requested: number | bigint,
  minTtlSeconds: number,
): number | 'ErrLeaseTTLTooLarge' {
  if (typeof requested === 'bigint') {
    if (requested > BigInt(LEASE_TTL_MAX_SECONDS)) return 'ErrLeaseTTLTooLarge';
    if (requested < BigInt(minTtlSeconds)) return minTtlSeconds;
    return Number(requested);
  }
  assert(Number.isSafeInteger(requested), `TTL must be a safe integer: ${requested}`);
  if (requested > LEASE_TTL_MAX_SECONDS) return 'ErrLeaseTTLTooLarge';
  return Math.max(requested, minTtlSeconds);
}

export function toRecord(lease: LeaseEntry): LeaseRecord {
  return {
    id: lease.id,
    ttlSeconds: lease.ttlSeconds,
    remainingTtlSeconds: lease.remainingTtlSeconds,
  };
}

export function sortedKeys(lease: LeaseEntry): Uint8Array[] {
  return [...lease.keys.values()].sort(compareBytes);
}

export function toView(lease: LeaseEntry): LeaseView {
  return { ...toRecord(lease), keys: sortedKeys(lease) };
}

export class LeaseTable {
  readonly minTtlSeconds: number;
  readonly #leases = new Map<LeaseId, LeaseEntry>();
  readonly #leaseOfKey = new Map<string, LeaseId>();

  constructor(minTtlSeconds: number) {
    assert(Number.isSafeInteger(minTtlSeconds), 'minTtlSeconds must be an integer');
    assert(minTtlSeconds >= 1, 'minTtlSeconds must be at least 1');
    assert(minTtlSeconds <= LEASE_TTL_MAX_SECONDS, 'minTtlSeconds must not exceed the maximum');
    this.minTtlSeconds = minTtlSeconds;
  }

  get size(): number {
    return this.#leases.size;
  }

  get(id: LeaseId): LeaseEntry | undefined {
    return this.#leases.get(id);
  }

  /** Every lease, in grant order (Map order: deterministic on every member). */
  entries(): IterableIterator<LeaseEntry> {
    return this.#leases.values();
  }

  leaseOfKey(key: Uint8Array): LeaseId | undefined {
    return this.#leaseOfKey.get(keyIdentity(key));
  }

  /** etcd lessor.Grant, apply side: checks in etcd's order (TTL, then existence). */
  grant(id: LeaseId, requestedTtlSeconds: number | bigint): GrantOutcome {
    if (id === NO_LEASE) return { ok: false, code: 'ErrLeaseNotFound' };
    const ttlSeconds = effectiveTtlSeconds(requestedTtlSeconds, this.minTtlSeconds);
    if (ttlSeconds === 'ErrLeaseTTLTooLarge') return { ok: false, code: ttlSeconds };
    if (this.#leases.has(id)) return { ok: false, code: 'ErrLeaseExist' };
    assert(this.#leases.size < LEASES_MAX, `lease table full: ${LEASES_MAX}`);
    const lease: LeaseEntry = { id, ttlSeconds, remainingTtlSeconds: 0, keys: new Map() };
    this.#leases.set(id, lease);
    return { ok: true, lease, writes: [{ type: 'put', record: toRecord(lease) }] };
  }

  /**
   * etcd lessor.Revoke, apply side: the lease goes, and the caller deletes the returned keys in
   * the same write transaction (one revision; none if there are no keys).
   */
  revoke(id: LeaseId): RevokeOutcome {
    const lease = this.#leases.get(id);
    if (lease === undefined) return { ok: false, code: 'ErrLeaseNotFound' };
    const keys = sortedKeys(lease);
    for (const k of lease.keys.keys()) {
      assert(this.#leaseOfKey.get(k) === id, 'key index disagrees with the lease it names');
      this.#leaseOfKey.delete(k);
    }
    this.#leases.delete(id);
    return { ok: true, keys, writes: [{ type: 'delete', id }] };
  }

  /** Attaches `keys` to lease `id` (a put with a lease). A key moving leases is detached first. */
  attach(id: LeaseId, keys: readonly Uint8Array[]): AttachOutcome {
    const lease = this.#leases.get(id);
    if (lease === undefined) return { ok: false, code: 'ErrLeaseNotFound' };
    for (const key of keys) {
      const k = keyIdentity(key);
      const owner = this.#leaseOfKey.get(k);
      assert(owner === undefined || owner === id,
        `key is attached to lease ${owner} and must be detached before attaching to ${id}`);
      if (owner === undefined) {
        this.#leaseOfKey.set(k, id);
        lease.keys.set(k, copyBytes(key));
      }
    }
    return { ok: true };
  }

  /** Detaches `keys` from lease `id` (a delete, or a put moving the key to another lease). */
  detach(id: LeaseId, keys: readonly Uint8Array[]): AttachOutcome {
    const lease = this.#leases.get(id);
    if (lease === undefined) return { ok: false, code: 'ErrLeaseNotFound' };
    for (const key of keys) {
      const k = keyIdentity(key);
      if (this.#leaseOfKey.get(k) !== id) continue;
      this.#leaseOfKey.delete(k);
      lease.keys.delete(k);
    }
    return { ok: true };
  }

  /**
   * etcd lessor.Checkpoint, apply side: records the remaining TTL the leader saw so that the
   * next leader starts from it. An unknown lease (revoked meanwhile) is not an error.
   */
  checkpoint(id: LeaseId, remainingTtlSeconds: number): readonly LeaseWrite[] {
    assert(Number.isSafeInteger(remainingTtlSeconds), 'remaining TTL must be an integer');
    assert(remainingTtlSeconds >= 0, 'remaining TTL must not be negative');
    const lease = this.#leases.get(id);
    if (lease === undefined) return [];
    lease.remainingTtlSeconds = remainingTtlSeconds;
    return [{ type: 'put', record: toRecord(lease) }];
  }

  /** Replaces everything with `records` (startup, snapshot install); keys attach afterwards. */
  restore(records: readonly LeaseRecord[]): void {
    this.#leases.clear();
    this.#leaseOfKey.clear();
    for (const r of records) {
      assert(r.id !== NO_LEASE, 'a persisted lease has id 0');
      assert(!this.#leases.has(r.id), `lease ${r.id} persisted twice`);
      assert(Number.isSafeInteger(r.ttlSeconds), 'persisted TTL must be an integer');
      assert(r.ttlSeconds <= LEASE_TTL_MAX_SECONDS, 'persisted TTL exceeds the maximum');
      assert(r.remainingTtlSeconds >= 0, 'persisted remaining TTL is negative');
      // A lease persisted under a larger minimum keeps its TTL; a smaller one is raised, as a
      // grant under the current configuration would have been.
      const ttlSeconds = Math.max(r.ttlSeconds, this.minTtlSeconds);
      this.#leases.set(r.id, {
        id: r.id, ttlSeconds, remainingTtlSeconds: r.remainingTtlSeconds, keys: new Map(),
      });
    }
  }
}
