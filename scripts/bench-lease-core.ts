/**
 * bench-lease-core: CPU cost of the pure lease core, no I/O, on a virtual clock.
 * - grant+revoke (schedule/cancel) and keepalive (reschedule) operations per second with 1,000
 *   and 100,000 live leases;
 * - the raw timing wheel's reschedule rate at 100,000 timers;
 * - wall time to expire 100,000 leases through the core (tick -> revoke command -> applied
 *   revoke), at etcd's revoke rate (100 s of virtual time) and unlimited.
 * Each figure is the median of 3 runs. Run: npm run bench:lease-core
 */
import { SimClock, leaseId } from '../src/base/index.js';
import type { LeaseId } from '../src/base/index.js';
import { Lessor, TimingWheel } from '../src/lease/index.js';
import type { LessorOptions } from '../src/lease/index.js';

const RUNS = 3;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timeMs(fn: () => void): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

/** A deterministic spread of TTLs (10 s to ~10 min) so deadlines fill many wheel slots. */
const ttlOf = (i: number): number => 10 + ((i * 7919) % 600);

function leaderWith(live: number, options: Partial<LessorOptions> = {}): {
  clock: SimClock; lessor: Lessor; ids: LeaseId[];
} {
  const clock = new SimClock(0);
  const lessor = new Lessor({ clock, minTtlSeconds: 2, ...options });
  lessor.promote(0);
  const ids: LeaseId[] = [];
  for (let i = 1; i <= live; i++) {
    const id = leaseId(BigInt(i));
    lessor.grant(id, ttlOf(i));
    ids.push(id);
  }
  return { clock, lessor, ids };
}

function keepalivesPerSecond(live: number, ops: number): number {
  const { clock, lessor, ids } = leaderWith(live);
  let x = 12345;
  const ms = timeMs(() => {
    for (let i = 0; i < ops; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const r = lessor.renew(ids[x % ids.length]!);
      if (!r.ok) throw new Error(`renew failed: ${r.code}`);
      if (i % 1_000 === 0) {
        clock.advance(1); // time passes, but never enough to expire a 10 s lease
        lessor.tick();
      }
    }
  });
  return ops / (ms / 1_000);
}

function grantRevokePerSecond(live: number, ops: number): number {
  const { lessor, ids } = leaderWith(live);
  let nextId = live + 1;
  let oldest = 0;
  const ms = timeMs(() => {
    for (let i = 0; i < ops; i++) {
      const id = leaseId(BigInt(nextId++));
      if (!lessor.grant(id, ttlOf(i)).ok) throw new Error('grant failed');
      if (!lessor.revoke(ids[oldest]!).ok) throw new Error('revoke failed');
      ids[oldest] = id;
      oldest = (oldest + 1) % ids.length;
    }
  });
  return ops / (ms / 1_000); // one op = one grant + one revoke at a steady live count
}

function wheelReschedulesPerSecond(timers: number, ops: number): number {
  const wheel = new TimingWheel<number>({ slotCount: 4096, tickMs: 100, startMs: 0, timersMax: timers });
  const handles = Array.from({ length: timers }, (_, i) => wheel.schedule(i, ttlOf(i) * 1_000));
  let x = 99;
  const ms = timeMs(() => {
    for (let i = 0; i < ops; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      wheel.reschedule(handles[x % timers]!, 10_000 + (x % 600_000));
    }
  });
  return ops / (ms / 1_000);
}

function expire(count: number, options: Partial<LessorOptions>): { wallMs: number; virtualMs: number } {
  const clock = new SimClock(0);
  const lessor = new Lessor({ clock, minTtlSeconds: 2, ...options });
  lessor.promote(0);
  for (let i = 1; i <= count; i++) lessor.grant(leaseId(BigInt(i)), 10 + (i % 5));
  clock.set(10_000);
  let revoked = 0;
  const wallMs = timeMs(() => {
    while (revoked < count) {
      for (const c of lessor.tick()) {
        if (c.type !== 'revoke') continue;
        if (!lessor.revoke(c.id).ok) throw new Error('revoke failed');
        revoked++;
      }
      clock.advance(lessor.options.tickMs);
    }
  });
  if (lessor.size !== 0) throw new Error('leases left');
  return { wallMs, virtualMs: clock.now() - 10_000 };
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

const lines: string[] = [];
const out = (s: string): void => {
  lines.push(s);
  process.stdout.write(`${s}\n`);
};

out('bench-lease-core (pure core, virtual clock; median of 3)');
for (const live of [1_000, 100_000]) {
  const ops = 200_000;
  const k = median(Array.from({ length: RUNS }, () => keepalivesPerSecond(live, ops)));
  const g = median(Array.from({ length: RUNS }, () => grantRevokePerSecond(live, ops)));
  out(`  ${fmt(live).padStart(7)} live leases: keepalive (reschedule) ${fmt(k)}/s, ` +
    `grant+revoke (schedule+cancel) ${fmt(g)}/s`);
}
const w = median(Array.from({ length: RUNS }, () => wheelReschedulesPerSecond(100_000, 1_000_000)));
out(`  raw timing wheel, 100,000 timers: reschedule ${fmt(w)}/s`);
const limited = Array.from({ length: RUNS }, () => expire(100_000, {}));
out(`  expire 100,000 leases at 1000 revokes/s: ${fmt(median(limited.map((r) => r.wallMs)))} ms ` +
  `of CPU over ${fmt(median(limited.map((r) => r.virtualMs)))} ms of virtual time`);
const unlimited = Array.from({ length: RUNS }, () =>
  expire(100_000, { revokesPerSecondMax: 1_000_000, revokesPerTickMax: 1_000_000 }));
out(`  expire 100,000 leases, rate unlimited: ${fmt(median(unlimited.map((r) => r.wallMs)))} ms ` +
  `(virtual ${fmt(median(unlimited.map((r) => r.virtualMs)))} ms)`);
