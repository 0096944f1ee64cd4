/**
 * WatchHub: the pure core of the watch actor. It keeps the watchers of every client stream,
 * matches each committed batch against them, lets lagging watchers catch up from history, and
 * queues the WatchResponses each stream must send. It does no I/O and reads no clock: the shell
 * feeds it committed batches, client requests and ticks, and moves the queued responses out.
 *
 * How the shell drives it:
 * - `openStream` when a Watch RPC starts, `closeStream` when it ends (client cancel or error).
 * - `createWatch` / `cancelWatch` / `progressRequest` for each client request. They return false
 *   when the stream's control backlog is full; the shell then keeps the request, stops reading
 *   that client, and retries after draining.
 * - `onCommitted` for every committed write, in revision order, after mvcc made it readable.
 * - `tick` at a fixed interval: it runs one catch-up pass and, every `progressIntervalTicks`,
 *   the periodic progress notifications.
 * - `readyStreams` names the streams with queued responses; `drain` takes them (in order) and
 *   counts them as in flight; `acknowledge(streamId, n)` says the transport has written the n
 *   oldest in-flight responses, which frees buffer room and lets that stream's lagging watchers
 *   catch up. A stream's queued plus in-flight events are bounded by the limits in limits.ts.
 *
 * Guarantees per watcher, as etcd's: responses in the order created → events → canceled;
 * events strictly ascending by (revision, sub-revision), each once, no gaps except by filters;
 * all of a watcher's events of one revision in one response, unless it asked for `fragment` and
 * the response is too large, in which case consecutive parts flag `fragment` on all but the
 * last. A progress revision (and an event response's header revision) is never ahead of an
 * event the watcher has not yet been given: every later event has a higher revision.
 *
 * Deliberate differences from etcd, each for the bookmark guarantee or determinism:
 * - A catch-up response's header revision is the last revision the history read covered, not
 *   the store's current revision, so a client resuming from header + 1 misses nothing.
 * - A stream-wide progress request follows etcd 3.5 (answer only when every watcher is synced
 *   and none starts in the future), not 3.4 (always answer), whose answer could run ahead of
 *   events still to be delivered.
 * - Periodic progress has no random jitter; the shell may jitter its tick if it wants.
 */
import { assert, assertCount, compareBytes } from '../base/index.js';
import { isEmptyRange, normalizeRange, rangesContain, shapeOf } from './key-range.js';
import { type WatchHubLimits, resolveWatchHubLimits } from './limits.js';
import { KeyMatchIndex, type MatchEntry } from './match-index.js';
import type {
  CommittedBatch, HistoryReader, KeyRange, WatchCreateRequest, WatchEvent, WatchKeyValue,
  WatchResponse,
} from './types.js';

/** etcd's cancel reasons (spec §5.3) and strata's own for its extensions. */
export const watchCancelReasons = {
  rangeEmpty: 'mvcc: watcher range is empty',
  duplicateId: 'mvcc: duplicate watch ID provided on the WatchStream',
  compacted: 'etcdserver: mvcc: required revision has been compacted',
  /** Extension: the watch delivered everything up to its end revision and ended by itself. */
  endRevisionReached: 'strata: watch reached its end revision',
  /** Extension: an end revision below the start revision (or negative). */
  endBeforeStart: 'strata: watch end revision is before its start revision',
  /** Extension: more ranges than `rangesPerWatchMax`. */
  tooManyRanges: 'strata: too many ranges in one watch',
} as const;

export interface WatchHubOptions {
  readonly history: HistoryReader;
  /** The store's revision when the hub starts (0 for an empty store). */
  readonly currentRevision: number;
  /** Ticks between periodic progress checks (etcd: 10 min of 100 ms ticks = 6000). */
  readonly progressIntervalTicks: number;
  readonly limits?: Partial<WatchHubLimits>;
}

export interface StreamStats {
  readonly watchers: number;
  readonly unsynced: number;
  readonly queuedResponses: number;
  readonly inFlightResponses: number;
  readonly bufferedEvents: number;
  readonly bufferedBytes: number;
}

