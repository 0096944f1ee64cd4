/**
 * The apply actor: owns the writable MVCC store. Committed entries arrive from raft in order;
 * each message becomes one backend write transaction (the Applier), issued at once so batches
 * pipeline, answered in order once visible: committed, or, where the backend answers before its
 * commit (every reader on this thread; the Raft log replays what a crash loses), once applied.
 * Raft hears the applied index once it is durable. Only results whose origin is this member go
 * to the front; change lists go to the watch hub when one is configured.
 */
import { assert, assertNever } from '../../src/base/index.js';
import type { AppliedBatch, Applier } from '../../src/apply/index.js';
import type { Actor, ActorContext, Address } from '../../src/runtime/index.js';
import type { ApplyInbox } from './messages.js';

export interface ApplyActorOptions {
  readonly memberId: bigint;
  readonly applier: Applier;
  readonly frontAddress: Address;
  readonly raftAddress: Address;
  readonly watchAddress?: Address;
  /** The lease actor: gets the stored leases at start and every batch's lease ops. */
  readonly leaseAddress?: Address;
  /** Batches written but not yet reported, at most (the back-pressure on raft's commits). */
  readonly batchesInFlightMax: number;
}

export class ApplyActor implements Actor<ApplyInbox> {
  readonly #o: ApplyActorOptions;
  /** Written batches by sequence number, reported strictly in order. */
  readonly #done = new Map<number, AppliedBatch>();
  #issued = 0;
  #reported = 0;
  #compactScheduled = false;

  constructor(options: ApplyActorOptions) {
    assert(options.batchesInFlightMax >= 1, 'batchesInFlightMax must be positive');
    this.#o = options;
  }

  start(ctx: ActorContext<ApplyInbox>): void {
    const lease = this.#o.leaseAddress;
    if (lease === undefined) return;
    const lessor = this.#o.applier.lessor;
    ctx.send(lease, {
      type: 'lease.restored', appliedIndex: this.#o.applier.appliedIndex(),
      leases: lessor.leases().map((id) => {
        const l = lessor.lookup(id);
        assert(l !== undefined, 'a listed lease exists');
        return { id: l.id, ttlSeconds: l.ttlSeconds, remainingTtlSeconds: l.remainingTtlSeconds };
      }),
    });
  }

  receive(message: ApplyInbox, ctx: ActorContext<ApplyInbox>): void {
    switch (message.type) {
      case 'apply.committed': {
        const seq = ++this.#issued;
        assert(seq - this.#reported <= this.#o.batchesInFlightMax * 64, 'apply fell far behind raft');
        const self = ctx.self;
        const last = message.entries[message.entries.length - 1]!.index;
        const staged = this.#o.applier.applyStaged(message.entries);
        // Clients are answered once the batch is visible (the Raft log already holds it on
        // disk); raft may compact its log only below what the mvcc env holds on disk.
        void staged.visible.then((batch) => {
          // Raft's configuration follows the membership changes that passed, in log order, and
          // before raft hears that the batch is durable (its snapshots take the configuration).
          if (batch.confChanges.length > 0) {
            ctx.send(this.#o.raftAddress, { type: 'raft.confChanged', changes: batch.confChanges });
          }
          this.#done.set(seq, batch);
          ctx.send(self, { type: 'apply.written', seq });
        });
        void staged.durable.then(() => ctx.send(this.#o.raftAddress, { type: 'raft.applied', index: last }));
        return;
      }
      case 'apply.written':
        this.#report(ctx);
        return;
      case 'apply.compactStep': {
        const self = ctx.self;
        void this.#o.applier.compactStep().then(({ more, results }) => {
          this.#compactScheduled = false;
          this.#reply(results, ctx);
          if (more) this.#scheduleCompaction(ctx, self);
        });
        return;
      }
      default:
        assertNever(message, 'apply message');
    }
  }

  #report(ctx: ActorContext<ApplyInbox>): void {
    for (;;) {
      const batch = this.#done.get(this.#reported + 1);
      if (batch === undefined) return;
      this.#done.delete(++this.#reported);
      const o = this.#o;
      // The lease actor first: a client answered below must find its lease there.
      if (o.leaseAddress !== undefined) {
        ctx.send(o.leaseAddress, {
          type: 'lease.applied', appliedIndex: batch.appliedIndex, ops: batch.leaseOps,
        });
      }
      const { results, puts } = forFront(batch.results, o.memberId);
      let putEvents = 0;
      let deleteEvents = 0;
      for (const c of batch.changes) {
        for (const e of c.events) {
          if (e.type === 'PUT') putEvents++;
          else deleteEvents++;
        }
      }
      ctx.send(o.frontAddress, {
        type: 'front.applied', appliedIndex: batch.appliedIndex, revision: batch.revision,
        compacted: batch.compacted, results, puts, alarms: batch.alarms, putEvents, deleteEvents,
        ...(batch.confChanges.length > 0 && { members: batch.members }),
      });
      if (o.watchAddress !== undefined && batch.changes.length > 0) {
        ctx.send(o.watchAddress, { type: 'watch.committed', changes: batch.changes, revision: batch.revision });
      }
      if (batch.compacting) this.#scheduleCompaction(ctx, ctx.self);
    }
  }

  #reply(results: AppliedBatch['results'], ctx: ActorContext<ApplyInbox>): void {
    const mine = forFront(results, this.#o.memberId);
    if (mine.results.length === 0 && mine.puts.length === 0) return;
    // -1: these results come from a compaction slice, which moves no index or revision.
    ctx.send(this.#o.frontAddress, {
      type: 'front.applied', appliedIndex: -1, revision: -1, compacted: -1, ...mine,
      alarms: this.#o.applier.alarms, putEvents: 0, deleteEvents: 0,
    });
  }

  #scheduleCompaction(ctx: ActorContext<ApplyInbox>, self: Address): void {
    if (this.#compactScheduled) return;
    this.#compactScheduled = true;
    ctx.send(self, { type: 'apply.compactStep' });
  }
}

/**
 * The results this member's front waits for (those it proposed): plain successful puts as flat
 * `[id, revision]` pairs, everything else as it is.
 */
function forFront(all: AppliedBatch['results'], memberId: bigint):
  { results: AppliedBatch['results']; puts: number[] } {
  const results: AppliedBatch['results'][number][] = [];
  const puts: number[] = [];
  for (const r of all) {
    if (r.origin !== memberId) continue;
    const o = r.outcome;
    if ('kind' in o && o.kind === 'put' && o.response.prevKv === undefined) {
      puts.push(r.id, o.response.header.revision);
    } else {
      results.push(r);
    }
  }
  return { results, puts };
}
