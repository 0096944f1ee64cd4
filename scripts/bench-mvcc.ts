/**
 * bench:mvcc — the MVCC store alone on LMDB (default durable env, group commit):
 * put/s with 1 and 64 keys per write transaction (writes pipelined, as the apply loop does),
 * put/s on ONE key in write transactions of 64 puts (etcd's benchmark default: every put on the
 * same key; the cost of a put must not grow with the key's history),
 * single-key range/s, 1,000-key prefix range/s, txn/s, the time to build the in-memory key index
 * from the records (what a restart pays), compaction time and db size.
 * Usage: node dist/scripts/bench-mvcc.js [--keys 100000] [--same-key-puts 20000] [--keep]
 *
 * Each figure is printed twice: per wall-clock second, and per CPU-second of this process (all
 * threads, lmdb's write thread included). On a shared, loaded machine the second is the stable one.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prefixEnd, utf8 } from '../src/base/index.js';
import { MVCC_TABLES, MvccStore } from '../src/mvcc/index.js';
import { dropKeyIndex } from '../src/mvcc/key-index.js';
import { LmdbBackend } from '../src/runtime/node/lmdb-backend.js';

const args = process.argv.slice(2);
const flag = (name: string, dflt: number): number => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const keys = flag('keys', 100_000);
const sameKeyPuts = flag('same-key-puts', 20_000);
const inFlightMax = 64;
const value = new Uint8Array(256).fill(7);
/** Keys are made before the clock starts: the figures are the store's, not the key encoder's. */
const keyList: Uint8Array[] = Array.from({ length: Math.max(keys, 10_000) },
  (_, i) => utf8(`/registry/pods/${String(i).padStart(8, '0')}`));
const keyOf = (i: number): Uint8Array => keyList[i]!;
const fmt = (x: number): string => Math.round(x).toLocaleString('en');
let cpuMark = process.cpuUsage();
const cpuStart = (): void => {
  cpuMark = process.cpuUsage();
};
/** `n` ops took `ms` of wall time; also reports them per CPU-second used since cpuStart(). */
const rate = (n: number, ms: number): string => {
  const cpu = process.cpuUsage(cpuMark);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return `${fmt((n / ms) * 1000)}/s wall, ${fmt((n / cpuMs) * 1000)}/CPU-s`;
};

