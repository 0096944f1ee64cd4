/**
 * Auto compaction, as etcd 3.4's compactor package decides it (periodic.go, revision.go), as a
 * pure policy: the caller ticks it with the time and the current revision and proposes the
 * compaction it returns. Only the leader runs it.
 *
 * - periodic, retention R: the revision is sampled every R/10 (R capped at one hour for the
 *   sampling interval); once a full window of samples exists, each compaction interval compacts to
 *   the oldest sample, the revision of about R ago.
 * - revision, retention N: every five minutes, compact to current - N when that is new.
 */
import { assert } from '../base/index.js';

export type CompactionMode = 'periodic' | 'revision';

const HOUR_MS = 3_600_000;
/** etcd's revision-mode check interval. */
export const REVISION_COMPACT_INTERVAL_MS = 5 * 60_000;

export class Compactor {
  readonly #mode: CompactionMode;
  readonly #retention: number;
  readonly #sampleEveryMs: number;
  readonly #compactEveryMs: number;
  readonly #samplesMax: number;
  #samples: number[] = [];
  #nextSampleAt: number;
  #nextCompactAt: number;
  #last = 0;

  /** `retention`: milliseconds (periodic) or revisions (revision); 0 disables compaction. */
  constructor(mode: CompactionMode, retention: number, nowMs: number) {
    assert(retention >= 0 && Number.isFinite(retention), 'retention must be non-negative');
    this.#mode = mode;
    this.#retention = retention;
    this.#compactEveryMs = mode === 'periodic' ? Math.min(retention, HOUR_MS) : REVISION_COMPACT_INTERVAL_MS;
    this.#sampleEveryMs = Math.max(1, this.#compactEveryMs / 10);
    this.#samplesMax = mode === 'periodic' ? Math.ceil(retention / this.#sampleEveryMs) + 1 : 0;
    this.#nextSampleAt = nowMs;
    this.#nextCompactAt = nowMs + (mode === 'periodic' ? retention : this.#compactEveryMs);
  }

  get enabled(): boolean {
    return this.#retention > 0;
  }

  /** Forget the history (leadership lost): a new leader starts its window afresh. */
  reset(nowMs: number): void {
    this.#samples = [];
    this.#nextSampleAt = nowMs;
    this.#nextCompactAt = nowMs + (this.#mode === 'periodic' ? this.#retention : this.#compactEveryMs);
  }

  /** Returns the revision to compact to now, or null. */
  tick(nowMs: number, revision: number, compacted: number): number | null {
    if (!this.enabled) return null;
    if (this.#mode === 'periodic' && nowMs >= this.#nextSampleAt) {
      this.#samples.push(revision);
      if (this.#samples.length > this.#samplesMax) this.#samples.shift();
      this.#nextSampleAt = nowMs + this.#sampleEveryMs;
    }
    if (nowMs < this.#nextCompactAt) return null;
    this.#nextCompactAt = nowMs + this.#compactEveryMs;
    const target = this.#mode === 'periodic' ? (this.#samples[0] ?? 0) : revision - this.#retention;
    if (target <= 0 || target <= compacted || target === this.#last || target > revision) return null;
    this.#last = target;
    return target;
  }
}
