/**
 * The lease actor: the leader-only half of etcd's lessor on its own mailbox (the lease wheel). It
 * binds a src/lease Lessor to messages and does no lease logic of its own:
 *
 * - its Lessor mirrors the replicated lease table: apply sends the stored leases once at start
 *   and then the lease ops of every applied batch, in log order (grant / revoke / checkpoint);
 * - raft tells it who leads; on becoming leader (and only once the stored leases are in) it
 *   promotes the lessor, which extends every lease by the election timeout before any can
 *   expire; losing leadership demotes it, dropping every deadline;
 * - every tick it asks the lessor what is due and proposes it through raft, fire-and-forget:
 *   revokes of expired leases (rate-limited inside the lessor to `revokesPerSecondMax`, and
 *   re-emitted if one has not applied `revokeRetryMs` later) and remaining-TTL checkpoints
 *   (batched into one entry per tick). Nobody waits on these proposals: origin 0 and negative
 *   ids, so no front ever matches them;
 * - keepalives and time-to-live questions from the front are answered from the deadlines, after
 *   this actor has seen the batch the front had seen when the client asked (a bounded wait).
 *
 * A follower's front forwards its questions to the leader's lease actor through the peer actors
 * (`replyTo` names the asking member; the answer goes back the same way). A member that does not
 * lead answers ErrNotPrimary.
 */
import { assert, assertNever, leaseId } from '../../src/base/index.js';
import type { Clock, LeaseId } from '../../src/base/index.js';
import { encodeProposal, type Command, type LeaseOp } from '../../src/apply/index.js';
import { Lessor } from '../../src/lease/index.js';
import type { LeaseCommand, LessorOptions } from '../../src/lease/index.js';
import type { Actor, ActorContext, Address } from '../../src/runtime/index.js';
import type { LeaseAnswer, LeaseInbox } from './messages.js';

export interface LeaseActorOptions {
  readonly memberId: bigint;
  readonly raftAddress: Address;
  readonly frontAddress: Address;
  /** Where answers to other members' questions go (the peer actor); only with peers. */
  readonly peerAddress?: Address;
  readonly minTtlSeconds: number;
  /** How long a new leader extends every lease before expiring any (etcd: election timeout). */
  readonly extendMs: number;
  /** Lessor tuning (tick, revoke rate, checkpoint interval); src/lease defaults otherwise. */
  readonly lessor?: Omit<LessorOptions, 'clock' | 'minTtlSeconds'>;
  /** Front requests waiting for apply to catch up, at most; more are refused. */
  readonly waitingRequestsMax: number;
}

type Request = Extract<LeaseInbox, { type: 'lease.request' }>;

export class LeaseActor implements Actor<LeaseInbox> {
  readonly #o: LeaseActorOptions;
  readonly #lessor: Lessor;
  #ctx: ActorContext<LeaseInbox> | undefined;
  /** The applied index whose lease ops the mirror holds; -1 until apply sent the stored leases. */
  #applied = -1;
  #leading = false;
  /** Requests that named an applied index this actor has not reached yet, in arrival order. */
  #waiting: Request[] = [];
  #nextProposalId = -1;

