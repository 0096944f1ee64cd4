/**
 * etcd's watch guarantees as named checkers over a recorded history (after etcd's
 * tests/robustness/validate). A `WatchRecorder` reads the responses of each stream the way a
 * client does (a `created` reply belongs to the oldest unanswered create, other replies to the
 * watcher with that id) and a `HistoryModel` is the committed batches in revision order. Each
 * checker returns a list of violations, empty when the guarantee holds:
 *
 * - ordered: events strictly ascend by (revision, sub-revision);
 * - unique: no event is delivered twice;
 * - atomic: all of a watcher's events of one revision come together, in one response or in
 *   consecutive fragments;
 * - reliable: no gaps: what was delivered is exactly what the model says the watcher wants, up
 *   to where the watcher is known to be complete;
 * - resumable: a watcher restarted from a delivered revision + 1 sees the same events;
 * - prevKvCorrect: prev_kv is the key's value just before the event iff it was asked for;
 * - bookmarkable: no event arrives at or below a revision the watcher was already told it had
 *   passed (a progress notification or an event response's header).
 */
import { bytesEqual, toHex } from '../base/index.js';
import { normalizeRange, rangesContain } from './key-range.js';
import type {
  CommittedBatch, KeyRange, WatchCreateRequest, WatchEvent, WatchKeyValue, WatchResponse,
} from './types.js';

/** How a recorded watcher ended; 'closed': its stream ended, cutting its responses short. */
export type RecordedEnd = 'open' | 'canceled' | 'closed' | 'compacted' | 'ended' | 'failed';

export interface RecordedWatch {
  readonly streamId: number;
  readonly request: WatchCreateRequest;
  /** Assigned id; -1 when the create failed. */
  watchId: number;
  /** header.revision of the created reply. */
  createdRevision: number;
  /** Every response for this watcher after `created`, in arrival order (stream-wide progress
   * notifications included). */
  readonly responses: WatchResponse[];
  end: RecordedEnd;
  /** The compaction cancel's compact revision, or 0. */
  compactRevision: number;
}

/** Attributes each stream's responses to its watchers, as a client would. */
export class WatchRecorder {
  readonly watches: RecordedWatch[] = [];
  readonly violations: string[] = [];
  readonly #pending = new Map<number, RecordedWatch[]>();
  readonly #active = new Map<number, Map<number, RecordedWatch>>();

  /** A create request was sent on the stream. */
  created(streamId: number, request: WatchCreateRequest): RecordedWatch {
    const w: RecordedWatch = {
      streamId, request, watchId: -1, createdRevision: 0, responses: [], end: 'open',
      compactRevision: 0,
    };
    this.watches.push(w);
    const q = this.#pending.get(streamId) ?? [];
    q.push(w);
    this.#pending.set(streamId, q);
    return w;
  }

  /** The stream ended: its open watchers are canceled by the client. */
  closed(streamId: number): void {
    for (const w of this.#active.get(streamId)?.values() ?? []) w.end = 'closed';
    // Creates never answered: as if closed before any event.
    for (const w of this.#pending.get(streamId) ?? []) w.end = 'closed';
    this.#active.delete(streamId);
    this.#pending.delete(streamId);
  }

  /** The active watcher with that id on the stream, if any. */
  active(streamId: number, watchId: number): RecordedWatch | undefined {
    return this.#active.get(streamId)?.get(watchId);
  }

  /** Responses drained from the stream, in order. */
  received(streamId: number, responses: readonly WatchResponse[]): void {
    const active = this.#active.get(streamId) ?? new Map<number, RecordedWatch>();
    this.#active.set(streamId, active);
    for (const r of responses) this.#receive(streamId, active, r);
  }

  #receive(streamId: number, active: Map<number, RecordedWatch>, r: WatchResponse): void {
    if (r.created) {
      const w = this.#pending.get(streamId)?.shift();
      if (w === undefined) {
        this.violations.push(`stream ${streamId}: created reply with no create pending`);
        return;
      }
      w.createdRevision = r.headerRevision;
      if (r.canceled) {
        w.end = 'failed';
        return;
      }
      w.watchId = r.watchId;
      if (active.has(r.watchId)) this.violations.push(`stream ${streamId}: id ${r.watchId} reused`);
      active.set(r.watchId, w);
      return;
    }
    if (r.watchId === -1) {
      if (r.events.length > 0 || r.canceled) {
        this.violations.push(`stream ${streamId}: watch id -1 on a non-progress response`);
      }
      for (const w of active.values()) w.responses.push(r);
      return;
    }
    const w = active.get(r.watchId);
    if (w === undefined) {
      this.violations.push(`stream ${streamId}: response for unknown watch id ${r.watchId}`);
      return;
    }
    w.responses.push(r);
    if (r.canceled) {
      active.delete(r.watchId);
      if (r.compactRevision !== 0) {
        w.end = 'compacted';
        w.compactRevision = r.compactRevision;
      } else if (r.cancelReason !== '') w.end = 'ended';
      else w.end = 'canceled';
    }
  }
}

/** The committed history, with each event's sub-revision and the key's previous value. */
export class HistoryModel {
  readonly batches: readonly CommittedBatch[];
  readonly #sub = new Map<string, number>();
  readonly #prev = new Map<string, WatchKeyValue | undefined>();

