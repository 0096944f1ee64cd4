/**
 * src/lease lessor: one test per rule of etcd 3.4's lessor (server/lease/lessor.go) and of the
 * Lease section of spec/etcd-v3-api.md, on a SimClock. A small harness plays Raft: it applies
 * each committed entry (grant, revoke, checkpoint) to every member's lessor in the same order,
 * and the leader's `tick` output is proposed and "committed" at once unless a test holds it back.
 * Nothing here reads a real clock, so every timing assertion is exact.
 */
import t from 'tap';
import { AssertionError, SimClock, leaseId, utf8, toHex, fromUtf8 } from '../../src/base/index.js';
import type { LeaseId } from '../../src/base/index.js';
import {
  LEASE_TTL_MAX_SECONDS, Lessor, MemoryLeaseStore, minLeaseTtlSeconds, writeLeases,
} from '../../src/lease/index.js';
import type { LeaseCommand, LessorOptions } from '../../src/lease/index.js';

const id = (n: number | bigint): LeaseId => leaseId(BigInt(n));

function setup(options: Partial<LessorOptions> = {}): { clock: SimClock; lessor: Lessor } {
  const clock = new SimClock(0);
  const lessor = new Lessor({ clock, minTtlSeconds: 2, ...options });
  return { clock, lessor };
}

interface Emitted {
  readonly atMs: number;
  readonly command: LeaseCommand;
}

/**
 * Runs the leader `lessor` for `ms`, ticking every `stepMs`, and applies what it emits to every
 * member in `members` (the leader included) unless `commit` is false.
 */
function run(clock: SimClock, lessor: Lessor, ms: number, opts: {
  stepMs?: number; commit?: boolean; members?: Lessor[];
} = {}): Emitted[] {
  const stepMs = opts.stepMs ?? lessor.options.tickMs;
  const members = opts.members ?? [lessor];
  const out: Emitted[] = [];
  const end = clock.now() + ms;
  while (clock.now() < end) {
    // Ticks land on multiples of stepMs, as a periodic timer started at time 0 would.
    const next = (Math.floor(clock.now() / stepMs) + 1) * stepMs;
    clock.set(Math.min(next, end));
    for (const command of lessor.tick()) {
      out.push({ atMs: clock.now(), command });
      if (opts.commit === false) continue;
      for (const m of members) {
        if (command.type === 'revoke') m.revoke(command.id);
        else m.checkpoint(command.id, command.remainingTtlSeconds);
      }
    }
  }
  return out;
}

const revokes = (es: Emitted[]): Emitted[] => es.filter((e) => e.command.type === 'revoke');
const ids = (es: Emitted[]): bigint[] => es.map((e) => e.command.id);

t.test('the minimum TTL is ceil(1.5 x election timeout): 2 s with 10 ticks of 100 ms', async (t) => {
  t.equal(minLeaseTtlSeconds(10, 100), 2);
  t.equal(minLeaseTtlSeconds(10, 500), 8, '15 x 500 ms = 7.5 s, rounded up');
  t.equal(minLeaseTtlSeconds(5, 100), 1, 'integer division on ticks: 7 x 100 ms');
});

t.test('a TTL below the minimum, zero or negative is raised to the minimum', async (t) => {
  const { lessor } = setup({ minTtlSeconds: 5 });
  for (const [n, ttl] of [[1, 1], [2, 0], [3, -7], [4, 5], [5, 6]] as const) {
    const r = lessor.grant(id(n), ttl);
    t.ok(r.ok);
    if (r.ok) t.equal(r.ttlSeconds, Math.max(5, ttl), `requested ${ttl}`);
  }
  const neg = lessor.grant(id(6), -(1n << 62n));
  t.ok(neg.ok && neg.ttlSeconds === 5, 'a huge negative int64 is raised too');
});

t.test('a TTL of 9,000,000,000 s is granted and one second more is ErrLeaseTTLTooLarge', async (t) => {
  const { lessor } = setup();
  const max = lessor.grant(id(1), LEASE_TTL_MAX_SECONDS);
  t.ok(max.ok && max.ttlSeconds === 9_000_000_000);
  t.same(lessor.grant(id(2), LEASE_TTL_MAX_SECONDS + 1), { ok: false, code: 'ErrLeaseTTLTooLarge' });
  t.same(lessor.grant(id(3), 1n << 62n), { ok: false, code: 'ErrLeaseTTLTooLarge' }, 'bigint beyond 2^53');
  t.same(lessor.grant(id(1), LEASE_TTL_MAX_SECONDS + 1), { ok: false, code: 'ErrLeaseTTLTooLarge' },
    'the TTL is checked before existence, as in etcd');
  t.same(lessor.leases(), [id(1)]);
});

