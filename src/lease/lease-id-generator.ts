/**
 * Server-chosen lease ids, as etcd makes them (pkg/idutil.Generator, used by LeaseGrant with
 * ID 0): the low 16 bits of the member id in the top 16 bits, then 40 bits of the start time in
 * Unix milliseconds and an 8-bit counter that together increment by one per id; the result is
 * masked to 63 bits so it is a positive int64, and 0 is skipped. The id is chosen before the
 * grant is proposed, so every member applies the same id.
 */
import { assert, leaseId } from '../base/index.js';
import type { LeaseId, MemberId } from '../base/index.js';

const TS_BITS = 40n;
const COUNT_BITS = 8n;
const SUFFIX_BITS = TS_BITS + COUNT_BITS;
const SUFFIX_MASK = (1n << SUFFIX_BITS) - 1n;
const INT63_MASK = (1n << 63n) - 1n;

export class LeaseIdGenerator {
  readonly #prefix: bigint;
  #suffix: bigint;

  /** `startUnixMs` is wall-clock time at startup, given by the host (the core reads no clock). */
  constructor(member: MemberId, startUnixMs: number) {
    assert(Number.isSafeInteger(startUnixMs) && startUnixMs >= 0, 'startUnixMs must be >= 0');
    this.#prefix = (BigInt(member) & 0xffffn) << SUFFIX_BITS;
    this.#suffix = (BigInt(startUnixMs) & ((1n << TS_BITS) - 1n)) << COUNT_BITS;
  }

  next(): LeaseId {
    for (;;) {
      this.#suffix = (this.#suffix + 1n) & SUFFIX_MASK;
      const id = (this.#prefix | this.#suffix) & INT63_MASK;
      if (id !== 0n) return leaseId(id);
    }
  }
}
