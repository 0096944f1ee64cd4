/**
 * The watch core's named maxima and its configuration, validated once at construction
 * (STYLE example 4). Defaults follow etcd where etcd has one.
 */
import { assert, limits } from '../base/index.js';

export interface WatchHubLimits {
  /**
   * Events a stream may hold queued plus sent-but-unacknowledged. A synced watcher whose next
   * response would go over it falls back to the unsynced group and later catches up from
   * history; a response is still accepted by an empty buffer whatever its size, so a single
   * revision larger than the limit cannot stall a watcher.
   */
  readonly streamBufferedEventsMax: number;
  /** The same bound in estimated encoded bytes. */
  readonly streamBufferedBytesMax: number;
  /**
   * Control responses (created, canceled, progress) queued on a stream before the hub refuses
   * client requests on it (createWatch / cancelWatch / progressRequest return false and the
   * shell stops reading that client until it drains).
   */
  readonly streamControlResponsesMax: number;
  /** Events asked of the history per catch-up read (etcd: one response per sync). */
  readonly catchUpEventsMax: number;
  /** Key and value bytes asked of the history per catch-up read. */
  readonly catchUpBytesMax: number;
  /** Revisions covered per catch-up read (etcd caps a catch-up batch at 1000 revisions). */
  readonly catchUpRevisionsMax: number;
  /** History reads per catch-up pass (etcd syncs at most 512 watchers at a time). */
  readonly catchUpReadsPerPassMax: number;
  /**
   * A response of a watcher with `fragment` is split when its estimated size reaches this
   * (etcd: max-request-bytes + 512 KiB).
   */
  readonly fragmentBytesMin: number;
  /** Ranges in one watch (the multi-range extension). */
  readonly rangesPerWatchMax: number;
}

export const defaultWatchHubLimits: WatchHubLimits = {
  streamBufferedEventsMax: 8_192,
  streamBufferedBytesMax: 16 * 1024 * 1024,
  streamControlResponsesMax: 1_024,
  catchUpEventsMax: limits.watchEventsPerResponseMax,
  catchUpBytesMax: 4 * 1024 * 1024,
  catchUpRevisionsMax: 1_000,
  catchUpReadsPerPassMax: 512,
  fragmentBytesMin: limits.requestBytesMax + limits.grpcOverheadBytes,
  rangesPerWatchMax: 64,
};

export function resolveWatchHubLimits(given: Partial<WatchHubLimits> | undefined): WatchHubLimits {
  const l: WatchHubLimits = { ...defaultWatchHubLimits, ...given };
  for (const [name, value] of Object.entries(l)) {
    assert(Number.isSafeInteger(value), `watch limit ${name} must be an integer: ${value}`);
    assert(value >= 1, `watch limit ${name} must be at least 1: ${value}`);
  }
  return l;
}
