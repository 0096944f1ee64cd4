/**
 * Simulated watch clients and the watch guarantees. Each watcher opens a Watch stream on one
 * member's front (FrontActor.openWatchStream, as the gRPC Watch service does), creates one watch
 * over the whole key set (with prev_kv or not, from the next revision), asks for progress
 * notifications whenever the nemesis acts (bookmarks), records every response
 * through src/watch's WatchRecorder and acknowledges it at once (the transport wrote it). When its
 * member crashes, the stream is gone: the watcher is recorded as closed and resumes on another
 * member from the revision after the last it received, as etcd clients do.
 *
 * At the end, every watcher is judged by src/watch's named checkers (ordered, unique, atomic,
 * reliable, prev_kv correct, bookmarkable) against the history the replicas agreed on, and every
 * resumed watcher against the one it resumed (resumable).
 */
import { bytesEqual, utf8 } from '../base/index.js';
import {
  HistoryModel, WatchRecorder, checkAtomic, checkBookmarkable, checkOrdered, checkReliable,
  checkResumable, checkUnique, deliveredEvents, eventId, firstWanted,
  type CommittedBatch, type RecordedWatch, type WatchCreateRequest, type WatchKeyValue, type WatchResponse,
} from '../watch/index.js';
import type { SimCluster, SimMember } from './sim-cluster.js';

/** Watchers per run, at most. */
export const WATCHERS_MAX = 16;

interface Watcher {
  readonly index: number;
  readonly prevKv: boolean;
  member: SimMember | null;
  /** The front's stream id on `member`. */
  streamId: number;
  /** The recorder's stream id: unique per opened stream across members. */
  recorderStream: number;
  record: RecordedWatch | null;
}

export class WatchClients {
  readonly recorder = new WatchRecorder();
  /** (original, resumed) pairs for the resumable checker. */
  readonly #pairs: [RecordedWatch, RecordedWatch][] = [];
  readonly #watchers: Watcher[];
  readonly #cluster: SimCluster;
  #nextRecorderStream = 1;

  constructor(cluster: SimCluster, count: number, prevKv: readonly boolean[]) {
    this.#cluster = cluster;
    this.#watchers = Array.from({ length: Math.min(count, WATCHERS_MAX) }, (_, index) => ({
      index, prevKv: prevKv[index] ?? false, member: null, streamId: 0, recorderStream: 0, record: null,
    }));
  }

  /** Opens every watcher that has no stream on an up member. */
  attach(): void {
    for (const w of this.#watchers) if (w.member === null) this.#open(w);
  }

  /** `m` crashed: its streams are gone; their watchers resume elsewhere (or when one is up). */
  crashed(m: SimMember): void {
    for (const w of this.#watchers) {
      if (w.member !== m) continue;
      this.recorder.closed(w.recorderStream);
      w.member = null;
    }
    this.attach();
  }

  #open(w: Watcher): void {
    const ms = this.#cluster.members;
    const m = [0, 1, 2, 3, 4].map((k) => ms[(w.index + k) % ms.length]!).find((x) => x.up);
    if (m === undefined) return;
    const previous = w.record;
    // Resume after the last revision received (or where the lost watch began).
    const start = previous === null ? 0 : resumeFrom(previous);
    const request: WatchCreateRequest = {
      key: utf8('k'), rangeEnd: utf8('l'), prevKv: w.prevKv, ...(start > 0 ? { startRevision: start } : {}),
    };
    const recorderStream = this.#nextRecorderStream++;
    w.member = m;
    w.recorderStream = recorderStream;
    const front = m.front;
    w.streamId = front.openWatchStream((responses: readonly WatchResponse[]) => {
      this.recorder.received(recorderStream, responses);
      front.watchAcked(w.streamId, responses.length);
    });
    w.record = this.recorder.created(recorderStream, request);
    if (previous !== null && previous.watchId >= 0) this.#pairs.push([previous, w.record]);
    front.watchRequest(w.streamId, { kind: 'create', request });
  }

  /** Every attached watcher asks for a progress notification (a bookmark the checkers verify). */
  requestProgress(): void {
    for (const w of this.#watchers) {
      if (w.member === null || !w.member.up) continue;
      w.member.front.watchRequest(w.streamId, { kind: 'progress' });
    }
  }

  /** Whether every open watcher has received everything up to the replicas' final revision. */
  caughtUp(model: HistoryModel, final: number): boolean {
    for (const w of this.#watchers) {
      const r = w.record;
      if (r === null || w.member === null) return false;
      if (r.end !== 'open') continue;
      if (r.watchId < 0) return false;
      const want = model.expected(r.request, firstWanted(r), final).at(-1)?.kv.modRevision ?? 0;
      const got = deliveredEvents(r).at(-1)?.kv.modRevision ?? 0;
      if (got < want) return false;
    }
    return true;
  }

  /** Watches created (resumptions included) and events delivered to them. */
  stats(): { readonly watches: number; readonly events: number } {
    let events = 0;
    for (const w of this.recorder.watches) events += deliveredEvents(w).length;
    return { watches: this.recorder.watches.length, events };
  }

  /**
   * Every watch guarantee over every recorded watcher; violations as lines. `compacted`: the
   * highest compaction revision of the run (see checkPrevKvUpToCompaction).
   */
  check(batches: readonly CommittedBatch[], final: number, compacted: number): string[] {
    const model = new HistoryModel(batches);
    const out = [...this.recorder.violations];
    for (const w of this.recorder.watches) {
      out.push(...checkOrdered(w, model), ...checkUnique(w), ...checkAtomic(w, model),
        ...checkReliable(w, model, final), ...checkPrevKvUpToCompaction(w, model, compacted),
        ...checkBookmarkable(w));
    }
    for (const [a, b] of this.#pairs) out.push(...checkResumable(a, b));
    return out;
  }
}

function resumeFrom(w: RecordedWatch): number {
  const last = deliveredEvents(w).at(-1)?.kv.modRevision;
  if (last !== undefined) return last + 1;
  return w.watchId >= 0 ? firstWanted(w) : Math.max(1, firstWanted(w));
}

/**
 * prev_kv correct: an event carries the key's previous version iff the watch asked for it, except
 * that an event at or below a compaction revision may lack it (its previous version is compacted
 * away and can no longer be read, so etcd omits prev_kv as well: its watch server reads prev_kv
 * at modRevision - 1 and drops it on ErrCompacted). Seed 3790 found a watcher resumed at the
 * compaction revision receiving exactly that.
 */
export function checkPrevKvUpToCompaction(w: RecordedWatch, model: HistoryModel, compacted: number): string[] {
  const out: string[] = [];
  for (const e of deliveredEvents(w)) {
    const want = w.request.prevKv === true ? model.previous(e) : undefined;
    if (e.prevKv === undefined && want !== undefined && e.kv.modRevision <= compacted) continue;
    if (!sameKv(e.prevKv, want)) out.push(`stream ${w.streamId} watch ${w.watchId}: wrong prev_kv on ${eventId(e)}`);
  }
  return out;
}

function sameKv(a: WatchKeyValue | undefined, b: WatchKeyValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return bytesEqual(a.key, b.key) && bytesEqual(a.value, b.value) && a.lease === b.lease
    && a.createRevision === b.createRevision && a.modRevision === b.modRevision && a.version === b.version;
}
