/**
 * `npm run bench:raft`: committed entries per second and commit latency
 *  1. for a 3-member cluster on the pure simulation (no disk, zero network delay: the CPU cost of
 *     the Raft cores themselves), and
 *  2. for one member with its log as a member keeps it (a WAL record and an fdatasync per Ready
 *     that must be durable; LMDB committed every 100 ms, as in the `single` placement),
 * each with proposal batches of 1 and 64 entries (a closed loop: propose a batch, wait until it
 * is applied, repeat). Then the disk's raw fsync rate (4 KiB write + fdatasync) in the same
 * directory, so the durable figure can be read against what the disk allows.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SeededRng, memberId } from '../src/base/index.js';
import { RawNode, mustSync } from '../src/raft/index.js';
import type { HardState } from '../src/raft/index.js';
import { LmdbRaftStorage } from '../src/runtime/node/lmdb-raft-storage.js';
import { RaftCluster } from '../src/sim/raft-cluster.js';

const PAYLOAD = new Uint8Array(100).fill(7);
const SIM_SECONDS = 2;
const LMDB_SECONDS = 2.5;

interface Figures { entriesPerSecond: number; p50Ms: number; p99Ms: number; batches: number }

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
}

function simBench(batch: number): Figures {
  const c = new RaftCluster({
    seed: 1, members: 3, latencyMinMs: 0, latencyMaxMs: 0, persistMinMs: 0, persistMaxMs: 0,
    checkInvariants: false, maxEntriesPerMessage: 256, maxInflightMessages: 256, snapshotEvery: 10_000, compactKeep: 1000,
  });
  while (c.stableLeader() === null) c.runTicks(1);
  const leader = c.stableLeader()!;
  const lat: number[] = [];
  let entries = 0;
  const start = performance.now();
  while (performance.now() - start < SIM_SECONDS * 1000) {
    const t0 = performance.now();
    const target = leader.node!.raft.log.lastIndex() + batch;
    c.propose(leader.id, Array.from({ length: batch }, () => PAYLOAD));
    while (leader.sm.index < target) if (!c.step()) c.runTicks(1);
    lat.push(performance.now() - t0);
    entries += batch;
  }
  const secs = (performance.now() - start) / 1000;
  return { entriesPerSecond: entries / secs, p50Ms: percentile(lat, 0.5), p99Ms: percentile(lat, 0.99), batches: lat.length };
}

async function lmdbBench(dir: string, batch: number): Promise<Figures> {
  const storage = LmdbRaftStorage.open({ path: join(dir, `wal-${batch}`), bootstrap: { voters: [memberId(1n)], learners: [] }, deferLmdb: true });
  const node = new RawNode({ id: memberId(1n), storage, rng: new SeededRng(1) });
  let prevHard: HardState = storage.initialState().hardState;
  let applied = 0;
  const background: Promise<void>[] = [];
  async function handleReadies(): Promise<void> {
    while (node.hasReady()) {
      const rd = node.ready();
      const write = storage.persist({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState });
      // A Ready whose only change is the commit index needs no fsync before acting on it: the
      // entries it commits are durable already and the commit index is recomputable.
      if (mustSync(rd, prevHard)) await write;
      else background.push(write);
      if (rd.hardState !== null) prevHard = rd.hardState;
      const last = rd.committedEntries[rd.committedEntries.length - 1];
      if (last !== undefined) applied = last.index;
      node.advance(rd);
    }
  }
  node.campaign();
  await handleReadies();
  const lat: number[] = [];
  let entries = 0;
  const start = performance.now();
  while (performance.now() - start < LMDB_SECONDS * 1000) {
    const t0 = performance.now();
    const target = node.raft.log.lastIndex() + batch;
    const res = node.propose(Array.from({ length: batch }, () => PAYLOAD));
    if (!res.ok) throw new Error(res.why);
    while (applied < target) await handleReadies();
    lat.push(performance.now() - t0);
    entries += batch;
    if (background.length > 64) await Promise.all(background.splice(0));
  }
  const secs = (performance.now() - start) / 1000;
  await Promise.all(background);
  await storage.close();
  return { entriesPerSecond: entries / secs, p50Ms: percentile(lat, 0.5), p99Ms: percentile(lat, 0.99), batches: lat.length };
}

function rawFsyncRate(dir: string): number {
  const fd = openSync(join(dir, 'fsync-probe'), 'w');
  const block = new Uint8Array(4096).fill(1);
  const n = 300;
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    writeSync(fd, block, 0, block.length, (i % 16) * 4096);
    fdatasyncSync(fd);
  }
  const secs = (performance.now() - start) / 1000;
  closeSync(fd);
  return n / secs;
}

function row(name: string, f: Figures): string {
  return `${name.padEnd(44)} ${f.entriesPerSecond.toFixed(0).padStart(10)} entries/s   commit latency p50 ${f.p50Ms.toFixed(3)} ms  p99 ${f.p99Ms.toFixed(3)} ms  (${f.batches} batches)`;
}

const dir = mkdtempSync(join(tmpdir(), 'strata-bench-raft-'));
try {
  console.log('# raft benchmark: closed loop, 100-byte entries');
  for (const batch of [1, 64]) console.log(row(`3 members, simulation (no disk), batch ${batch}`, simBench(batch)));
  const lmdb: Figures[] = [];
  for (const batch of [1, 64]) {
    const f = await lmdbBench(dir, batch);
    lmdb.push(f);
    console.log(row(`1 member, WAL fsync + LMDB every 100 ms, batch ${batch}`, f));
  }
  const fsyncs = rawFsyncRate(dir);
  console.log(`raw disk: ${fsyncs.toFixed(0)} fsyncs/s (4 KiB write + fdatasync, same directory)`);
  const b1 = lmdb[0]!;
  console.log(`batch 1 commits ${(b1.entriesPerSecond / fsyncs).toFixed(2)} entries per raw fsync; `
    + `batch 64 commits ${(lmdb[1]!.entriesPerSecond / fsyncs).toFixed(1)} (group commit: one fsync per Ready)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