t.test('granting an id in use is ErrLeaseExist and leaves the lease as it was', async (t) => {
  const { lessor } = setup();
  lessor.grant(id(7), 10);
  t.same(lessor.grant(id(7), 99), { ok: false, code: 'ErrLeaseExist' });
  t.equal(lessor.lookup(id(7))?.ttlSeconds, 10);
});

t.test('granting id 0 at apply is ErrLeaseNotFound: the server picks ids before proposing', async (t) => {
  const { lessor } = setup();
  t.same(lessor.grant(id(0), 10), { ok: false, code: 'ErrLeaseNotFound' });
});

t.test('revoking, attaching to or detaching from an unknown lease is ErrLeaseNotFound', async (t) => {
  const { lessor } = setup();
  const notFound = { ok: false, code: 'ErrLeaseNotFound' };
  t.same(lessor.revoke(id(9)), notFound);
  t.same(lessor.attach(id(9), [utf8('a')]), notFound);
  t.same(lessor.detach(id(9), [utf8('a')]), notFound);
  t.same(lessor.checkpoint(id(9), 5), [], 'a checkpoint of a revoked lease is not an error');
});

t.test('revoke returns the attached keys in ascending byte order, to delete in one revision', async (t) => {
  const { lessor } = setup();
  lessor.grant(id(1), 10);
  const keys = ['b', 'a', '\u00ff', 'ab', ''].map(utf8);
  t.same(lessor.attach(id(1), keys), { ok: true });
  lessor.detach(id(1), [utf8('ab')]);
  t.equal(lessor.leaseOfKey(utf8('a')), id(1));
  t.equal(lessor.leaseOfKey(utf8('ab')), undefined, 'a detached key has no lease');
  const r = lessor.revoke(id(1));
  t.ok(r.ok);
  if (!r.ok) return;
  t.same(r.keys.map(toHex), ['', '61', '62', 'c3bf']);
  t.same(r.writes, [{ type: 'delete', id: id(1) }]);
  t.equal(lessor.leaseOfKey(utf8('a')), undefined, 'revoked keys have no lease');
  t.same(lessor.leases(), []);
});

t.test('a key is attached to at most one lease', async (t) => {
  const { lessor } = setup();
  lessor.grant(id(1), 10);
  lessor.grant(id(2), 10);
  lessor.attach(id(1), [utf8('k')]);
  lessor.attach(id(1), [utf8('k')]); // re-attaching to the same lease is idempotent
  t.throws(() => lessor.attach(id(2), [utf8('k')]), AssertionError, 'moving needs a detach first');
  lessor.detach(id(2), [utf8('k')]); // detaching from a lease the key is not on changes nothing
  t.equal(lessor.leaseOfKey(utf8('k')), id(1));
  lessor.detach(id(1), [utf8('k')]);
  lessor.attach(id(2), [utf8('k')]);
  t.same(lessor.lookup(id(1))?.keys, []);
  t.same(lessor.lookup(id(2))?.keys.map(fromUtf8), ['k']);
});

t.test('every replicated change returns the writes that persist it; restore rebuilds the table', async (t) => {
  const { lessor } = setup();
  const store = new MemoryLeaseStore();
  const g1 = lessor.grant(id(1), 10);
  const g2 = lessor.grant(id(2), 1);
  t.ok(g1.ok && g2.ok);
  if (!g1.ok || !g2.ok) return;
  writeLeases(store, g1.writes);
  writeLeases(store, g2.writes);
  writeLeases(store, lessor.checkpoint(id(1), 4));
  lessor.attach(id(1), [utf8('x')]);
  const r = lessor.revoke(id(2));
  if (r.ok) writeLeases(store, r.writes);
  t.same(store.load(), [{ id: id(1), ttlSeconds: 10, remainingTtlSeconds: 4 }]);

  const { lessor: restarted } = setup();
  restarted.restore(store.load());
  restarted.attach(id(1), [utf8('x')]); // the apply side re-attaches keys from their KeyValue.lease
  t.same(restarted.lookup(id(1)), lessor.lookup(id(1)));
  const { lessor: raised } = setup({ minTtlSeconds: 20 });
  raised.restore(store.load());
  t.equal(raised.lookup(id(1))?.ttlSeconds, 20, 'a restored TTL below the minimum is raised');
});

