/**
 * An in-memory LeaseStore for tests and the simulator: the same contract the apply side's
 * LMDB-backed store keeps, with copies in and out so callers cannot alias its records.
 */
import { assert } from '../base/index.js';
import type { LeaseId } from '../base/index.js';
import type { LeaseRecord, LeaseStore } from './types.js';

export class MemoryLeaseStore implements LeaseStore {
  readonly #records = new Map<LeaseId, LeaseRecord>();

  load(): LeaseRecord[] {
    return [...this.#records.values()].map((r) => ({ ...r }));
  }

  put(record: LeaseRecord): void {
    assert(record.id !== 0n, 'storing a lease with id 0');
    this.#records.set(record.id, { ...record });
  }

  delete(id: LeaseId): void {
    this.#records.delete(id);
  }

  get size(): number {
    return this.#records.size;
  }
}