export interface HubStats {
  readonly streams: number;
  readonly watchers: number;
  readonly unsynced: number;
  readonly indexedRanges: number;
  /** Times a synced watcher fell behind because its stream's buffer was full (cumulative). */
  readonly fellBehind: number;
}

/** Rough protobuf overhead of one KeyValue (tags, varint revisions, version, lease). */
const KV_OVERHEAD_BYTES = 40;
/** Rough size of a response without events (header, ids, flags). */
const RESPONSE_OVERHEAD_BYTES = 48;

function kvBytes(kv: WatchKeyValue): number {
  return kv.key.length + kv.value.length + KV_OVERHEAD_BYTES;
}

/** Estimated encoded size of an event as it will be sent. */
export function eventBytes(event: WatchEvent): number {
  return 4 + kvBytes(event.kv) + (event.prevKv === undefined ? 0 : kvBytes(event.prevKv));
}

/** A FIFO with O(1) push and shift, bounded by its owner. */
class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T {
    assert(this.length > 0, 'shift from an empty queue');
    const item = this.#items[this.#head]!;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

interface Queued {
  readonly response: WatchResponse;
  readonly events: number;
  readonly bytes: number;
  readonly control: boolean;
}

class Stream {
  readonly watchers = new Map<number, Watcher>();
  /** Unsynced watchers of this stream, in the order they fell behind. */
  readonly unsynced = new Set<Watcher>();
  readonly queue = new Fifo<Queued>();
  readonly inFlight = new Fifo<Queued>();
  nextAutoId = 0;
  bufferedEvents = 0;
  bufferedBytes = 0;
  queuedControl = 0;

  constructor(readonly id: number) {}
}

class Watcher {
  readonly entries: MatchEntry<Watcher>[] = [];
  /** Synced: every event up to the hub's current revision is queued (or not yet wanted). */
  synced = true;
  /** Unsynced only: every wanted event below this revision is queued. */
  nextRevision = 0;
  removed = false;
  /** In the hub's end-revision heap. */
  inEnds = false;
  /** An event response was queued since the last periodic progress check. */
  sentSinceProgress = false;
  /** Per-batch scratch: which event and batch last touched this watcher. */
  eventStamp = -1;
  batchStamp = -1;
  pending: WatchEvent[] = [];

  constructor(
    readonly stream: Stream,
    readonly id: number,
    readonly ranges: readonly KeyRange[],
    readonly noPut: boolean,
    readonly noDelete: boolean,
    readonly prevKv: boolean,
    readonly progressNotify: boolean,
    readonly fragment: boolean,
    /** First revision wanted. */
    readonly startRevision: number,
    /** Last revision wanted; 0 = none. */
    readonly endRevision: number,
  ) {}

  wants(event: WatchEvent): boolean {
    return event.type === 'PUT' ? !this.noPut : !this.noDelete;
  }
}

/**
 * A min-heap of watchers by end revision, with lazy deletion of removed watchers. The owner
 * calls `dropRemoved` when removed entries may outnumber live ones, so a client that creates
 * and cancels watches with distant end revisions cannot grow it without bound.
 */
class EndHeap {
  #items: Watcher[] = [];

  /** Rebuilds the heap without removed watchers. */
  dropRemoved(): void {
    const live = this.#items.filter((w) => !w.removed);
    for (const w of this.#items) if (w.removed) w.inEnds = false;
    this.#items = [];
    for (const w of live) this.push(w);
  }

  get length(): number {
    return this.#items.length;
  }

  peek(): Watcher | undefined {
    return this.#items[0];
  }

  push(w: Watcher): void {
    w.inEnds = true;
    const a = this.#items;
    a.push(w);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]!.endRevision <= a[i]!.endRevision) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }

