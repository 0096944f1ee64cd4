/**
 * The lease actor shell, driven message by message through a recording context on a manual clock
 * (no threads, no timers): it answers only once it has seen the batch the front had seen (the
 * cross-thread race between apply and front), answers keepalives only while leading, promotes
 * with the extension so no lease expires early after a leader change, proposes expiries through
 * raft as revoke commands no more than the named rate allows, and batches remaining-TTL
 * checkpoints into one entry.
 */
import t from 'tap';
import { decodeProposal, type Command } from '../../src/apply/index.js';
import { nullLogger, SeededRng } from '../../src/base/index.js';
import type { ActorContext } from '../../src/runtime/index.js';
import { LeaseActor, type LeaseActorOptions } from '../../actors/lease/lease-actor.js';
import type { LeaseAnswer, LeaseInbox } from '../../actors/lease/messages.js';

interface Sent { readonly to: string; readonly message: { type: string } & Record<string, unknown> }

function harness(options: Partial<LeaseActorOptions> = {}) {
  let now = 0;
  const sent: Sent[] = [];
  const ctx: ActorContext<LeaseInbox> = {
    self: 'm/lease', logger: nullLogger, rng: new SeededRng(1),
    send: (to, message) => { sent.push({ to, message: message as Sent['message'] }); return true; },
    trySend: (to, message) => { sent.push({ to, message: message as Sent['message'] }); return true; },
    now: () => now,
    setTimer: () => 0 as never,
    cancelTimer: () => false,
  };
  const actor = new LeaseActor({
    memberId: 7n, raftAddress: 'm/raft', frontAddress: 'm/front', minTtlSeconds: 2,
    extendMs: 1_000, waitingRequestsMax: 16, ...options,
  });
  actor.start(ctx);
  const deliver = (m: LeaseInbox): void => actor.receive(m, ctx);
  const answers = (): Map<number, LeaseAnswer> => new Map(sent
    .filter((s) => s.message.type === 'front.leaseAnswered')
    .map((s) => [s.message['requestId'] as number, s.message['answer'] as LeaseAnswer]));
  const proposed = (): Command[] => sent
    .filter((s) => s.message.type === 'raft.propose')
    .flatMap((s) => (s.message['data'] as Uint8Array[]).map((d) => {
      const p = decodeProposal(d);
      t.equal(p.origin, 0n, 'nobody waits on a lease actor proposal');
      t.ok(p.id < 0, 'lease actor proposal ids never collide with the front');
      return p.command;
    }));
  const lead = (): void => deliver({ type: 'lease.raftState', term: 2, leader: 7n, role: 'leader', commit: 1, lastIndex: 1 });
  const follow = (): void => deliver({ type: 'lease.raftState', term: 3, leader: 9n, role: 'follower', commit: 1, lastIndex: 1 });
  const request = (requestId: number, op: 'renew' | 'timeToLive', id: bigint, minApplied: number): void =>
    deliver({ type: 'lease.request', requestId, op, id, minApplied });
  const advance = (ms: number): void => {
    const end = now + ms;
    while (now < end) {
      now = Math.min(end, now + 100);
      deliver({ type: 'lease.tick' });
    }
  };
  return { actor, deliver, answers, proposed, lead, follow, request, advance, sent, clear: () => { sent.length = 0; } };
}

t.test('a request waits until the lease actor has applied what the front had', (t) => {
  const h = harness();
  h.lead();
  h.request(1, 'renew', 5n, 0);
  t.equal(h.answers().size, 0, 'nothing is answered before the stored leases arrive');
  h.deliver({ type: 'lease.restored', appliedIndex: 3, leases: [] });
  t.same(h.answers().get(1), { ok: true, ttlSeconds: 0, grantedTtlSeconds: 0 }, 'unknown lease: TTL 0');
  h.request(2, 'timeToLive', 5n, 4);
  t.equal(h.answers().has(2), false, 'the grant at index 4 has not reached this actor yet');
  h.deliver({ type: 'lease.applied', appliedIndex: 4, ops: [{ type: 'grant', id: 5n, ttlSeconds: 10 }] });
  t.same(h.answers().get(2), { ok: true, ttlSeconds: 10, grantedTtlSeconds: 10 });
  h.request(3, 'timeToLive', 6n, 4);
  t.same(h.answers().get(3), { ok: true, ttlSeconds: -1, grantedTtlSeconds: 0 }, 'missing: TTL -1');
  for (let i = 0; i < 16; i++) h.request(100 + i, 'renew', 5n, 99);
  h.request(200, 'renew', 5n, 99);
  t.same(h.answers().get(200), { ok: false, code: 'ErrTooManyRequests' }, 'the wait is bounded');
  t.end();
});