  constructor(options: LeaseActorOptions) {
    assert(options.waitingRequestsMax >= 1, 'waitingRequestsMax must be positive');
    assert(options.extendMs >= 0, 'extendMs must not be negative');
    this.#o = options;
    const clock: Clock = {
      now: () => {
        assert(this.#ctx !== undefined, 'the lease actor reads time only once started');
        return this.#ctx.now();
      },
    };
    this.#lessor = new Lessor({ ...options.lessor, clock, minTtlSeconds: options.minTtlSeconds });
  }

  /** For tests: the lessor this actor drives. */
  get lessor(): Lessor {
    return this.#lessor;
  }

  start(ctx: ActorContext<LeaseInbox>): void {
    this.#ctx = ctx;
    ctx.setTimer(this.#lessor.options.tickMs, { type: 'lease.tick' });
  }

  receive(message: LeaseInbox, ctx: ActorContext<LeaseInbox>): void {
    switch (message.type) {
      case 'lease.restored':
        assert(this.#applied < 0, 'the stored leases arrive once');
        assert(!this.#lessor.isPrimary, 'no promotion before the stored leases are in');
        this.#lessor.restore(message.leases.map((l) => ({ ...l, id: leaseId(l.id) })));
        this.#applied = message.appliedIndex;
        if (this.#leading) this.#lessor.promote(this.#o.extendMs);
        this.#answerWaiting(ctx);
        return;
      case 'lease.applied':
        if (this.#applied < 0 || message.appliedIndex <= this.#applied) return;
        for (const op of message.ops) this.#mirror(op);
        this.#applied = message.appliedIndex;
        this.#answerWaiting(ctx);
        return;
      case 'lease.raftState':
        this.#onRaftState(message.role === 'leader' && message.leader === this.#o.memberId);
        return;
      case 'lease.request':
        if (message.minApplied > this.#applied) {
          if (this.#waiting.length >= this.#o.waitingRequestsMax) {
            this.#answer(ctx, message, { ok: false, code: 'ErrTooManyRequests' });
          } else {
            this.#waiting.push(message);
          }
          return;
        }
        this.#serve(message, ctx);
        return;
      case 'lease.tick':
        this.#propose(this.#lessor.tick(), ctx);
        ctx.setTimer(this.#lessor.options.tickMs, { type: 'lease.tick' });
        return;
      default:
        assertNever(message, 'lease message');
    }
  }

  #onRaftState(leading: boolean): void {
    if (leading === this.#leading) return;
    this.#leading = leading;
    if (this.#applied < 0) return; // promoted when the stored leases arrive
    if (leading) this.#lessor.promote(this.#o.extendMs);
    else this.#lessor.demote();
  }

  /** Replays one applied lease change; apply reports only changes that succeeded there. */
  #mirror(op: LeaseOp): void {
    const id = leaseId(op.id);
    switch (op.type) {
      case 'grant': {
        const r = this.#lessor.grant(id, op.ttlSeconds);
        assert(r.ok, `the lease mirror refused a grant apply accepted: ${op.id}`);
        return;
      }
      case 'revoke': {
        const r = this.#lessor.revoke(id);
        assert(r.ok, `the lease mirror lacks a lease apply revoked: ${op.id}`);
        return;
      }
      case 'checkpoint':
        this.#lessor.checkpoint(id, op.remainingTtlSeconds);
        return;
      default:
        assertNever(op, 'lease op');
    }
  }

  #answerWaiting(ctx: ActorContext<LeaseInbox>): void {
    if (this.#waiting.length === 0) return;
    const still: Request[] = [];
    for (const r of this.#waiting) {
      if (r.minApplied > this.#applied) still.push(r);
      else this.#serve(r, ctx);
    }
    this.#waiting = still;
  }

  #serve(r: Request, ctx: ActorContext<LeaseInbox>): void {
    const id = leaseId(r.id);
    if (r.op === 'renew') {
      const renewed = this.#lessor.renew(id);
      if (!renewed.ok) {
        // A lease whose revoke is pending is as good as gone: etcd makes the client wait for the
        // revoke to apply and then answers TTL 0; answering 0 at once tells it the same.
        const answer: LeaseAnswer = renewed.code === 'ErrNotPrimary'
          ? { ok: false, code: 'ErrNotPrimary' } : { ok: true, ttlSeconds: 0, grantedTtlSeconds: 0 };
        this.#answer(ctx, r, answer);
        return;
      }
      this.#propose(renewed.commands, ctx);
      this.#answer(ctx, r, {
        ok: true, ttlSeconds: renewed.ttlSeconds, grantedTtlSeconds: renewed.ttlSeconds,
      });
      return;
    }
    const t = this.#lessor.timeToLive(id, false);
    if (t.ok) {
      this.#answer(ctx, r, {
        ok: true, ttlSeconds: t.ttlSeconds, grantedTtlSeconds: t.grantedTtlSeconds,
      });
    } else if (t.code === 'ErrLeaseNotFound') {
      this.#answer(ctx, r, { ok: true, ttlSeconds: -1, grantedTtlSeconds: 0 });
    } else {
      this.#answer(ctx, r, { ok: false, code: t.code });
    }
  }

  #answer(ctx: ActorContext<LeaseInbox>, r: Request, answer: LeaseAnswer): void {
    const { requestId, replyTo } = r;
    if (replyTo === undefined) {
      ctx.send(this.#o.frontAddress, { type: 'front.leaseAnswered', requestId, answer });
    } else if (this.#o.peerAddress !== undefined) {
      ctx.send(this.#o.peerAddress, { type: 'peer.leaseAnswer', to: replyTo, requestId, answer });
    }
  }

  /**
   * Proposes the lessor's commands: one entry per revoke (each is its own revision), all
   * checkpoints of the call in one entry. Bounded by the lessor's per-tick maximums.
   */
  #propose(commands: readonly LeaseCommand[], ctx: ActorContext<LeaseInbox>): void {
    if (commands.length === 0) return;
    const entries: Command[] = [];
    const checkpoints: { id: bigint; remainingTtlSeconds: number }[] = [];
    for (const c of commands) {
      if (c.type === 'revoke') entries.push({ kind: 'leaseRevoke', id: c.id as LeaseId });
      else checkpoints.push({ id: c.id, remainingTtlSeconds: c.remainingTtlSeconds });
    }
    if (checkpoints.length > 0) entries.push({ kind: 'leaseCheckpoint', checkpoints });
    const ids: number[] = [];
    const data: Uint8Array[] = [];
    for (const command of entries) {
      const id = this.#nextProposalId--;
      ids.push(id);
      data.push(encodeProposal({ id, origin: 0n, command }));
    }
    ctx.send(this.#o.raftAddress, { type: 'raft.propose', ids, data });
  }
}