  pop(): Watcher {
    const a = this.#items;
    assert(a.length > 0, 'pop from an empty heap');
    const top = a[0]!;
    top.inEnds = false;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && a[l]!.endRevision < a[m]!.endRevision) m = l;
        if (r < a.length && a[r]!.endRevision < a[m]!.endRevision) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

function controlResponse(fields: Partial<WatchResponse> & { watchId: number }): WatchResponse {
  return {
    headerRevision: 0, created: false, canceled: false, compactRevision: 0, cancelReason: '',
    fragment: false, events: [], ...fields,
  };
}

export class WatchHub {
  readonly #history: HistoryReader;
  readonly #limits: WatchHubLimits;
  readonly #progressIntervalTicks: number;
  readonly #streams = new Map<number, Stream>();
  readonly #index = new KeyMatchIndex<Watcher>();
  /** Every unsynced watcher, in catch-up order (a watcher still behind after a read moves last). */
  readonly #unsynced = new Set<Watcher>();
  readonly #progressWatchers = new Set<Watcher>();
  readonly #ends = new EndHeap();
  readonly #ready = new Set<number>();
  #current: number;
  #ticks = 0;
  #eventStamp = 0;
  #batchStamp = 0;
  #watcherCount = 0;
  #fellBehind = 0;
  /** Removed watchers still in #ends. */
  #endsStale = 0;

  constructor(options: WatchHubOptions) {
    assertCount(options.currentRevision, 'currentRevision');
    const ticks = options.progressIntervalTicks;
    assert(Number.isSafeInteger(ticks) && ticks >= 1,
      `progressIntervalTicks must be a positive integer: ${ticks}`);
    this.#history = options.history;
    this.#current = options.currentRevision;
    this.#progressIntervalTicks = options.progressIntervalTicks;
    this.#limits = resolveWatchHubLimits(options.limits);
  }

  get currentRevision(): number {
    return this.#current;
  }

  get limits(): WatchHubLimits {
    return this.#limits;
  }

  // ---- streams -------------------------------------------------------------------------------

