/**
 * The leader-only half of the lessor: deadlines, renewals, expiry and checkpoint scheduling.
 * None of it is replicated (etcd 3.4: keepalives are served by the leader alone and never go
 * through Raft); a new leader rebuilds it from the replicated table when it is promoted, and a
 * demoted member simply drops it, which is how "demote stops expiry" holds.
 *
 * Expiry pipeline: each lease has one timer in a hashed timing wheel at its deadline. When the
 * timer fires, the lease enters the due heap, ordered by (deadline, id). Revoke commands leave
 * the heap in that order, at most `revokesPerSecondMax` in any one-second window and
 * `revokesPerTickMax` per tick (etcd: 1000/s, taken 500 per 500 ms run). An emitted revoke's
 * timer is re-armed `revokeRetryMs` later: if the revoke has not applied by then (lost
 * proposal), the lease comes due again and is emitted again (etcd's expiredLeaseRetryInterval).
 *
 * Invariants (asserted):
 * - every lease in the table has exactly one Deadline here while this member leads;
 * - a Deadline is in the due heap only after its deadline passed;
 * - a renewal sets the deadline to now + full TTL; promotion sets it to at least
 *   now + extend + (remaining TTL or TTL), and spreading only moves it later.
 */
import { assert } from '../base/index.js';
import type { LeaseId } from '../base/index.js';
import { DeadlineHeap } from './deadline-heap.js';
import type { HeapItem } from './deadline-heap.js';
import { LEASES_MAX } from './lease-table.js';
import type { LeaseEntry } from './lease-table.js';
import { RateWindow } from './rate-window.js';
import { Timer, TimingWheel } from './timing-wheel.js';
import type { LeaseCommand, LeaseFailure } from './types.js';

export interface LeaderLeasesOptions {
  /** Expiry wheel resolution: a lease is revoked at most this long after its deadline. */
  readonly tickMs: number;
  /** Expiry wheel slots; tickMs * slotCount is one rotation. */
  readonly slotCount: number;
  /** Revokes emitted in any 1000 ms window (etcd leaseRevokeRate). */
  readonly revokesPerSecondMax: number;
  /** Revokes emitted by one tick (etcd takes leaseRevokeRate / 2 per 500 ms run). */
  readonly revokesPerTickMax: number;
  /** How long an emitted revoke may stay unapplied before it is emitted again. */
  readonly revokeRetryMs: number;
  /** Checkpoint period for leases longer than it; 0 turns checkpointing off. */
  readonly checkpointIntervalMs: number;
  /** Checkpoint commands emitted by one tick (etcd maxLeaseCheckpointBatchSize). */
  readonly checkpointsPerTickMax: number;
}

/** The checkpoint wheel needs no fine resolution: a checkpoint a second late is harmless. */
const CHECKPOINT_TICK_MS = 1000;
const CHECKPOINT_SLOT_COUNT = 512;
/** Milliseconds in the window etcd's revoke rate and pile-up spreading are counted over. */
const SECOND_MS = 1000;

/** The leader's view of one lease. */
class Deadline implements HeapItem {
  heapIndex = -1;
  heapDeadlineMs = 0;
  /** When the lease expires, absent a renewal. */
  expiryMs = 0;
  /** A revoke was emitted and has not applied yet. */
  revokeEmitted = false;
  readonly lease: LeaseEntry;
  readonly expiryTimer: Timer<Deadline>;
  readonly checkpointTimer: Timer<Deadline>;

  constructor(lease: LeaseEntry) {
    this.lease = lease;
    this.expiryTimer = new Timer<Deadline>(this);
    this.checkpointTimer = new Timer<Deadline>(this);
  }
}

/** The TTL a new deadline counts from: the checkpointed remainder if any, else the full TTL. */
function baseTtlMs(lease: LeaseEntry): number {
  const seconds = lease.remainingTtlSeconds > 0 ? lease.remainingTtlSeconds : lease.ttlSeconds;
  return seconds * 1000;
}

const byId = (a: Deadline, b: Deadline): number =>
  a.lease.id < b.lease.id ? -1 : a.lease.id > b.lease.id ? 1 : 0;

export type RenewOutcome =
  | {
    readonly ok: true;
    readonly ttlSeconds: number;
    /** Proposals the renewal needs (clearing a checkpointed remainder; etcd 3.4.x). */
    readonly commands: readonly LeaseCommand[];
  }
  | LeaseFailure<'ErrLeaseNotFound' | 'ErrLeaseExpired'>;