t.test('leases expire in deadline order, never before the deadline, at most one tick late', async (t) => {
  const { clock, lessor } = setup({ tickMs: 100 });
  lessor.promote(0);
  const ttls = [7, 3, 5, 3, 10, 4];
  ttls.forEach((ttl, i) => {
    clock.advance(30);
    lessor.grant(id(i + 1), ttl);
  });
  const deadlines = new Map(ttls.map((ttl, i) => [BigInt(i + 1), 30 * (i + 1) + ttl * 1000]));
  const emitted = revokes(run(clock, lessor, 12_000));
  t.equal(emitted.length, ttls.length, 'every lease expired exactly once');
  const order = [...deadlines.entries()].sort((a, b) => a[1] - b[1]).map(([k]) => k);
  t.same(ids(emitted), order);
  for (const e of emitted) {
    const d = deadlines.get(e.command.id)!;
    t.ok(e.atMs >= d && e.atMs - d < 100, `lease ${e.command.id}: deadline ${d}, revoked at ${e.atMs}`);
  }
  t.same(lessor.leases(), []);
});

t.test('a keepalive moves the deadline to now + TTL and answers the granted TTL', async (t) => {
  const { clock, lessor } = setup();
  lessor.promote(0);
  lessor.grant(id(1), 5);
  t.same(revokes(run(clock, lessor, 4_000)), []);
  t.same(lessor.renew(id(1)), { ok: true, ttlSeconds: 5, commands: [] });
  t.equal(lessor.expiryMs(id(1)), 9_000);
  t.same(revokes(run(clock, lessor, 4_900)), [], 'not expired at the old deadline');
  const late = revokes(run(clock, lessor, 200));
  t.same(ids(late), [1n]);
  t.equal(late[0]?.atMs, 9_000);
});

t.test('a keepalive of an unknown lease is ErrLeaseNotFound; of an expired one, ErrLeaseExpired', async (t) => {
  const { clock, lessor } = setup();
  lessor.promote(0);
  t.same(lessor.renew(id(4)), { ok: false, code: 'ErrLeaseNotFound' });
  lessor.grant(id(4), 2);
  clock.advance(2_000);
  t.same(lessor.renew(id(4)), { ok: false, code: 'ErrLeaseExpired' }, 'deadline reached, not yet ticked');
  const held = run(clock, lessor, 100, { commit: false });
  t.same(ids(held), [4n]);
  t.same(lessor.renew(id(4)), { ok: false, code: 'ErrLeaseExpired' }, 'revoke in flight');
  lessor.revoke(id(4));
  t.same(lessor.renew(id(4)), { ok: false, code: 'ErrLeaseNotFound' }, 'after the revoke applied');
});

t.test('a follower neither expires, renews nor answers TimeToLive: ErrNotPrimary', async (t) => {
  const { clock, lessor } = setup();
  lessor.grant(id(1), 2);
  t.same(run(clock, lessor, 60_000), []);
  t.same(lessor.renew(id(1)), { ok: false, code: 'ErrNotPrimary' });
  t.same(lessor.timeToLive(id(1), false), { ok: false, code: 'ErrNotPrimary' });
  t.same(lessor.leases(), [id(1)], 'leases are listed on any member');
});

t.test('revoking a lease cancels its expiry', async (t) => {
  const { clock, lessor } = setup();
  lessor.promote(0);
  lessor.grant(id(1), 3);
  lessor.grant(id(2), 3);
  clock.advance(1_000);
  lessor.revoke(id(1));
  t.same(ids(revokes(run(clock, lessor, 5_000))), [2n]);
});

t.test('an unapplied revoke is emitted again after the retry interval and not before', async (t) => {
  const { clock, lessor } = setup({ revokeRetryMs: 3_000 });
  lessor.promote(0);
  lessor.grant(id(1), 2);
  const lost = revokes(run(clock, lessor, 10_000, { commit: false }));
  t.same(lost.map((e) => e.atMs), [2_000, 5_000, 8_000]);
});

