/**
 * The data the watch core consumes and produces. The core owns these shapes (STYLE example 6):
 * mvcc produces `CommittedBatch`es and implements `HistoryReader` without watch importing mvcc.
 *
 * Ownership: every Uint8Array in an event belongs to the event's producer and is never mutated
 * by the hub; the hub passes event objects through to responses unchanged (or as a copy without
 * `prevKv`), so a producer must not reuse the buffers (lmdb-js `getBinaryFast` buffers must be
 * copied before they are put in an event).
 */

/** A key's value at one revision, as etcd's mvccpb.KeyValue. */
export interface WatchKeyValue {
  readonly key: Uint8Array;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly value: Uint8Array;
  readonly lease: bigint;
}

export type WatchEventType = 'PUT' | 'DELETE';

/**
 * One change, as etcd's mvccpb.Event. A DELETE carries `{ key, modRevision = deletion revision }`
 * (the other fields zero). `prevKv` is the key's value at `modRevision - 1` when the producer
 * still has it; the hub strips it for watchers that did not ask for it.
 */
export interface WatchEvent {
  readonly type: WatchEventType;
  readonly kv: WatchKeyValue;
  readonly prevKv?: WatchKeyValue;
}

/**
 * All changes of one committed write, in apply order (etcd's sub-revision order). Revisions with
 * no change are never handed over, so `events` is non-empty and every event's `kv.modRevision`
 * equals `revision`. Within one revision a key appears at most once (etcd refuses duplicate keys
 * in a txn), so (revision, key) names an event.
 */
export interface CommittedBatch {
  readonly revision: number;
  readonly events: readonly WatchEvent[];
}

/** A half-open key interval [key, rangeEnd) after etcd's normalisation; see key-range.ts. */
export interface KeyRange {
  readonly key: Uint8Array;
  /** Empty: exactly `key`. `"\0"`: every key >= key. Otherwise the exclusive end. */
  readonly rangeEnd: Uint8Array;
}

export interface HistoryQuery {
  /** First revision wanted (inclusive). */
  readonly fromRevision: number;
  /** Last revision wanted (inclusive); never above the revision last handed to the hub. */
  readonly toRevision: number;
  /** An event is wanted when its key lies in at least one of these ranges. */
  readonly ranges: readonly KeyRange[];
  /** Stop after the revision at which this many events have been collected. */
  readonly eventsMax: number;
  /**
   * Stop after the revision at which the collected events' keys and values (prev_kv included)
   * reach this many bytes, so one read of large values stays bounded too.
   */
  readonly bytesMax: number;
  /** Cover at most this many revisions, so a narrow watcher over a busy store is bounded too. */
  readonly revisionsMax: number;
}

export type HistoryResult =
  | {
    readonly compacted: false;
    /** Wanted events of whole revisions, ascending by (revision, sub-revision), each once. */
    readonly events: readonly WatchEvent[];
    /** The first revision not covered; fromRevision < nextRevision <= toRevision + 1. */
    readonly nextRevision: number;
  }
  | { readonly compacted: true; readonly compactRevision: number };

/**
 * What the hub needs from the store to let a watcher catch up (implemented by mvcc, and by
 * `MemoryHistory` for tests and the simulator).
 *
 * Contract:
 * - `compacted: true` iff `fromRevision` < the store's compact revision (etcd: a start revision
 *   equal to the compact revision is still served).
 * - Otherwise the events are those of the revisions [fromRevision, nextRevision) whose key lies
 *   in one of `ranges`, each event once, never part of a revision: the reader stops after the
 *   first revision that brings the count to `eventsMax` or the bytes to `bytesMax`, or after
 *   `revisionsMax` revisions, or at `toRevision`. It always covers at least one revision.
 * - Every revision <= toRevision that was handed to `WatchHub.onCommitted` must be readable, so
 *   mvcc must commit (or otherwise expose) a write before its batch reaches the hub.
 * - Events carry `prevKv` when the store still has the previous version.
 */
export interface HistoryReader {
  eventsSince(query: HistoryQuery): HistoryResult;
}

export type WatchFilter = 'NOPUT' | 'NODELETE';

/**
 * etcd's WatchCreateRequest, with defaults for omitted fields, plus two strata extensions:
 * `endRevision` and `extraRanges`.
 */
export interface WatchCreateRequest {
  /** Empty means "\0" (etcd). */
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
  /** 0 (default): from the next revision. r > 0: every event with revision >= r. */
  readonly startRevision?: number;
  readonly progressNotify?: boolean;
  readonly filters?: readonly WatchFilter[];
  readonly prevKv?: boolean;
  /** 0 (default): the hub assigns the next free id of the stream. */
  readonly watchId?: number;
  readonly fragment?: boolean;
  /**
   * Extension (the seed's end_index): the watch ends by itself once it has delivered every event
   * up to and including this revision, with a canceled response whose reason is
   * `WATCH_END_REVISION_REACHED`. 0 (default): no end.
   */
  readonly endRevision?: number;
  /**
   * Extension: further ranges watched by the same watcher. An event matching several of the
   * watcher's ranges is delivered once.
   */
  readonly extraRanges?: readonly { readonly key: Uint8Array; readonly rangeEnd?: Uint8Array }[];
}

/**
 * etcd's WatchResponse, flattened (the shell adds cluster id, member id and raft term to the
 * header). A progress notification has no events, `created` and `canceled` false and
 * `compactRevision` 0; `watchId` -1 means "every watcher of the stream".
 */
export interface WatchResponse {
  readonly watchId: number;
  /** header.revision; 0 in a compaction cancel, as etcd sends it. */
  readonly headerRevision: number;
  readonly created: boolean;
  readonly canceled: boolean;
  readonly compactRevision: number;
  readonly cancelReason: string;
  /** More fragments of this logical response follow. */
  readonly fragment: boolean;
  readonly events: readonly WatchEvent[];
}