  constructor(batches: readonly CommittedBatch[]) {
    this.batches = batches;
    const state = new Map<string, WatchKeyValue>();
    for (const b of batches) {
      b.events.forEach((e, i) => {
        const k = toHex(e.kv.key);
        const id = eventId(e);
        this.#sub.set(id, i);
        this.#prev.set(id, state.get(k));
        if (e.type === 'PUT') state.set(k, e.kv);
        else state.delete(k);
      });
    }
  }

  /** Position of the event within its revision, or undefined if the model never had it. */
  subRevision(e: WatchEvent): number | undefined {
    return this.#sub.get(eventId(e));
  }

  /** The key's value at revision - 1 (undefined if absent), independently replayed. */
  previous(e: WatchEvent): WatchKeyValue | undefined {
    return this.#prev.get(eventId(e));
  }

  /** What the watcher wants of revisions [from, to], by the plain definitions. */
  expected(request: WatchCreateRequest, from: number, to: number): WatchEvent[] {
    const ranges = requestRanges(request);
    const noPut = request.filters?.includes('NOPUT') ?? false;
    const noDelete = request.filters?.includes('NODELETE') ?? false;
    const out: WatchEvent[] = [];
    for (const b of this.batches) {
      if (b.revision < from || b.revision > to) continue;
      for (const e of b.events) {
        if (!rangesContain(ranges, e.kv.key)) continue;
        if (e.type === 'PUT' ? noPut : noDelete) continue;
        out.push(e);
      }
    }
    return out;
  }
}

export function requestRanges(request: WatchCreateRequest): KeyRange[] {
  return [normalizeRange(request.key, request.rangeEnd),
    ...(request.extraRanges ?? []).map((r) => normalizeRange(r.key, r.rangeEnd))];
}

/** (revision, key) names an event: a revision changes a key at most once. */
export function eventId(e: WatchEvent): string {
  return `${e.kv.modRevision}:${toHex(e.kv.key)}`;
}

export function deliveredEvents(w: RecordedWatch): WatchEvent[] {
  return w.responses.flatMap((r) => r.events);
}

/** The first revision the watcher wants. */
export function firstWanted(w: RecordedWatch): number {
  const start = w.request.startRevision ?? 0;
  return start === 0 ? w.createdRevision + 1 : start;
}

function label(w: RecordedWatch): string {
  return `stream ${w.streamId} watch ${w.watchId}`;
}

export function checkOrdered(w: RecordedWatch, model: HistoryModel): string[] {
  const out: string[] = [];
  let last: [number, number] | undefined;
  for (const e of deliveredEvents(w)) {
    const sub = model.subRevision(e);
    if (sub === undefined) {
      out.push(`${label(w)}: event ${eventId(e)} never happened`);
      continue;
    }
    const here: [number, number] = [e.kv.modRevision, sub];
    if (last !== undefined && (here[0] < last[0] || (here[0] === last[0] && here[1] <= last[1]))) {
      out.push(`${label(w)}: event ${eventId(e)} after (${last[0]}, ${last[1]})`);
    }
    last = here;
  }
  return out;
}

export function checkUnique(w: RecordedWatch): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const e of deliveredEvents(w)) {
    const id = eventId(e);
    if (seen.has(id)) out.push(`${label(w)}: event ${id} delivered twice`);
    seen.add(id);
  }
  return out;
}

export function checkAtomic(w: RecordedWatch, model: HistoryModel): string[] {
  const out: string[] = [];
  // Where each revision's events were delivered: indexes of the responses holding them.
  const holders = new Map<number, number[]>();
  const counts = new Map<number, number>();
  w.responses.forEach((r, i) => {
    for (const e of r.events) {
      const rev = e.kv.modRevision;
      const h = holders.get(rev) ?? [];
      if (h[h.length - 1] !== i) h.push(i);
      holders.set(rev, h);
      counts.set(rev, (counts.get(rev) ?? 0) + 1);
    }
  });
  // A closed stream may have cut the last revision's fragments short.
  const cut = w.end === 'closed' ? deliveredEvents(w).at(-1)?.kv.modRevision : undefined;
  for (const [rev, h] of holders) {
    if (rev === cut) continue;
    const want = model.expected(w.request, rev, rev).length;
    if (counts.get(rev) !== want) {
      out.push(`${label(w)}: revision ${rev} delivered ${counts.get(rev)} of ${want} events`);
    }
    for (let j = 0; j + 1 < h.length; j++) {
      const r = w.responses[h[j]!]!;
      if (h[j + 1] !== h[j]! + 1 || !r.fragment) {
        out.push(`${label(w)}: revision ${rev} split across responses ${h.join(',')}`);
        break;
      }
    }
  }
  return out;
}