  openStream(streamId: number): void {
    assert(!this.#streams.has(streamId), `stream ${streamId} is already open`);
    this.#streams.set(streamId, new Stream(streamId));
  }

  /** Removes the stream and all its watchers; queued and in-flight responses are dropped. */
  closeStream(streamId: number): void {
    const s = this.#stream(streamId);
    for (const w of [...s.watchers.values()]) this.#remove(w);
    s.queue.clear();
    s.inFlight.clear();
    this.#streams.delete(streamId);
    this.#ready.delete(streamId);
  }

  /** Streams with queued responses, in the order they became ready. */
  readyStreams(): number[] {
    return [...this.#ready];
  }

  /** Takes up to `responsesMax` queued responses of the stream, oldest first; now in flight. */
  drain(streamId: number, responsesMax = Number.POSITIVE_INFINITY): WatchResponse[] {
    assert(responsesMax >= 0, 'responsesMax must not be negative');
    const s = this.#stream(streamId);
    const out: WatchResponse[] = [];
    while (s.queue.length > 0 && out.length < responsesMax) {
      const q = s.queue.shift();
      if (q.control) s.queuedControl--;
      s.inFlight.push(q);
      out.push(q.response);
    }
    if (s.queue.length === 0) this.#ready.delete(streamId);
    return out;
  }

  /**
   * The transport wrote the `count` oldest in-flight responses of the stream. Frees their room
   * and lets the stream's lagging watchers catch up. A closed stream is ignored (the transport
   * may report after the stream ended).
   */
  acknowledge(streamId: number, count: number): void {
    assertCount(count, 'acknowledged responses');
    const s = this.#streams.get(streamId);
    if (s === undefined) return;
    assert(count <= s.inFlight.length, `acknowledged ${count} of ${s.inFlight.length} in flight`);
    for (let i = 0; i < count; i++) {
      const q = s.inFlight.shift();
      s.bufferedEvents -= q.events;
      s.bufferedBytes -= q.bytes;
    }
    assert(s.bufferedEvents >= 0 && s.bufferedBytes >= 0, 'stream buffer went negative');
    this.#catchUpStream(s);
  }

  /** True when the stream can take another client request (its control backlog has room). */
  acceptsRequests(streamId: number): boolean {
    return this.#stream(streamId).queuedControl < this.#limits.streamControlResponsesMax;
  }

  // ---- client requests -----------------------------------------------------------------------

  /**
   * etcd's create (spec §4.7.1): answers `created` (with the id) or a created+canceled failure,
   * in request order. A start revision in the past replays history first; one below the compact
   * revision gets `created` and then a compaction cancel. Returns false, doing nothing, when the
   * stream's control backlog is full.
   */
  createWatch(streamId: number, request: WatchCreateRequest): boolean {
    const s = this.#stream(streamId);
    if (!this.acceptsRequests(streamId)) return false;
    const ranges = [normalizeRange(request.key, request.rangeEnd)];
    for (const r of request.extraRanges ?? []) ranges.push(normalizeRange(r.key, r.rangeEnd));
    const failure = this.#validate(s, request, ranges);
    if (failure !== undefined) {
      this.#enqueueControl(s, controlResponse({
        watchId: -1, headerRevision: this.#current, created: true, canceled: true,
        cancelReason: failure,
      }));
      return true;
    }
    const id = this.#assignId(s, request.watchId ?? 0);
    const filters = request.filters ?? [];
    const requestedStart = request.startRevision ?? 0;
    const w = new Watcher(
      s, id, ranges, filters.includes('NOPUT'), filters.includes('NODELETE'),
      request.prevKv ?? false, request.progressNotify ?? false, request.fragment ?? false,
      requestedStart === 0 ? this.#current + 1 : requestedStart, request.endRevision ?? 0,
    );
    s.watchers.set(id, w);
    this.#watcherCount++;
    for (const r of ranges) w.entries.push(this.#index.add(shapeOf(r), w));
    if (w.progressNotify) this.#progressWatchers.add(w);
    this.#enqueueControl(s, controlResponse({
      watchId: id, headerRevision: this.#current, created: true,
    }));
    if (w.endRevision !== 0) this.#ends.push(w);
    if (w.startRevision <= this.#current) {
      this.#fallBehind(w, w.startRevision);
      this.#catchUpOnce(w);
    } else if (w.endRevision !== 0 && w.endRevision <= this.#current) {
      this.#finish(w);
    }
    return true;
  }

  /**
   * etcd's cancel (§4.7.2): removes the watcher and answers `canceled`; an unknown id gets no
   * answer. Returns false, doing nothing, when the stream's control backlog is full.
   */
  cancelWatch(streamId: number, watchId: number): boolean {
    const s = this.#stream(streamId);
    if (!this.acceptsRequests(streamId)) return false;
    const w = s.watchers.get(watchId);
    if (w === undefined) return true;
    this.#remove(w);
    this.#enqueueControl(s, controlResponse({
      watchId, headerRevision: this.#current, canceled: true,
    }));
    return true;
  }

  /**
   * etcd 3.5's progress request (§4.7.3): answers `{watchId: -1, header = current}` only when
   * the stream has watchers, all synced, none starting after the current revision; otherwise
   * nothing. Returns false, doing nothing, when the stream's control backlog is full.
   */
  progressRequest(streamId: number): boolean {
    const s = this.#stream(streamId);
    if (!this.acceptsRequests(streamId)) return false;
    if (s.watchers.size === 0) return true;
    for (const w of s.watchers.values()) {
      if (!w.synced || w.startRevision > this.#current) return true;
    }
    this.#enqueueControl(s, controlResponse({ watchId: -1, headerRevision: this.#current }));
    return true;
  }

  // ---- committed writes and time -------------------------------------------------------------

  /** One committed write: matches it against the synced watchers and queues their responses. */
  onCommitted(batch: CommittedBatch): void {
    const revision = batch.revision;
    assert(Number.isSafeInteger(revision), 'batch revision must be an integer');
    assert(revision > this.#current, `batch revision ${revision} <= current ${this.#current}`);
    assert(batch.events.length > 0, `batch ${revision} has no events`);
    this.#current = revision;
    const batchStamp = ++this.#batchStamp;
    const touched: Watcher[] = [];
    const events = batch.events;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      assert(event.kv.modRevision === revision, 'event mod revision differs from its batch');
      const eventStamp = ++this.#eventStamp;
      let stripped: WatchEvent | undefined;
      this.#index.match(event.kv.key, (w) => {
        if (w.eventStamp === eventStamp) return;
        w.eventStamp = eventStamp;
        if (!w.synced || revision < w.startRevision) return;
        if (w.endRevision !== 0 && revision > w.endRevision) return;
        if (!w.wants(event)) return;
        if (w.batchStamp !== batchStamp) {
          w.batchStamp = batchStamp;
          w.pending = [];
          touched.push(w);
        }
        if (w.prevKv || event.prevKv === undefined) w.pending.push(event);
        else w.pending.push(stripped ??= { type: event.type, kv: event.kv });
      });
    }
    for (const w of touched) {
      const pending = w.pending;
      w.pending = [];
      this.#deliverLive(w, revision, pending);
    }
    this.#finishEnded();
  }

  /**
   * One tick: a catch-up pass over the unsynced watchers (at most `catchUpReadsPerPassMax`
   * history reads), and every `progressIntervalTicks` the periodic progress check.
   */
  tick(): void {
    this.#ticks++;
    this.#catchUpPass();
    if (this.#ticks % this.#progressIntervalTicks === 0) this.#progressPass();
  }

  // ---- introspection -------------------------------------------------------------------------

  streamStats(streamId: number): StreamStats {
    const s = this.#stream(streamId);
    return {
      watchers: s.watchers.size, unsynced: s.unsynced.size, queuedResponses: s.queue.length,
      inFlightResponses: s.inFlight.length, bufferedEvents: s.bufferedEvents,
      bufferedBytes: s.bufferedBytes,
    };
  }

  stats(): HubStats {
    return {
      streams: this.#streams.size, watchers: this.#watcherCount, unsynced: this.#unsynced.size,
      indexedRanges: this.#index.size, fellBehind: this.#fellBehind,
    };
  }

  // ---- internals -----------------------------------------------------------------------------

  #stream(streamId: number): Stream {
    const s = this.#streams.get(streamId);
    assert(s !== undefined, `stream ${streamId} is not open`);
    return s;
  }

  #validate(s: Stream, request: WatchCreateRequest, ranges: readonly KeyRange[]):
    string | undefined {
    const start = request.startRevision ?? 0;
    const end = request.endRevision ?? 0;
    const id = request.watchId ?? 0;
    assert(Number.isSafeInteger(start), 'startRevision must be an integer');
    assert(Number.isSafeInteger(end), 'endRevision must be an integer');
    assert(Number.isSafeInteger(id), 'watchId must be an integer');
    if (start < 0) return watchCancelReasons.compacted;
    if (ranges.length > this.#limits.rangesPerWatchMax) return watchCancelReasons.tooManyRanges;
    for (const r of ranges) if (isEmptyRange(r)) return watchCancelReasons.rangeEmpty;
    if (end < 0 || (end !== 0 && start !== 0 && end < start)) {
      return watchCancelReasons.endBeforeStart;
    }
    if (id !== 0 && s.watchers.has(id)) return watchCancelReasons.duplicateId;
    return undefined;
  }

  /** etcd: 0 takes the stream counter's next id not in use; others are taken as given. */
  #assignId(s: Stream, requested: number): number {
    if (requested !== 0) return requested;
    while (s.watchers.has(s.nextAutoId)) s.nextAutoId++;
    return s.nextAutoId++;
  }

  #remove(w: Watcher): void {
    assert(!w.removed, 'watcher removed twice');
    w.removed = true;
    for (const e of w.entries) this.#index.remove(e);
    w.entries.length = 0;
    w.stream.watchers.delete(w.id);
    w.stream.unsynced.delete(w);
    this.#unsynced.delete(w);
    this.#progressWatchers.delete(w);
    this.#watcherCount--;
    if (w.inEnds) {
      this.#endsStale++;
      if (this.#endsStale > 64 && this.#endsStale * 2 > this.#ends.length) {
        this.#ends.dropRemoved();
        this.#endsStale = 0;
      }
    }
  }

  #enqueue(s: Stream, q: Queued): void {
    s.queue.push(q);
    s.bufferedEvents += q.events;
    s.bufferedBytes += q.bytes;
    if (q.control) s.queuedControl++;
    this.#ready.add(s.id);
  }

  #enqueueControl(s: Stream, response: WatchResponse): void {
    this.#enqueue(s, { response, events: 0, bytes: RESPONSE_OVERHEAD_BYTES, control: true });
  }

  /** Live delivery fits if the buffer is empty or stays within both bounds. */
  #fits(s: Stream, events: number, bytes: number): boolean {
    if (s.bufferedEvents === 0 && s.queue.length === 0 && s.inFlight.length === 0) return true;
    return s.bufferedEvents + events <= this.#limits.streamBufferedEventsMax
      && s.bufferedBytes + bytes <= this.#limits.streamBufferedBytesMax;
  }

  /** Catch-up reads only while the buffer is below both bounds. */
  #hasRoom(s: Stream): boolean {
    return s.bufferedEvents < this.#limits.streamBufferedEventsMax
      && s.bufferedBytes < this.#limits.streamBufferedBytesMax;
  }

  /**
   * The responses carrying `events` for `w`: one, or with `fragment` and a size at or above
   * the threshold, consecutive parts of as many events as fit (at least one each).
   */
  #eventResponses(w: Watcher, headerRevision: number, events: readonly WatchEvent[]): Queued[] {
    const sizes = events.map(eventBytes);
    let total = RESPONSE_OVERHEAD_BYTES;
    for (const b of sizes) total += b;
    const threshold = this.#limits.fragmentBytesMin;
    const one = (evs: readonly WatchEvent[], bytes: number, fragment: boolean): Queued => ({
      response: {
        watchId: w.id, headerRevision, created: false, canceled: false, compactRevision: 0,
        cancelReason: '', fragment, events: evs,
      },
      events: evs.length, bytes, control: false,
    });
    if (!w.fragment || events.length <= 1 || total < threshold) return [one(events, total, false)];
    const parts: Queued[] = [];
    let from = 0;
    while (from < events.length) {
      let bytes = RESPONSE_OVERHEAD_BYTES + sizes[from]!;
      let to = from + 1;
      while (to < events.length && bytes + sizes[to]! < threshold) bytes += sizes[to++]!;
      parts.push(one(events.slice(from, to), bytes, to < events.length));
      from = to;
    }
    return parts;
  }

  #deliverLive(w: Watcher, revision: number, events: readonly WatchEvent[]): void {
    const parts = this.#eventResponses(w, revision, events);
    let count = 0, bytes = 0;
    for (const p of parts) {
      count += p.events;
      bytes += p.bytes;
    }
    if (!this.#fits(w.stream, count, bytes)) {
      // Slow consumer: nothing of this revision is queued; the watcher rereads it from history.
      this.#fellBehind++;
      this.#fallBehind(w, revision);
      return;
    }
    for (const p of parts) this.#enqueue(w.stream, p);
    w.sentSinceProgress = true;
  }

  #fallBehind(w: Watcher, nextRevision: number): void {
    assert(w.synced, 'only a synced watcher falls behind');
    assert(nextRevision <= this.#current, 'a watcher falls behind a revision that exists');
    w.synced = false;
    w.nextRevision = nextRevision;
    w.stream.unsynced.add(w);
    this.#unsynced.add(w);
  }

  /** One history read for an unsynced watcher if its stream has room; true if it read. */
  #catchUpOnce(w: Watcher): boolean {
    assert(!w.synced && !w.removed, 'catch-up of an unsynced, live watcher');
    const s = w.stream;
    if (!this.#hasRoom(s)) return false;
    const last = w.endRevision === 0 ? this.#current : Math.min(this.#current, w.endRevision);
    if (w.nextRevision <= last) {
      const from = w.nextRevision;
      const result = this.#history.eventsSince({
        fromRevision: from, toRevision: last, ranges: w.ranges,
        eventsMax: Math.max(1, Math.min(this.#limits.catchUpEventsMax,
          this.#limits.streamBufferedEventsMax - s.bufferedEvents)),
        bytesMax: Math.max(1, Math.min(this.#limits.catchUpBytesMax,
          this.#limits.streamBufferedBytesMax - s.bufferedBytes)),
        revisionsMax: this.#limits.catchUpRevisionsMax,
      });
      if (result.compacted) {
        assert(result.compactRevision > from, 'history compacted below the revision asked for');
        this.#remove(w);
        this.#enqueueControl(s, controlResponse({
          watchId: w.id, canceled: true, compactRevision: result.compactRevision,
        }));
        return true;
      }
      const next = result.nextRevision;
      assert(next > from && next <= last + 1, `history covered [${from}, ${next}) of ${last}`);
      const events = this.#checkAndFilter(w, result.events, from, next);
      if (events.length > 0) {
        for (const p of this.#eventResponses(w, next - 1, events)) this.#enqueue(s, p);
        w.sentSinceProgress = true;
      }
      w.nextRevision = next;
      if (next <= last) return true;
    }
    if (w.endRevision !== 0 && w.nextRevision > w.endRevision) {
      this.#finish(w);
      return true;
    }
    assert(w.nextRevision === this.#current + 1, 'a caught-up watcher is at current + 1');
    w.synced = true;
    s.unsynced.delete(w);
    this.#unsynced.delete(w);
    return true;
  }

  /** Checks what the history returned and applies the watcher's filters and prev_kv choice. */
  #checkAndFilter(w: Watcher, events: readonly WatchEvent[], from: number, next: number):
    WatchEvent[] {
    const out: WatchEvent[] = [];
    let previous: WatchEvent | undefined;
    for (const e of events) {
      const rev = e.kv.modRevision;
      assert(rev >= from && rev < next,
        `history returned revision ${rev} outside [${from}, ${next})`);
      assert(rangesContain(w.ranges, e.kv.key), 'history returned an event outside the ranges');
      if (previous !== undefined) {
        const prevRev = previous.kv.modRevision;
        assert(prevRev < rev || (prevRev === rev && compareBytes(previous.kv.key, e.kv.key) !== 0),
          'history events out of order or repeated');
      }
      previous = e;
      if (!w.wants(e)) continue;
      out.push(w.prevKv || e.prevKv === undefined ? e : { type: e.type, kv: e.kv });
    }
    return out;
  }

  #catchUpStream(s: Stream): void {
    let reads = 0;
    for (const w of [...s.unsynced]) {
      while (!w.removed && !w.synced && reads < this.#limits.catchUpReadsPerPassMax) {
        if (!this.#catchUpOnce(w)) return;
        reads++;
      }
    }
  }

  #catchUpPass(): void {
    let reads = 0;
    for (const w of [...this.#unsynced]) {
      if (reads >= this.#limits.catchUpReadsPerPassMax) return;
      if (w.removed || w.synced) continue;
      if (!this.#catchUpOnce(w)) continue;
      reads++;
      if (!w.removed && !w.synced) {
        // Still behind: go to the back so every watcher gets its turn.
        this.#unsynced.delete(w);
        this.#unsynced.add(w);
      }
    }
  }

  /** Synced watchers whose end revision has been reached end by themselves. */
  #finishEnded(): void {
    while (this.#ends.length > 0) {
      const w = this.#ends.peek()!;
      if (w.endRevision > this.#current) return;
      this.#ends.pop();
      if (w.removed) this.#endsStale--;
      assert(this.#endsStale >= 0, 'stale end-heap count went negative');
      // Unsynced watchers end when their catch-up passes the end revision.
      if (!w.removed && w.synced) this.#finish(w);
    }
  }

  #finish(w: Watcher): void {
    this.#remove(w);
    this.#enqueueControl(w.stream, controlResponse({
      watchId: w.id, headerRevision: w.endRevision, canceled: true,
      cancelReason: watchCancelReasons.endRevisionReached,
    }));
  }

  #progressPass(): void {
    for (const w of this.#progressWatchers) {
      if (w.sentSinceProgress) {
        w.sentSinceProgress = false;
        continue;
      }
      if (!w.synced || w.startRevision > this.#current) continue;
      if (!this.#fits(w.stream, 0, RESPONSE_OVERHEAD_BYTES)) continue;
      this.#enqueueControl(w.stream, controlResponse({
        watchId: w.id, headerRevision: this.#current,
      }));
    }
  }
}
