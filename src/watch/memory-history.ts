/**
 * MemoryHistory: a deliberately simple HistoryReader over committed batches kept in memory. It is
 * the model the hub is tested against and the history the simulator can use; matching is the
 * plain range definition, not the hub's index. Compaction drops every batch below the compact
 * revision (etcd keeps some versions at exactly that revision; a watcher may start there either
 * way, so the difference does not reach the hub's rules).
 */
import { assert, assertCount } from '../base/index.js';
import { rangesContain } from './key-range.js';
import type {
  CommittedBatch, HistoryQuery, HistoryReader, HistoryResult, WatchEvent,
} from './types.js';

export class MemoryHistory implements HistoryReader {
  #batches: CommittedBatch[] = [];
  #compactRevision = 0;
  #currentRevision: number;

  constructor(currentRevision = 0) {
    assertCount(currentRevision, 'currentRevision');
    this.#currentRevision = currentRevision;
  }

  get currentRevision(): number {
    return this.#currentRevision;
  }

  get compactRevision(): number {
    return this.#compactRevision;
  }

  /** Records a committed batch; revisions strictly increase. */
  append(batch: CommittedBatch): void {
    assert(batch.revision > this.#currentRevision, 'history batches must ascend');
    assert(batch.events.length > 0, 'a committed batch has events');
    this.#batches.push(batch);
    this.#currentRevision = batch.revision;
  }

  /** Discards history below `revision`, which must not go back or pass the current revision. */
  compact(revision: number): void {
    assert(revision >= this.#compactRevision, 'compaction cannot go back');
    assert(revision <= this.#currentRevision, 'compaction beyond the current revision');
    this.#compactRevision = revision;
    const keepFrom = this.#lowerBound(revision);
    this.#batches = this.#batches.slice(keepFrom);
  }

  eventsSince(query: HistoryQuery): HistoryResult {
    assert(query.eventsMax >= 1 && query.revisionsMax >= 1 && query.bytesMax >= 1,
      'history query bounds are positive');
    assert(query.fromRevision <= query.toRevision, 'history query range is empty');
    assert(query.toRevision <= this.#currentRevision, 'history query beyond the current revision');
    if (query.fromRevision < this.#compactRevision) {
      return { compacted: true, compactRevision: this.#compactRevision };
    }
    const last = Math.min(query.toRevision, query.fromRevision + query.revisionsMax - 1);
    const events: WatchEvent[] = [];
    let nextRevision = last + 1;
    let bytes = 0;
    for (let i = this.#lowerBound(query.fromRevision); i < this.#batches.length; i++) {
      const batch = this.#batches[i]!;
      if (batch.revision > last) break;
      for (const e of batch.events) {
        if (!rangesContain(query.ranges, e.kv.key)) continue;
        events.push(e);
        bytes += e.kv.key.length + e.kv.value.length
          + (e.prevKv === undefined ? 0 : e.prevKv.key.length + e.prevKv.value.length);
      }
      if (events.length >= query.eventsMax || bytes >= query.bytesMax) {
        nextRevision = batch.revision + 1;
        break;
      }
    }
    return { compacted: false, events, nextRevision };
  }

  /** Index of the first batch with revision >= `revision`. */
  #lowerBound(revision: number): number {
    let lo = 0, hi = this.#batches.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#batches[mid]!.revision < revision) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