t.test('TimeToLive answers remaining whole seconds, granted TTL and keys; -1 is the caller\'s', async (t) => {
  const { clock, lessor } = setup();
  lessor.promote(0);
  lessor.grant(id(1), 10);
  lessor.attach(id(1), [utf8('z'), utf8('y')]);
  clock.advance(2_500);
  const r = lessor.timeToLive(id(1), true);
  t.ok(r.ok);
  if (r.ok) {
    t.equal(r.ttlSeconds, 7, '7.5 s remaining truncates to 7');
    t.equal(r.grantedTtlSeconds, 10);
    t.same(r.keys.map(fromUtf8), ['y', 'z']);
  }
  const noKeys = lessor.timeToLive(id(1), false);
  t.same(noKeys.ok && noKeys.keys, []);
  t.same(lessor.timeToLive(id(2), true), { ok: false, code: 'ErrLeaseNotFound' });
});

t.test('promotion gives every lease now + extend + TTL before any lease expires', async (t) => {
  const { clock, lessor } = setup();
  for (let i = 1; i <= 50; i++) lessor.grant(id(i), 2 + (i % 7));
  clock.advance(3_600_000); // an hour as a follower: every lease is long past its TTL
  lessor.promote(1_000);
  const now = clock.now();
  for (let i = 1; i <= 50; i++) t.equal(lessor.expiryMs(id(i)), now + 1_000 + (2 + (i % 7)) * 1_000);
  t.same(lessor.tick(), [], 'nothing expires at the moment of promotion');
  const emitted = revokes(run(clock, lessor, 2_999));
  t.same(emitted, [], 'nothing expires before extend + the shortest TTL');
  t.equal(revokes(run(clock, lessor, 10_000)).length, 50);
});

t.test('demotion stops expiry; a new promotion starts every deadline afresh', async (t) => {
  const { clock, lessor } = setup();
  lessor.promote(0);
  lessor.grant(id(1), 5);
  clock.advance(4_000);
  lessor.demote();
  t.same(run(clock, lessor, 20_000), [], 'a demoted member expires nothing');
  t.equal(lessor.expiryMs(id(1)), undefined);
  lessor.promote(1_000);
  t.equal(lessor.expiryMs(id(1)), clock.now() + 6_000);
  t.throws(() => lessor.promote(0), AssertionError, 'promote twice is a programmer error');
});

t.test('checkpoints carry the remaining TTL of long leases, so a new leader does not reset them', async (t) => {
  const opts = { checkpointIntervalMs: 300_000 };
  const clock = new SimClock(0);
  const a = new Lessor({ clock, minTtlSeconds: 2, ...opts });
  const b = new Lessor({ clock, minTtlSeconds: 2, ...opts });
  a.promote(1_000);
  for (const m of [a, b]) {
    m.grant(id(1), 3_600);
    m.grant(id(2), 200); // not longer than the interval: never checkpointed
  }
  const emitted = run(clock, a, 300_000, { members: [a, b] });
  t.same(emitted.map((e) => e.command), [
    { type: 'revoke', id: id(2) },
    { type: 'checkpoint', id: id(1), remainingTtlSeconds: 3_300 },
  ], 'the short lease expired uncheckpointed; the long one was checkpointed at the interval');
  t.equal(b.lookup(id(1))?.remainingTtlSeconds, 3_300, 'the follower applied the checkpoint');
  const again = run(clock, a, 300_000, { members: [a, b] });
  t.same(again.filter((e) => e.command.type === 'checkpoint').map((e) => e.command),
    [{ type: 'checkpoint', id: id(1), remainingTtlSeconds: 3_000 }], 'every interval');
  // The leader fails; b takes over 10 s later.
  clock.advance(10_000);
  b.promote(1_000);
  t.equal(b.expiryMs(id(1)), clock.now() + 1_000 + 3_000_000, 'extend + checkpointed remainder');
});

t.test('a keepalive after a checkpoint proposes clearing the remaining TTL', async (t) => {
  const { clock, lessor } = setup({ checkpointIntervalMs: 60_000 });
  lessor.promote(0);
  lessor.grant(id(1), 600);
  run(clock, lessor, 60_000);
  t.equal(lessor.lookup(id(1))?.remainingTtlSeconds, 540);
  const r = lessor.renew(id(1));
  t.same(r, {
    ok: true, ttlSeconds: 600, commands: [{ type: 'checkpoint', id: id(1), remainingTtlSeconds: 0 }],
  });
  t.equal(lessor.expiryMs(id(1)), clock.now() + 600_000, 'renewal counts the full TTL');
  const renewedAgain = lessor.renew(id(1));
  t.ok(renewedAgain.ok);
});

