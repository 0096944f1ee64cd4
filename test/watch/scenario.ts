/**
 * The seeded scenario driver of watch-guarantees.test.ts (kept apart so a failing seed can be
 * replayed from a script): random writes, creates, cancels, progress requests, ticks, partial
 * drains with late acknowledgements, compactions, resumes and stream closes against tiny limits.
 */
import { type Rng, SeededRng, ZERO_BYTE, assert, prefixEnd } from '../../src/base/index.js';
import type { WatchCreateRequest, WatchFilter } from '../../src/watch/index.js';
import { Harness, type Op } from './harness.js';

const KEYS = ['a', 'ab', 'abc', 'b', 'ba', 'c', '\xff', '\xff\xff', '\x00'].map((s) =>
  Uint8Array.from(s, (c) => c.charCodeAt(0)));
const TXN_OPS_MAX = 4;
export const LIMITS = {
  streamBufferedEventsMax: 6, streamBufferedBytesMax: 2_000, catchUpEventsMax: 3,
  catchUpRevisionsMax: 4, catchUpBytesMax: 400, catchUpReadsPerPassMax: 3, fragmentBytesMin: 260,
  streamControlResponsesMax: 12,
};

function randomRange(rng: Rng): { key: Uint8Array; rangeEnd?: Uint8Array } {
  const key = rng.chance(0.1) ? new Uint8Array(0) : rng.pick(KEYS);
  switch (rng.int(0, 3)) {
    case 0: return { key };
    case 1: return { key, rangeEnd: prefixEnd(key.length === 0 ? ZERO_BYTE : key) };
    case 2: return { key, rangeEnd: ZERO_BYTE };
    default: return { key, rangeEnd: rng.pick(KEYS) }; // sometimes empty: a create failure
  }
}

function randomCreate(rng: Rng, current: number): WatchCreateRequest {
  const filters: WatchFilter[] = [];
  if (rng.chance(0.15)) filters.push('NOPUT');
  if (rng.chance(0.15)) filters.push('NODELETE');
  const start = rng.chance(0.4) ? 0 : rng.int(rng.chance(0.05) ? -1 : 1, current + 3);
  const endRevision = rng.chance(0.15) ? rng.int(1, current + 15) : 0;
  const extra = rng.chance(0.15) ? [randomRange(rng), randomRange(rng)] : [];
  return {
    ...randomRange(rng), startRevision: start, filters, prevKv: rng.chance(0.5),
    progressNotify: rng.chance(0.5), fragment: rng.chance(0.3), endRevision,
    watchId: rng.chance(0.2) ? rng.int(1, 6) : 0,
    ...(extra.length > 0 ? { extraRanges: extra } : {}),
  };
}

function randomTxn(rng: Rng): Op[] {
  const n = rng.int(1, TXN_OPS_MAX);
  const ops: Op[] = [];
  const used = new Set<number>();
  for (let i = 0; i < n; i++) {
    const ki = rng.int(0, KEYS.length - 1);
    if (used.has(ki)) continue;
    used.add(ki);
    const value = 'v'.repeat(rng.chance(0.2) ? 120 : rng.int(0, 8));
    ops.push(rng.chance(0.25) ? { del: KEYS[ki]! } : { put: KEYS[ki]!, value, lease: 0n });
  }
  return ops;
}

/** What a run exercised, so a test can show the scenarios reach every path. */
export interface Tally {
  fellBehind: number; compacted: number; ended: number; failed: number; closed: number;
  fragments: number; progress: number; resumed: number; events: number;
}

export const tally: Tally = {
  fellBehind: 0, compacted: 0, ended: 0, failed: 0, closed: 0, fragments: 0, progress: 0,
  resumed: 0, events: 0,
};

function count(h: Harness): void {
  tally.fellBehind += h.hub.stats().fellBehind;
  tally.resumed += h.resumed.length;
  for (const w of h.recorder.watches) {
    if (w.end === 'compacted') tally.compacted++;
    if (w.end === 'ended') tally.ended++;
    if (w.end === 'failed') tally.failed++;
    if (w.end === 'closed') tally.closed++;
    for (const r of w.responses) {
      if (r.fragment) tally.fragments++;
      if (r.events.length === 0 && !r.canceled) tally.progress++;
      tally.events += r.events.length;
    }
  }
}

/**
 * Runs one seeded scenario; returns the violations (empty when every guarantee held) and adds
 * what it exercised to `tally`.
 */
export function runScenario(seed: number, steps: number, debug?: (h: Harness) => void): string[] {
  const rng = new SeededRng(seed);
  const h = new Harness({ limits: LIMITS, progressIntervalTicks: rng.int(1, 4) });
  let nextStream = 1;
  const streams: number[] = [];
  const openStream = (): void => {
    h.open(nextStream);
    streams.push(nextStream++);
  };
  openStream();
  openStream();
  for (let step = 0; step < steps; step++) {
    const s = rng.pick(streams);
    const roll = rng.int(0, 99);
    if (roll < 35) h.commit(randomTxn(rng));
    else if (roll < 47) h.create(s, randomCreate(rng, h.store.revision));
    else if (roll < 52) {
      const open = h.recorder.watches.filter((w) => w.streamId === s && w.end === 'open'
        && w.watchId >= 0);
      const id = open.length > 0 && rng.chance(0.8) ? rng.pick(open).watchId : rng.int(0, 9);
      h.hub.cancelWatch(s, id);
    } else if (roll < 56) h.hub.progressRequest(s);
    else if (roll < 66) h.hub.tick();
    else if (roll < 86) {
      h.drain(s, rng.int(0, 4), false);
      const inFlight = h.inFlight.get(s)!;
      if (inFlight > 0 && rng.chance(0.7)) h.ack(s, rng.int(0, inFlight));
    } else if (roll < 89) {
      const c = h.store.history.compactRevision;
      if (h.store.revision > c) h.store.history.compact(rng.int(c, h.store.revision));
    } else if (roll < 94) {
      const candidates = h.recorder.watches.filter((w) => w.end === 'open' && w.watchId >= 0
        && streams.includes(w.streamId));
      if (candidates.length > 0) h.resume(rng.pick(candidates));
    } else if (roll < 96 && streams.length > 1) {
      h.close(s);
      streams.splice(streams.indexOf(s), 1);
      openStream();
    }
    checkBounds(h, streams);
  }
  h.settle();
  debug?.(h);
  count(h);
  return h.violations().map((v) => `seed ${seed}: ${v}`);
}

/** Memory stays bounded while the run goes on. */
function checkBounds(h: Harness, streams: readonly number[]): void {
  for (const s of streams) {
    const st = h.hub.streamStats(s);
    // Live responses fit the limit (or go alone into an empty buffer); a catch-up read may
    // overshoot by the rest of one revision.
    assert(st.bufferedEvents <= LIMITS.streamBufferedEventsMax + TXN_OPS_MAX,
      `stream ${s} buffered ${st.bufferedEvents} events`);
    assert(st.queuedResponses + st.inFlightResponses
      <= LIMITS.streamBufferedEventsMax + TXN_OPS_MAX + LIMITS.streamControlResponsesMax
        + st.watchers * 2 + 50, `stream ${s} holds ${st.queuedResponses} responses`);
  }
}

