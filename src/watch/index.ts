/**
 * src/watch: the pure core of etcd's Watch. It owns the watcher registry of every client stream
 * (watch ids as etcd assigns them), the matching index (exact keys by hash, prefixes by hash per
 * prefix length, other ranges in an interval treap), the synced and unsynced groups with
 * catch-up from history through the `HistoryReader` it defines (mvcc implements it; watch never
 * imports mvcc), per-stream response queues with a bounded send buffer, progress notifications,
 * compaction cancellation, and two extensions: an end revision and several ranges per watcher.
 *
 * Invariants (asserted in WatchHub, checked by the named checkers in checkers.ts):
 * - per watcher, responses go created → events → canceled, and nothing follows canceled;
 * - events ascend strictly by (revision, sub-revision), each once, with no gap but filtered ones;
 * - a watcher's events of one revision travel together (split only into flagged fragments);
 * - no progress or event header revision runs ahead of an event not yet queued for it;
 * - a synced watcher has every wanted event up to the current revision queued; an unsynced one
 *   has everything below its next revision queued and holds no events in memory;
 * - a stream's queued plus in-flight events stay within `streamBufferedEventsMax` plus at most
 *   one history read (whole revisions), and its control backlog within
 *   `streamControlResponsesMax`.
 * No I/O, no clock, no randomness: the actor shell feeds batches, requests and ticks.
 */
export type {
  CommittedBatch, HistoryQuery, HistoryReader, HistoryResult, KeyRange, WatchCreateRequest,
  WatchEvent, WatchEventType, WatchFilter, WatchKeyValue, WatchResponse,
} from './types.js';
export type { RangeShape } from './key-range.js';
export {
  isEmptyRange, normalizeRange, rangeContains, rangesContain, shapeOf,
} from './key-range.js';
export type { MatchEntry } from './match-index.js';
export { KeyMatchIndex, hashBytes } from './match-index.js';
export type { WatchHubLimits } from './limits.js';
export { defaultWatchHubLimits, resolveWatchHubLimits } from './limits.js';
export type { HubStats, StreamStats, WatchHubOptions } from './watch-hub.js';
export { WatchHub, eventBytes, watchCancelReasons } from './watch-hub.js';
export { MemoryHistory } from './memory-history.js';
export type { RecordedEnd, RecordedWatch } from './checkers.js';
export {
  HistoryModel, WatchRecorder, checkAtomic, checkBookmarkable, checkOrdered, checkPrevKv,
  checkReliable, checkResumable, checkUnique, checkWatch, deliveredEvents, eventId, firstWanted,
  requestRanges,
} from './checkers.js';