t.test('a lease renewed right before its checkpoint is checkpointed at the next interval', async (t) => {
  const { clock, lessor } = setup({ checkpointIntervalMs: 60_000 });
  lessor.promote(0);
  lessor.grant(id(1), 600);
  clock.advance(59_500);
  lessor.renew(id(1));
  const first = run(clock, lessor, 1_000);
  t.same(first, [], 'remaining rounds up to the full TTL: nothing to record');
  const next = run(clock, lessor, 60_000);
  t.same(next.map((e) => e.command), [{ type: 'checkpoint', id: id(1), remainingTtlSeconds: 540 }]);
});

t.test('revokes stay within revokesPerSecondMax in any second and revokesPerTickMax per tick', async (t) => {
  const { clock, lessor } = setup({ revokesPerSecondMax: 1_000, tickMs: 100 });
  lessor.promote(0);
  const n = 5_000;
  for (let i = 1; i <= n; i++) {
    if (i % 100 === 0) clock.advance(1); // 50 distinct deadlines, 100 leases each
    lessor.grant(id(i), 10);
  }
  const emitted = revokes(run(clock, lessor, 20_000));
  t.equal(emitted.length, n, 'all of them eventually');
  t.same(ids(emitted), [...Array(n).keys()].map((i) => BigInt(i + 1)), 'in deadline order, then id');
  const times = emitted.map((e) => e.atMs);
  let worstWindow = 0;
  for (let i = 0, j = 0; i < times.length; i++) {
    while (times[j]! <= times[i]! - 1_000) j++;
    worstWindow = Math.max(worstWindow, i - j + 1);
  }
  t.equal(worstWindow, 1_000, 'the busiest second holds exactly the limit');
  const perTick = new Map<number, number>();
  for (const at of times) perTick.set(at, (perTick.get(at) ?? 0) + 1);
  t.equal(Math.max(...perTick.values()), 500, 'no tick emits more than half the rate');
  t.ok(times.at(-1)! - times[0]! >= 4_000, 'five thousand take at least four more seconds');
});

t.test('promotion spreads a pile-up so at most 3/4 of the revoke rate come due per second', async (t) => {
  const { clock, lessor } = setup({ revokesPerSecondMax: 100 });
  const n = 400;
  for (let i = 1; i <= n; i++) lessor.grant(id(i), 10);
  lessor.promote(1_000);
  const now = clock.now();
  const expiries = [...Array(n).keys()].map((i) => lessor.expiryMs(id(i + 1))!);
  for (const e of expiries) t.ok(e >= now + 11_000 || t.fail('moved earlier'));
  const sorted = [...expiries].sort((a, b) => a - b);
  let worst = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (sorted[j]! < sorted[i]! - 1_000) j++;
    worst = Math.max(worst, i - j + 1);
  }
  t.ok(worst <= 76, `at most 3/4 x 100 (+1 at a window edge) due in any second: ${worst}`);
  t.ok(sorted.at(-1)! - sorted[0]! >= 4_000, 'the 400 are spread over several seconds');
});

t.test('thousands of leases with mixed TTLs and renewals all expire exactly once, on time', async (t) => {
  const { clock, lessor } = setup({ revokesPerSecondMax: 1_000_000, revokesPerTickMax: 100_000 });
  lessor.promote(0);
  const n = 20_000;
  const deadline = new Map<bigint, number>();
  for (let i = 1; i <= n; i++) {
    const ttl = 2 + ((i * 7919) % 900); // up to 15 min: many wheel rotations
    lessor.grant(id(i), ttl);
    deadline.set(BigInt(i), ttl * 1_000);
  }
  clock.advance(1_000);
  for (let i = 1; i <= n; i += 3) {
    const r = lessor.renew(id(i));
    if (r.ok) deadline.set(BigInt(i), 1_000 + r.ttlSeconds * 1_000);
  }
  const emitted = revokes(run(clock, lessor, 1_000_000));
  t.equal(emitted.length, n);
  t.equal(new Set(ids(emitted)).size, n, 'no lease revoked twice');
  let early = 0;
  let late = 0;
  for (const e of emitted) {
    const d = deadline.get(e.command.id)!;
    if (e.atMs < d) early++;
    if (e.atMs - d >= 100) late++;
  }
  t.equal(early, 0, 'none early');
  t.equal(late, 0, 'none more than one tick late');
});
