/**
 * A single-producer single-consumer ring of byte records over a SharedArrayBuffer: one thread
 * writes, one other thread reads, neither waits. The thread runtime carries cross-thread batches
 * through it so that a batch for a thread that will look soon anyway needs no postMessage (a post
 * wakes an idle thread: ~40 us of the sender's CPU and ~30 us of the receiver's on our VMs).
 *
 * Layout: four Int32 control words, then `capacity` data bytes (a power of two). `write` and
 * `read` are free-running byte counters (Int32 arithmetic wraps; capacity < 2^30 keeps
 * `write - read` exact). A record is a 4-byte length and its bytes, padded to 4; a record that
 * would cross the end of the data is preceded by a SKIP length that sends the reader to offset 0.
 * The writer publishes with Atomics.store(write) after the bytes; the reader frees with
 * Atomics.store(read) after copying them out: the stores order the plain byte accesses.
 * The other two words belong to the runtime (port batches posted and handled, see ThreadRuntime).
 */
import { assert } from '../../base/index.js';

const WRITE = 0;
const READ = 1;
/** Batches the sender posted through the port instead of the ring (written by the sender). */
export const PORT_POSTED = 2;
/** Port batches the receiver has handled (written by the receiver). */
export const PORT_HANDLED = 3;
const CONTROL_BYTES = 16;
const SKIP = -1;
/** The largest ring: positions stay exact in Int32 arithmetic below 2^30. */
const CAPACITY_MAX = 2 ** 29;

export class ByteRing {
  readonly control: Int32Array;
  readonly #data: Uint8Array;
  readonly #lengths: Int32Array;
  readonly #mask: number;

  /** A new shared buffer for a ring of `capacity` data bytes (a power of two, >= 64). */
  static allocate(capacity: number): SharedArrayBuffer {
    assert(capacity >= 64 && capacity <= CAPACITY_MAX && (capacity & (capacity - 1)) === 0,
      `ring capacity must be a power of two in [64, ${CAPACITY_MAX}]: ${capacity}`);
    return new SharedArrayBuffer(CONTROL_BYTES + capacity);
  }

  constructor(buffer: SharedArrayBuffer) {
    const capacity = buffer.byteLength - CONTROL_BYTES;
    assert(capacity >= 64 && (capacity & (capacity - 1)) === 0, 'ring buffer from ByteRing.allocate');
    this.control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    this.#data = new Uint8Array(buffer, CONTROL_BYTES, capacity);
    this.#lengths = new Int32Array(buffer, CONTROL_BYTES, capacity / 4);
    this.#mask = capacity - 1;
  }

  /** The largest record `write` may ever accept. */
  get recordMax(): number {
    return (this.#mask + 1) / 2 - 4;
  }

  /** Producer: appends one record; false (and nothing written) when it does not fit now. */
  write(bytes: Uint8Array): boolean {
    const length = bytes.length;
    if (length > this.recordMax) return false;
    const control = this.control;
    const write = control[WRITE]!; // only this thread stores it
    const used = (write - Atomics.load(control, READ)) | 0;
    assert(used >= 0 && used <= this.#mask + 1, `ring state corrupt: ${used} bytes used`);
    const capacity = this.#mask + 1;
    const record = 4 + ((length + 3) & ~3);
    let at = write & this.#mask;
    const skip = at + record > capacity ? capacity - at : 0;
    if (used + skip + record > capacity) return false;
    if (skip > 0) {
      this.#lengths[at >> 2] = SKIP;
      at = 0;
    }
    this.#lengths[at >> 2] = length;
    this.#data.set(bytes, at + 4);
    Atomics.store(control, WRITE, (write + skip + record) | 0);
    return true;
  }

  /** Consumer: calls `take` with a copy of every published record, in order; returns how many. */
  drain(take: (record: Uint8Array) => void): number {
    const control = this.control;
    const write = Atomics.load(control, WRITE);
    let read = control[READ]!; // only this thread stores it
    let records = 0;
    while (read !== write) {
      let at = read & this.#mask;
      let length = this.#lengths[at >> 2]!;
      if (length === SKIP) {
        read = (read + (this.#mask + 1 - at)) | 0;
        at = 0;
        length = this.#lengths[0]!;
      }
      assert(length >= 0 && length <= this.recordMax, `ring record length corrupt: ${length}`);
      const copy = new Uint8Array(length);
      copy.set(this.#data.subarray(at + 4, at + 4 + length));
      read = (read + 4 + ((length + 3) & ~3)) | 0;
      // Freed before `take` runs: the copy is ours, and a throw in `take` loses nothing more.
      Atomics.store(control, READ, read);
      records++;
      take(copy);
    }
    return records;
  }
}