t.test('only the leader renews; a new leader extends every lease before expiring any', (t) => {
  const h = harness();
  h.deliver({ type: 'lease.restored', appliedIndex: 1, leases: [{ id: 5n, ttlSeconds: 10, remainingTtlSeconds: 0 }] });
  h.request(1, 'renew', 5n, 0);
  t.same(h.answers().get(1), { ok: false, code: 'ErrNotPrimary' }, 'a follower cannot renew');
  h.lead();
  h.request(2, 'timeToLive', 5n, 0);
  t.same(h.answers().get(2), { ok: true, ttlSeconds: 11, grantedTtlSeconds: 10 }, 'TTL + extend');
  h.advance(10_900);
  t.same(h.proposed(), [], 'not expired before TTL + extend');
  h.advance(300);
  t.same(h.proposed(), [{ kind: 'leaseRevoke', id: 5n }], 'expired just after the deadline');
  h.clear();
  h.follow();
  h.advance(10_000);
  t.same(h.proposed(), [], 'a demoted member expires nothing');
  t.end();
});

t.test('a keepalive resets the deadline to the full TTL', (t) => {
  const h = harness();
  h.deliver({ type: 'lease.restored', appliedIndex: 0, leases: [] });
  h.lead();
  h.deliver({ type: 'lease.applied', appliedIndex: 1, ops: [{ type: 'grant', id: 8n, ttlSeconds: 3 }] });
  for (let i = 0; i < 5; i++) {
    h.advance(2_000);
    h.request(i, 'renew', 8n, 1);
    t.same(h.answers().get(i), { ok: true, ttlSeconds: 3, grantedTtlSeconds: 3 });
  }
  t.same(h.proposed(), [], 'renewed every 2 s, a 3 s lease never expires');
  h.advance(3_200);
  t.same(h.proposed(), [{ kind: 'leaseRevoke', id: 8n }]);
  h.deliver({ type: 'lease.applied', appliedIndex: 2, ops: [{ type: 'revoke', id: 8n }] });
  h.request(9, 'renew', 8n, 2);
  t.same(h.answers().get(9), { ok: true, ttlSeconds: 0, grantedTtlSeconds: 0 }, 'revoked: TTL 0');
  t.end();
});

t.test('mass expiry is proposed no faster than revokesPerSecondMax', (t) => {
  const h = harness({ lessor: { revokesPerSecondMax: 100 } });
  h.deliver({ type: 'lease.restored', appliedIndex: 0, leases: [] });
  h.lead();
  const ops = Array.from({ length: 450 }, (_, i) => ({ type: 'grant' as const, id: BigInt(i + 1), ttlSeconds: 2 }));
  h.deliver({ type: 'lease.applied', appliedIndex: 1, ops });
  h.advance(2_100);
  const first = h.proposed().length;
  t.ok(first >= 1 && first <= 100, `at most 100 in the first second: ${first}`);
  h.advance(1_000);
  t.ok(h.proposed().length <= 200, `at most 200 after two seconds: ${h.proposed().length}`);
  // Apply what was proposed, as apply would, so retries do not take the rate.
  const applied = new Set<bigint>();
  let index = 1;
  for (let second = 0; second < 8 && applied.size < 450; second++) {
    const fresh = h.proposed().flatMap((c) => (c.kind === 'leaseRevoke' && !applied.has(c.id) ? [c.id] : []));
    for (const id of fresh) applied.add(id);
    h.deliver({ type: 'lease.applied', appliedIndex: ++index, ops: fresh.map((id) => ({ type: 'revoke' as const, id })) });
    h.advance(1_000);
  }
  const revoked = applied;
  t.equal(revoked.size, 450, 'every lease is proposed for revocation in the end');
  t.end();
});

t.test('remaining TTLs are checkpointed in one entry', (t) => {
  const h = harness({ lessor: { checkpointIntervalMs: 1_000 } });
  h.deliver({ type: 'lease.restored', appliedIndex: 0, leases: [] });
  h.lead();
  h.deliver({ type: 'lease.applied', appliedIndex: 1, ops: [
    { type: 'grant', id: 1n, ttlSeconds: 60 }, { type: 'grant', id: 2n, ttlSeconds: 60 },
  ] });
  h.deliver({ type: 'lease.applied', appliedIndex: 2, ops: [
    { type: 'checkpoint', id: 1n, remainingTtlSeconds: 60 }, { type: 'checkpoint', id: 2n, remainingTtlSeconds: 60 },
  ] });
  h.advance(5_000);
  const checkpoints = h.proposed().filter((c) => c.kind === 'leaseCheckpoint');
  t.ok(checkpoints.length >= 1, 'checkpoints were proposed');
  const first = checkpoints[0];
  t.ok(first?.kind === 'leaseCheckpoint' && first.checkpoints.length === 2, 'both leases in one entry');
  if (first?.kind === 'leaseCheckpoint') {
    for (const cp of first.checkpoints) t.ok(cp.remainingTtlSeconds < 60 && cp.remainingTtlSeconds > 50);
  }
  t.end();
});
