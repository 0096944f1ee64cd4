/**
 * bench-watch-core: what matching a committed event costs in the pure watch core as the number of
 * watchers grows (1, 1,000, 10,000, 100,000; half exact keys, half prefixes, each watching its
 * own key or namespace, so an event matches about one prefix watcher and sometimes one exact
 * watcher whatever the total). Three figures per size:
 * - index: KeyMatchIndex.match alone, ns per event;
 * - hub: WatchHub.onCommitted of one-event batches plus drain and acknowledge of every ready
 *   stream (the whole core path), events/s and delivered events/s;
 * - scan: the same matching by a linear scan over every watcher's range, for contrast.
 * Times are this process's CPU time, not wall time; each figure is the median of 5 timed runs. Run: npm run bench:watch-core. Figures depend on
 * machine load; compare sizes, not runs.
 */
import { SeededRng, prefixEnd, utf8 } from '../src/base/index.js';
import {
  KeyMatchIndex, MemoryHistory, WatchHub, normalizeRange, rangeContains, shapeOf,
} from '../src/watch/index.js';
import type { CommittedBatch, KeyRange, WatchEvent } from '../src/watch/index.js';

const SIZES = [1, 1_000, 10_000, 100_000];
const WATCHERS_PER_STREAM = 1_000;
const INDEX_EVENTS = 200_000;
const HUB_EVENTS = 100_000;
const SCAN_EVENTS_BUDGET = 20_000_000; // range checks per size for the linear scan

/**
 * CPU time of this process in ms (user + system). On a shared, loaded machine wall time mostly
 * measures the other processes; CPU time measures this one.
 */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Each figure is the median of this many timed runs (the machine is shared and noisy). */
const RUNS = 5;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const ns = (i: number): string => `/registry/pods/ns-${String(i).padStart(6, '0')}/`;

function watcherRange(i: number): KeyRange {
  const n = Math.floor(i / 2);
  if (i % 2 === 0) return normalizeRange(utf8(`${ns(n)}pod-0`), undefined);
  const prefix = utf8(ns(n));
  return normalizeRange(prefix, prefixEnd(prefix));
}

function eventKeys(watchers: number, count: number): Uint8Array[] {
  const rng = new SeededRng(watchers);
  const namespaces = Math.max(1, Math.ceil(watchers / 2));
  const keys: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    keys.push(utf8(`${ns(rng.int(0, namespaces - 1))}pod-${rng.int(0, 3)}`));
  }
  return keys;
}

function benchIndex(watchers: number): { nsPerEvent: number; matchesPerEvent: number } {
  const index = new KeyMatchIndex<number>();
  for (let i = 0; i < watchers; i++) index.add(shapeOf(watcherRange(i)), i);
  const keys = eventKeys(watchers, INDEX_EVENTS);
  let matches = 0;
  const visit = (): void => {
    matches++;
  };
  for (let i = 0; i < 20_000; i++) index.match(keys[i]!, visit); // warm up
  const runs: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    matches = 0;
    const t0 = cpuMs();
    for (const key of keys) index.match(key, visit);
    runs.push(((cpuMs() - t0) * 1e6) / keys.length);
  }
  return { nsPerEvent: median(runs), matchesPerEvent: matches / keys.length };
}

function benchScan(watchers: number): number {
  const ranges = Array.from({ length: watchers }, (_, i) => watcherRange(i));
  const events = Math.max(10, Math.min(20_000, Math.floor(SCAN_EVENTS_BUDGET / watchers)));
  const keys = eventKeys(watchers, events);
  let matches = 0;
  const t0 = cpuMs();
  for (const key of keys) for (const r of ranges) if (rangeContains(r, key)) matches++;
  const ms = cpuMs() - t0;
  if (matches < 0) throw new Error('unreachable');
  return (ms * 1e6) / keys.length;
}

function benchHub(watchers: number): { eventsPerSec: number; deliveredPerSec: number } {
  const history = new MemoryHistory(0);
  const hub = new WatchHub({ history, currentRevision: 0, progressIntervalTicks: 6_000 });
  const streams = Math.max(1, Math.ceil(watchers / WATCHERS_PER_STREAM));
  for (let s = 0; s < streams; s++) hub.openStream(s);
  for (let i = 0; i < watchers; i++) {
    const r = watcherRange(i);
    hub.createWatch(Math.floor(i / WATCHERS_PER_STREAM), { key: r.key, rangeEnd: r.rangeEnd });
  }
  for (let s = 0; s < streams; s++) hub.acknowledge(s, hub.drain(s).length);
  const keys = eventKeys(watchers, HUB_EVENTS);
  const value = new Uint8Array(256);
  let delivered = 0;
  const chunk = keys.length / RUNS;
  const rates: number[] = [];
  const deliveredRates: number[] = [];
  let t0 = cpuMs();
  for (let i = 0; i < keys.length; i++) {
    const revision = i + 1;
    const event: WatchEvent = {
      type: 'PUT',
      kv: { key: keys[i]!, value, createRevision: revision, modRevision: revision, version: 1,
        lease: 0n },
    };
    const batch: CommittedBatch = { revision, events: [event] };
    history.append(batch);
    hub.onCommitted(batch);
    // History lives on disk in production; keep the in-memory model's heap from growing.
    if (revision % 10_000 === 0) history.compact(revision - 1_000);
    for (const s of hub.readyStreams()) {
      const out = hub.drain(s);
      for (const r of out) delivered += r.events.length;
      hub.acknowledge(s, out.length);
    }
    if ((i + 1) % chunk === 0) {
      const sec = (cpuMs() - t0) / 1000;
      rates.push(chunk / sec);
      deliveredRates.push(delivered / sec);
      delivered = 0;
      t0 = cpuMs();
    }
  }
  return { eventsPerSec: median(rates), deliveredPerSec: median(deliveredRates) };
}

const rows: string[][] = [['watchers', 'index ns/event', 'matches/event', 'hub events/s',
  'hub delivered/s', 'scan ns/event']];
console.log('CPU-time figures (events per CPU-second), median of 5 runs');
for (const n of SIZES) {
  const idx = benchIndex(n);
  const hub = benchHub(n);
  const scan = benchScan(n);
  rows.push([n.toLocaleString('en-US'), idx.nsPerEvent.toFixed(0), idx.matchesPerEvent.toFixed(2),
    Math.round(hub.eventsPerSec).toLocaleString('en-US'),
    Math.round(hub.deliveredPerSec).toLocaleString('en-US'), scan.toFixed(0)]);
}
const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((cell, c) => cell.padStart(widths[c]!)).join('  '));
