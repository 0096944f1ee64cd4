/**
 * src/lease lessor against a deliberately simple model: a list of live leases with deadlines,
 * checked by scanning. fast-check drives random grants, keepalives, revokes, leader changes and
 * the passage of time (ticks on every tick boundary and at odd times between them, revoke rate
 * unlimited so lateness is the wheel's alone). After every tick the lessor must have emitted
 * revokes for exactly the leases whose first tick boundary at or after the deadline has been
 * reached (never early, never missed, none twice, less than one tick late), in (deadline, id)
 * order; every keepalive must agree with the model; and a demoted
 * member must emit nothing.
 */
import t from 'tap';
import fc from 'fast-check';
import { SimClock, leaseId } from '../../src/base/index.js';
import type { LeaseId } from '../../src/base/index.js';
import { Lessor } from '../../src/lease/index.js';

type Op =
  | { op: 'grant'; ttlSeconds: number }
  | { op: 'renew'; pick: number }
  | { op: 'revoke'; pick: number }
  | { op: 'advance'; ms: number }
  | { op: 'leadership' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('grant' as const), ttlSeconds: fc.integer({ min: -1, max: 40 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('renew' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('revoke' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 8_000 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 150 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('leadership' as const) }) },
);

const TICK_MS = 100;
const MIN_TTL = 2;
const EXTEND_MS = 1_000;

t.test('the lessor expires exactly the leases a scanning model says are due, in deadline order', async (t) => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 150 }), fc.integer({ min: 2, max: 64 }), (ops, slotCount) => {
    const clock = new SimClock(0);
    const lessor = new Lessor({
      clock, minTtlSeconds: MIN_TTL, tickMs: TICK_MS, slotCount,
      revokesPerSecondMax: 1_000_000, revokesPerTickMax: 1_000_000, checkpointIntervalMs: 0,
    });
    lessor.promote(0);
    let leader = true;
    const ttl = new Map<LeaseId, number>();
    const deadline = new Map<LeaseId, number>(); // model; meaningful while leading
    let next = 1;
    const pick = (n: number): LeaseId | undefined => {
      const ids = [...ttl.keys()];
      return ids.length === 0 ? undefined : ids[n % ids.length];
    };
    const fail = (why: string): boolean => {
      throw new Error(`${why} at ${clock.now()} ms`);
    };

    const tickTo = (target: number): void => {
      while (clock.now() < target) {
        clock.set(Math.min(target, (Math.floor(clock.now() / TICK_MS) + 1) * TICK_MS));
        const now = clock.now();
        const commands = lessor.tick();
        // Due: the first tick boundary at or after the deadline has been reached.
        const expected = leader
          ? [...deadline.entries()].filter(([, d]) => Math.ceil(d / TICK_MS) <= Math.floor(now / TICK_MS))
            .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).map(([id]) => id)
          : [];
        const got = commands.map((c) => {
          if (c.type !== 'revoke') return fail('a checkpoint with checkpointing off');
          return c.id;
        });
        if (JSON.stringify(got.map(String)) !== JSON.stringify(expected.map(String))) {
          fail(`revoked ${got.join(',')} but model says ${expected.join(',')}`);
        }
        for (const id of expected) {
          const d = deadline.get(id)!;
          if (d > now) fail(`lease ${id} early`);
          if (now - d >= TICK_MS && now % TICK_MS === 0) fail(`lease ${id} late`);
          const r = lessor.revoke(id); // committed at once
          if (!r.ok) fail(`revoke of ${id} failed`);
          ttl.delete(id);
          deadline.delete(id);
        }
      }
    };

    for (const o of ops) {
      const now = clock.now();
      if (o.op === 'grant') {
        const id = leaseId(BigInt(next++));
        const r = lessor.grant(id, o.ttlSeconds);
        if (!r.ok || r.ttlSeconds !== Math.max(MIN_TTL, o.ttlSeconds)) fail('grant');
        ttl.set(id, Math.max(MIN_TTL, o.ttlSeconds));
        if (leader) deadline.set(id, now + ttl.get(id)! * 1_000);
      } else if (o.op === 'renew') {
        const id = pick(o.pick);
        if (id === undefined) continue;
        const r = lessor.renew(id);
        if (!leader) {
          if (r.ok || r.code !== 'ErrNotPrimary') fail('a follower renewed');
        } else if (deadline.get(id)! <= now) {
          if (r.ok || r.code !== 'ErrLeaseExpired') fail(`renewed expired lease ${id}`);
        } else {
          if (!r.ok || r.ttlSeconds !== ttl.get(id)) fail(`renew of ${id} refused`);
          deadline.set(id, now + ttl.get(id)! * 1_000);
        }
      } else if (o.op === 'revoke') {
        const id = pick(o.pick);
        if (id === undefined) continue;
        if (!lessor.revoke(id).ok) fail('revoke');
        ttl.delete(id);
        deadline.delete(id);
      } else if (o.op === 'advance') {
        tickTo(now + o.ms);
      } else if (leader) {
        lessor.demote();
        leader = false;
        deadline.clear();
      } else {
        lessor.promote(EXTEND_MS);
        leader = true;
        for (const [id, s] of ttl) deadline.set(id, now + EXTEND_MS + s * 1_000);
      }
      if (lessor.size !== ttl.size) fail('lease count diverged');
    }
    tickTo(clock.now() + 50_000);
    if (leader && lessor.size !== 0) fail('leases left after every deadline passed');
    return true;
  }), {
    numRuns: 300,
    // A grant between ticks whose deadline falls between the last tick and a later one.
    examples: [[[{ op: 'advance', ms: 50 }, { op: 'grant', ttlSeconds: 0 }, { op: 'advance', ms: 2_010 }], 8]],
  });
  t.pass('property held');
});