export class LeaderLeases {
  readonly #options: LeaderLeasesOptions;
  readonly #deadlines = new Map<LeaseId, Deadline>();
  readonly #expiryWheel: TimingWheel<Deadline>;
  readonly #checkpointWheel: TimingWheel<Deadline>;
  readonly #due: DeadlineHeap<Deadline>;
  readonly #revokes: RateWindow;

  /**
   * etcd lessor.Promote: every lease gets deadline now + extend + (remaining TTL or TTL), and
   * when there are enough leases to pile up, later ones are spread so that no more than 3/4 of
   * the revoke rate come due in any second. Nothing is expired during construction.
   */
  constructor(
    options: LeaderLeasesOptions,
    leases: Iterable<LeaseEntry>,
    nowMs: number,
    extendMs: number,
  ) {
    assert(extendMs >= 0, 'promotion extension must not be negative');
    assert(options.revokesPerTickMax >= 1, 'revokesPerTickMax must be at least 1');
    assert(options.revokeRetryMs > 0, 'revokeRetryMs must be positive');
    assert(options.checkpointIntervalMs >= 0, 'checkpointIntervalMs must not be negative');
    assert(options.checkpointsPerTickMax >= 1, 'checkpointsPerTickMax must be at least 1');
    this.#options = options;
    const wheelBase = { startMs: nowMs, timersMax: LEASES_MAX };
    this.#expiryWheel = new TimingWheel<Deadline>({
      ...wheelBase, tickMs: options.tickMs, slotCount: options.slotCount,
    });
    this.#checkpointWheel = new TimingWheel<Deadline>({
      ...wheelBase, tickMs: CHECKPOINT_TICK_MS, slotCount: CHECKPOINT_SLOT_COUNT,
    });
    this.#due = new DeadlineHeap<Deadline>(LEASES_MAX, byId);
    this.#revokes = new RateWindow(options.revokesPerSecondMax, SECOND_MS);

    for (const lease of leases) {
      const d = new Deadline(lease);
      d.expiryMs = nowMs + extendMs + baseTtlMs(lease);
      this.#deadlines.set(lease.id, d);
    }
    if (this.#deadlines.size >= options.revokesPerSecondMax) this.#spreadPileUp(nowMs);
    for (const d of this.#deadlines.values()) {
      this.#expiryWheel.reschedule(d.expiryTimer, d.expiryMs);
      this.scheduleCheckpoint(d.lease.id, nowMs);
    }
  }

  get size(): number {
    return this.#deadlines.size;
  }

  /** A lease granted while leading: deadline now + TTL (etcd refresh(0)). */
  track(lease: LeaseEntry, nowMs: number): void {
    assert(!this.#deadlines.has(lease.id), `lease ${lease.id} is already tracked`);
    const d = new Deadline(lease);
    d.expiryMs = nowMs + baseTtlMs(lease);
    this.#deadlines.set(lease.id, d);
    this.#expiryWheel.reschedule(d.expiryTimer, d.expiryMs);
    this.scheduleCheckpoint(lease.id, nowMs);
  }

  /** A lease revoked (applied): forget its timers and any pending revoke. */
  untrack(id: LeaseId): void {
    const d = this.#deadlines.get(id);
    assert(d !== undefined, `untracking unknown lease ${id}`);
    this.#expiryWheel.cancel(d.expiryTimer);
    this.#checkpointWheel.cancel(d.checkpointTimer);
    if (d.heapIndex !== -1) this.#due.remove(d);
    this.#deadlines.delete(id);
  }

  /** The deadline of lease `id`, or undefined if it is not tracked. */
  expiryMs(id: LeaseId): number | undefined {
    return this.#deadlines.get(id)?.expiryMs;
  }

  /**
   * etcd lessor.Renew on the leader: the deadline becomes now + full TTL, and the granted TTL is
   * returned. A lease whose deadline has passed is not renewed: its revoke is due or in flight.
   */
  renew(id: LeaseId, nowMs: number): RenewOutcome {
    const d = this.#deadlines.get(id);
    if (d === undefined) return { ok: false, code: 'ErrLeaseNotFound' };
    if (d.expiryMs <= nowMs) return { ok: false, code: 'ErrLeaseExpired' };
    assert(d.heapIndex === -1, 'a lease before its deadline is in the due heap');
    assert(!d.revokeEmitted, 'a lease before its deadline has a revoke in flight');
    // The deadline may move earlier than a promotion's extension put it: the client has just
    // been told the full TTL from now, and that is the promise to keep.
    d.expiryMs = nowMs + d.lease.ttlSeconds * 1000;
    this.#expiryWheel.reschedule(d.expiryTimer, d.expiryMs);
    const commands: LeaseCommand[] = [];
    if (d.lease.remainingTtlSeconds > 0) {
      // A stale checkpointed remainder would let the next leader expire the lease early.
      commands.push({ type: 'checkpoint', id, remainingTtlSeconds: 0 });
    }
    return { ok: true, ttlSeconds: d.lease.ttlSeconds, commands };
  }

  /**
   * Schedules the next checkpoint of lease `id` (etcd scheduleCheckpointIfNeeded): only leases
   * whose remaining time exceeds the interval, and at most one pending checkpoint per lease.
   */
  scheduleCheckpoint(id: LeaseId, nowMs: number): void {
    const interval = this.#options.checkpointIntervalMs;
    if (interval === 0) return;
    const d = this.#deadlines.get(id);
    if (d === undefined || d.checkpointTimer.scheduled) return;
    if (baseTtlMs(d.lease) <= interval) return;
    this.#checkpointWheel.reschedule(d.checkpointTimer, nowMs + interval);
  }

  /**
   * One tick at `nowMs`: moves leases whose deadline passed into the due heap, emits the revokes
   * the rate allows in deadline order, then the checkpoints that are due.
   */
  tick(nowMs: number): LeaseCommand[] {
    const commands: LeaseCommand[] = [];
    for (const d of this.#expiryWheel.advance(nowMs)) {
      assert(d.expiryMs <= nowMs, 'the expiry wheel fired a lease before its deadline');
      d.heapDeadlineMs = d.expiryMs;
      this.#due.push(d);
    }
    this.#emitRevokes(nowMs, commands);
    this.#emitCheckpoints(nowMs, commands);
    return commands;
  }

  #emitRevokes(nowMs: number, commands: LeaseCommand[]): void {
    let emitted = 0;
    while (emitted < this.#options.revokesPerTickMax && this.#revokes.allows(nowMs)) {
      const d = this.#due.pop();
      if (d === undefined) break;
      this.#revokes.record(nowMs);
      d.revokeEmitted = true;
      this.#expiryWheel.reschedule(d.expiryTimer, nowMs + this.#options.revokeRetryMs);
      commands.push({ type: 'revoke', id: d.lease.id });
      emitted++;
    }
  }

  #emitCheckpoints(nowMs: number, commands: LeaseCommand[]): void {
    const fired = this.#checkpointWheel.advance(nowMs, this.#options.checkpointsPerTickMax);
    for (const d of fired) {
      if (nowMs >= d.expiryMs) continue; // Expiring: the revoke, not a checkpoint, is next.
      const remainingTtlSeconds = Math.ceil((d.expiryMs - nowMs) / 1000);
      if (remainingTtlSeconds >= d.lease.ttlSeconds) {
        // Renewed since the last checkpoint: nothing to record yet. etcd drops the schedule
        // here until the next promotion; keeping it means a lease renewed once and then left
        // alone is still checkpointed before a leader change can reset it.
        this.scheduleCheckpoint(d.lease.id, nowMs);
        continue;
      }
      commands.push({ type: 'checkpoint', id: d.lease.id, remainingTtlSeconds });
    }
  }

  /**
   * etcd's pile-up avoidance in Promote, in milliseconds: walking leases by deadline, once more
   * than 3/4 of the revoke rate would come due within a second of a window's start, each further
   * lease is pushed later in proportion to how far over the target the window is.
   */
  #spreadPileUp(nowMs: number): void {
    const ds = [...this.#deadlines.values()].sort((a, b) => a.expiryMs - b.expiryMs || byId(a, b));
    const first = ds[0];
    if (first === undefined) return;
    const targetPerSecond = Math.floor((3 * this.#options.revokesPerSecondMax) / 4);
    assert(targetPerSecond >= 1, 'revoke rate too small to spread a pile-up');
    let baseWindow = first.expiryMs - nowMs;
    let nextWindow = baseWindow + SECOND_MS;
    let expires = 0;
    for (const d of ds) {
      const remaining = d.expiryMs - nowMs;
      if (remaining > nextWindow) {
        baseWindow = remaining;
        nextWindow = baseWindow + SECOND_MS;
        expires = 1;
        continue;
      }
      expires++;
      if (expires <= targetPerSecond) continue;
      const rateDelay = (SECOND_MS * expires) / targetPerSecond - (remaining - baseWindow);
      const delay = Math.trunc(rateDelay);
      assert(delay >= 0, 'pile-up spreading would move a deadline earlier');
      nextWindow = baseWindow + delay;
      d.expiryMs += delay;
    }
  }
}