/**
 * `completeTo`: the revision up to which the watcher must have everything (the final revision
 * after the run settled, for a watcher still open). Canceled, closed and compacted watchers must
 * have a gap-free prefix; a watcher that ended by its end revision must have everything up to it.
 */
export function checkReliable(w: RecordedWatch, model: HistoryModel, completeTo: number): string[] {
  if (w.end === 'failed') return [];
  const got = deliveredEvents(w).map(eventId);
  const endRevision = w.request.endRevision ?? 0;
  const to = w.end === 'ended' ? endRevision : completeTo;
  const want = model.expected(w.request, firstWanted(w), endRevision === 0 ? to
    : Math.min(to, endRevision)).map(eventId);
  const prefixOnly = w.end === 'canceled' || w.end === 'closed' || w.end === 'compacted';
  const out: string[] = [];
  const n = prefixOnly ? got.length : Math.max(got.length, want.length);
  for (let i = 0; i < n; i++) {
    if (got[i] !== want[i]) {
      out.push(`${label(w)} (${w.end}): event #${i} is ${got[i]}, expected ${want[i]}`);
      break;
    }
  }
  if (w.end === 'compacted') {
    const lastRev = deliveredEvents(w).at(-1)?.kv.modRevision ?? 0;
    if (w.compactRevision <= Math.max(lastRev, firstWanted(w) - 1)) {
      out.push(`${label(w)}: canceled by compaction ${w.compactRevision} it did not need`);
    }
  }
  return out;
}

/** `resumed` restarted `original` at some delivered revision + 1: both agree where both cover. */
export function checkResumable(original: RecordedWatch, resumed: RecordedWatch): string[] {
  const from = firstWanted(resumed);
  const a = deliveredEvents(original).filter((e) => e.kv.modRevision >= from);
  const b = deliveredEvents(resumed);
  const lastA = a.at(-1)?.kv.modRevision ?? from - 1;
  const lastB = b.at(-1)?.kv.modRevision ?? from - 1;
  const upTo = Math.min(lastA, lastB);
  const ids = (es: WatchEvent[]): string =>
    es.filter((e) => e.kv.modRevision <= upTo).map(eventId).join(' ');
  return ids(a) === ids(b) ? []
    : [`${label(resumed)} resumed from ${from} differs from ${label(original)} up to ${upTo}`];
}

function sameKv(a: WatchKeyValue | undefined, b: WatchKeyValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return bytesEqual(a.key, b.key) && bytesEqual(a.value, b.value) && a.lease === b.lease
    && a.createRevision === b.createRevision && a.modRevision === b.modRevision
    && a.version === b.version;
}

export function checkPrevKv(w: RecordedWatch, model: HistoryModel): string[] {
  const out: string[] = [];
  for (const e of deliveredEvents(w)) {
    const want = w.request.prevKv === true ? model.previous(e) : undefined;
    if (!sameKv(e.prevKv, want)) out.push(`${label(w)}: wrong prev_kv on ${eventId(e)}`);
  }
  return out;
}

export function checkBookmarkable(w: RecordedWatch): string[] {
  const out: string[] = [];
  let bookmark = 0;
  for (const r of w.responses) {
    for (const e of r.events) {
      if (e.kv.modRevision <= bookmark) {
        out.push(`${label(w)}: event ${eventId(e)} at or below bookmark ${bookmark}`);
      }
    }
    if (!r.created && !r.canceled && r.headerRevision > bookmark) {
      // Header revisions of progress notifications and of event responses (once complete).
      if (!r.fragment) bookmark = r.headerRevision;
    }
  }
  return out;
}

/** Every checker that needs no resumed pair, for one watcher. */
export function checkWatch(w: RecordedWatch, model: HistoryModel, completeTo: number): string[] {
  return [
    ...checkOrdered(w, model), ...checkUnique(w),
    ...checkAtomic(w, model), ...checkReliable(w, model, completeTo), ...checkPrevKv(w, model),
    ...checkBookmarkable(w),
  ];
}