async function pipelined(total: number, issue: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  const inflight = new Set<Promise<unknown>>();
  for (let i = 0; i < total; i++) {
    const p: Promise<unknown> = issue(i).then(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= inFlightMax) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const path = mkdtempSync(join(tmpdir(), 'strata-bench-mvcc-'));
  const backend = LmdbBackend.open({ path: join(path, 'mvcc'), tables: MVCC_TABLES });
  const store = new MvccStore(backend);
  console.log(`bench:mvcc keys=${keys} value=256B env=${path} (durable, overlappingSync)`);

  // A yardstick for this machine's current speed: raw lmdb-js reads of 256-byte values.
  const raw = LmdbBackend.open({ path: join(path, 'raw'), tables: ['t'], noSync: true });
  await raw.write((w) => {
    for (let i = 0; i < 10_000; i++) w.put('t', keyOf(i), value);
  });
  cpuStart();
  const t1 = performance.now();
  raw.read((r) => {
    for (let i = 0; i < 200_000; i++) r.get('t', keyOf((i * 7919) % 10_000));
  });
  const rawRate = rate(200_000, performance.now() - t1);
  console.log(`yardstick, raw LMDB get (256 B, no decode): ${rawRate}`);
  await raw.close();

  const batch64 = Math.ceil(keys / 64);
  cpuStart();
  let ms = await pipelined(batch64, (b) => store.write((w) => {
    for (let j = b * 64; j < Math.min(keys, (b + 1) * 64); j++) w.put({ key: keyOf(j), value });
  }));
  console.log(`put, 64 keys/write txn:   ${rate(keys, ms)} keys `);

  const singles = Math.min(keys, 20_000);
  cpuStart();
  ms = await pipelined(singles, (i) => store.write((w) => w.put({ key: keyOf(i), value })));
  console.log(`put, 1 key/write txn:     ${rate(singles, ms)} keys`);

  // One hot key, as etcd's `benchmark put` defaults do: first and last quarter reported apart.
  const hot = utf8('/registry/leases/kube-node-lease/hot');
  const sameKeyBatches = Math.ceil(sameKeyPuts / 64);
  const quarter = Math.max(1, Math.floor(sameKeyBatches / 4));
  const putHot = (b: number) => store.write((w) => {
    for (let j = b * 64; j < Math.min(sameKeyPuts, (b + 1) * 64); j++) w.put({ key: hot, value });
  });
  cpuStart();
  const msAll0 = performance.now();
  ms = await pipelined(quarter, putHot);
  console.log(`put, same key, batches of 64, puts 1..${fmt(quarter * 64)}: ${rate(quarter * 64, ms)}`);
  ms = await pipelined(sameKeyBatches - 2 * quarter, (b) => putHot(b + quarter));
  cpuStart();
  const last = sameKeyPuts - (sameKeyBatches - quarter) * 64;
  ms = await pipelined(quarter, (b) => putHot(b + sameKeyBatches - quarter));
  console.log(`put, same key, batches of 64, last ${fmt(last)} puts: ${rate(last, ms)}`
    + ` (all ${fmt(sameKeyPuts)} in ${fmt(performance.now() - msAll0)} ms)`);

  const reads = 200_000;
  cpuStart();
  let t0 = performance.now();
  let found = 0;
  for (let i = 0; i < reads; i++) {
    const r = store.range({ key: keyOf((i * 7919) % keys) });
    if (r.ok && r.kvs.length === 1) found++;
  }
  ms = performance.now() - t0;
  if (found !== reads) throw new Error(`single-key range missed ${reads - found}`);
  console.log(`range, single key:        ${rate(reads, ms)}`);

  const prefixes = Math.floor(keys / 1000);
  const scans = 200;
  cpuStart();
  t0 = performance.now();
  for (let i = 0; i < scans; i++) {
    const p = utf8(`/registry/pods/${String(i % prefixes).padStart(5, '0')}`);
    const r = store.range({ key: p, rangeEnd: prefixEnd(p) });
    if (!r.ok || r.kvs.length !== 1000) throw new Error('prefix range size');
  }
  ms = performance.now() - t0;
  console.log(`range, 1,000-key prefix:  ${rate(scans, ms)}`);

  const txns = 20_000;
  cpuStart();
  ms = await pipelined(txns, (i) => store.write((w) => w.txn({
    compare: [{ key: keyOf(i % keys), target: 'VERSION', result: 'GREATER', version: 0 }],
    success: [{ requestPut: { key: keyOf(i % keys), value } },
      { requestRange: { key: keyOf((i + 1) % keys) } }],
    failure: [],
  })));
  console.log(`txn (compare + put + range): ${rate(txns, ms)}`);

  // What a restart pays: the key index built from every revision record.
  const built = store.state();
  dropKeyIndex(backend);
  cpuStart();
  t0 = performance.now();
  store.state();
  ms = performance.now() - t0;
  console.log(`key index built from ${fmt(built.current - 1)} revision records (a restart): `
    + `${ms.toFixed(0)} ms wall, ${fmt(process.memoryUsage().heapUsed / 1048576)} MiB of heap in use`);

  const before = statSync(join(path, 'mvcc', 'data.mdb')).size;
  const state = store.state();
  cpuStart();
  t0 = performance.now();
  await store.write((w) => w.compact({ revision: state.current }));
  let slices = 0;
  let more = true;
  while (more) {
    more = (await store.write((w) => w.compactSlice())).result;
    slices++;
  }
  ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpuMark);
  console.log(`compaction of ${state.current - 1} revisions: ${ms.toFixed(0)} ms wall`
    + ` (${((cpu.user + cpu.system) / 1000).toFixed(0)} ms CPU)`
    + ` in ${slices} slices`
    + ` (${(ms / slices).toFixed(2)} ms per slice of ${store.limits.compactionSliceRevisions} revisions)`);
  console.log(`db size: ${(before / 1048576).toFixed(1)} MiB before compaction, `
    + `${(statSync(join(path, 'mvcc', 'data.mdb')).size / 1048576).toFixed(1)} MiB after`
    + ' (LMDB reuses freed pages, the file never shrinks)');
  await backend.close();
  if (!args.includes('--keep')) rmSync(path, { recursive: true, force: true });
}

await main();
