/**
 * RaftWal: the Raft log's write-ahead file, as etcd's WAL: each persist appends one record and
 * fdatasyncs the file once, which costs a fraction of an LMDB commit (two fsyncs, data then meta,
 * and a round trip through lmdb-js's writer thread: ~180 us against ~500 us here). LMDB still
 * holds the log (LmdbRaftStorage writes it lazily, with the apply loop's batches), and records
 * the sequence number of the last WAL record it holds; on open, the records after it are
 * replayed into LMDB and the files are removed.
 *
 * Files: `<dir>/<first seq, 16 hex digits>.wal`, appended in order; a new file is started once
 * the current one passes WAL_SEGMENT_BYTES_MAX, and files whose records LMDB holds durably are
 * removed. Record: [length u32 BE][crc32c u32 BE of the body][body]; body: [seq u64][hard state
 * flag u8]([term u64][vote u64][commit u64])[entry count u32] then per entry [type u8][term u64]
 * [index u64][data length u32][data]. A record cut short by a crash fails its length or its
 * checksum and ends the replay there: it was never acknowledged, since a persist resolves only
 * once its record is fsynced, and nothing is appended after a record before that. The zeros a
 * file was preallocated with read as such an end (a record is never 0 bytes long).
 */
import {
  closeSync, fdatasync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, write, writeSync,
} from 'node:fs';
import { join } from 'node:path';
import {
  assert, copyBytes, crc32c, memberId, readUint32BE, readUint64BE, writeUint32BE, writeUint64BE,
} from '../../base/index.js';
import type { Entry, HardState } from '../../raft/index.js';

/** A WAL file is closed and a new one started past this size. */
export const WAL_SEGMENT_BYTES_MAX = 64 * 1024 * 1024;
/**
 * A WAL file is filled with zeros this far ahead of its records, in the background, as etcd
 * preallocates its segments: an append that does not grow the file needs no journal commit of
 * the file's size, so its fdatasync writes the data pages alone (~140 us against ~250 here).
 */
export const WAL_PREALLOCATE_BYTES = 4 * 1024 * 1024;
const ZEROS = new Uint8Array(WAL_PREALLOCATE_BYTES);
/** A record longer than this is corruption (a persist's entries are bounded far below it). */
const WAL_RECORD_BYTES_MAX = 1024 * 1024 * 1024;

export interface WalRecord {
  readonly seq: number;
  readonly hardState: HardState | null;
  readonly entries: readonly Entry[];
}

const HEADER_BYTES = 8;

function encodeRecord(r: WalRecord): Uint8Array {
  let size = 8 + 1 + (r.hardState === null ? 0 : 24) + 4;
  for (const e of r.entries) size += 1 + 8 + 8 + 4 + e.data.length;
  const out = new Uint8Array(HEADER_BYTES + size);
  let at = HEADER_BYTES;
  writeUint64BE(out, at, r.seq);
  at += 8;
  out[at++] = r.hardState === null ? 0 : 1;
  if (r.hardState !== null) {
    writeUint64BE(out, at, r.hardState.term);
    writeBigU64(out, at + 8, r.hardState.vote);
    writeUint64BE(out, at + 16, r.hardState.commit);
    at += 24;
  }
  writeUint32BE(out, at, r.entries.length);
  at += 4;
  for (const e of r.entries) {
    out[at] = e.type === 'confChange' ? 1 : 0;
    writeUint64BE(out, at + 1, e.term);
    writeUint64BE(out, at + 9, e.index);
    writeUint32BE(out, at + 17, e.data.length);
    out.set(e.data, at + 21);
    at += 21 + e.data.length;
  }
  assert(at === out.length, 'WAL record size');
  writeUint32BE(out, 0, size);
  writeUint32BE(out, 4, crc32c(0, out.subarray(HEADER_BYTES)));
  return out;
}

function writeBigU64(out: Uint8Array, at: number, n: bigint): void {
  new DataView(out.buffer, out.byteOffset, out.byteLength).setBigUint64(at, n);
}

function readBigU64(bytes: Uint8Array, at: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(at);
}

/** The record at `at` in `file`, or null where the file ends or the record is cut or corrupt. */
function decodeRecord(file: Uint8Array, at: number): { record: WalRecord; next: number } | null {
  if (at + HEADER_BYTES > file.length) return null;
  const size = readUint32BE(file, at);
  if (size < 13 || size > WAL_RECORD_BYTES_MAX || at + HEADER_BYTES + size > file.length) return null;
  const body = file.subarray(at + HEADER_BYTES, at + HEADER_BYTES + size);
  if (crc32c(0, body) !== readUint32BE(file, at + 4)) return null;
  let p = 0;
  const seq = readUint64BE(body, p);
  p += 8;
  let hardState: HardState | null = null;
  if (body[p++] === 1) {
    hardState = {
      term: readUint64BE(body, p), vote: memberId(readBigU64(body, p + 8)), commit: readUint64BE(body, p + 16),
    };
    p += 24;
  }
  const count = readUint32BE(body, p);
  p += 4;
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    assert(p + 21 <= body.length, 'WAL entry header within its record');
    const length = readUint32BE(body, p + 17);
    assert(p + 21 + length <= body.length, 'WAL entry data within its record');
    entries.push({
      type: body[p] === 1 ? 'confChange' : 'normal', term: readUint64BE(body, p + 1),
      index: readUint64BE(body, p + 9), data: copyBytes(body.subarray(p + 21, p + 21 + length)),
    });
    p += 21 + length;
  }
  assert(p === body.length, 'WAL record holds nothing after its entries');
  return { record: { seq, hardState, entries }, next: at + HEADER_BYTES + size };
}

const SEGMENT = /^([0-9a-f]{16})\.wal$/;

function segmentName(firstSeq: number): string {
  return `${firstSeq.toString(16).padStart(16, '0')}.wal`;
}

/** The files in `dir`, oldest first, with the first sequence number each holds. */
function segmentsIn(dir: string): { name: string; firstSeq: number }[] {
  return readdirSync(dir).flatMap((name) => {
    const m = SEGMENT.exec(name);
    return m === null ? [] : [{ name, firstSeq: parseInt(m[1]!, 16) }];
  }).sort((a, b) => a.firstSeq - b.firstSeq);
}

/**
 * Every whole record in `dir` with a sequence number above `afterSeq`, in order. Sequence
 * numbers run on without a gap; the replay ends at the first record that is cut or corrupt.
 */
export function readWal(dir: string, afterSeq: number): WalRecord[] {
  mkdirSync(dir, { recursive: true });
  const out: WalRecord[] = [];
  let expect = -1;
  for (const { name } of segmentsIn(dir)) {
    const file = readFileSync(join(dir, name));
    let at = 0;
    for (;;) {
      const decoded = decodeRecord(file, at);
      if (decoded === null) break;
      const { record } = decoded;
      assert(expect < 0 || record.seq === expect, `WAL record ${record.seq} where ${expect} was due`);
      expect = record.seq + 1;
      if (record.seq > afterSeq) out.push(record);
      at = decoded.next;
    }
    // The rest of the file is a torn record or preallocated zeros: the next file (if any) goes
    // on from the last whole record, or the sequence check above fails loudly.
  }
  return out;
}

/** Removes every WAL file in `dir` (their records are in LMDB, durably). */
export function clearWal(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const { name } of segmentsIn(dir)) rmSync(join(dir, name));
  syncDir(dir);
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

interface Segment {
  readonly name: string;
  readonly fd: number;
  /** The last sequence number written to it. */
  lastSeq: number;
  bytes: number;
  /** Bytes of the file written (records, then zeros ahead of them). */
  allocated: number;
  allocating: boolean;
}

interface Queued {
  readonly bytes: Uint8Array;
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The appending side. One write and one fdatasync are in flight at a time; records appended
 * meanwhile go out together in the next (group commit). Starts on an empty directory (after
 * the replay cleared it), numbering from `nextSeq`.
 */
export class RaftWal {
  readonly #dir: string;
  #seq: number;
  #current: Segment;
  /** Closed files not yet removed, oldest first. */
  readonly #old: Segment[] = [];
  #queued: Queued[] = [];
  #busy = false;
  #failed: unknown = null;
  #closed = false;
  readonly #noSync: boolean;
  readonly #segmentBytesMax: number;

  /**
   * `noSync`: never fdatasync (throwaway envs: tests, simulation on disk), as EnvOptions;
   * `segmentBytesMax`: WAL_SEGMENT_BYTES_MAX unless a test wants small files.
   */
  constructor(dir: string, nextSeq: number, options: { readonly noSync?: boolean; readonly segmentBytesMax?: number } = {}) {
    assert(Number.isSafeInteger(nextSeq) && nextSeq >= 1, 'WAL sequence numbers start at 1');
    mkdirSync(dir, { recursive: true });
    this.#dir = dir;
    this.#noSync = options.noSync === true;
    this.#segmentBytesMax = options.segmentBytesMax ?? WAL_SEGMENT_BYTES_MAX;
    this.#seq = nextSeq - 1;
    this.#current = this.#open(nextSeq);
  }

  /** The sequence number the next record gets. */
  get nextSeq(): number {
    return this.#seq + 1;
  }

  /** Appends a record with the next sequence number; resolves once it is on disk. */
  append(hardState: HardState | null, entries: readonly Entry[]): { seq: number; durable: Promise<void> } {
    assert(!this.#closed, 'WAL is closed');
    const seq = ++this.#seq;
    const bytes = encodeRecord({ seq, hardState, entries });
    const durable = new Promise<void>((resolve, reject) => {
      this.#queued.push({ bytes, seq, resolve, reject });
    });
    this.#pump();
    return { seq, durable };
  }

  /** LMDB holds every record through `seq` durably: the files that hold only those go. */
  release(seq: number): void {
    while (this.#old.length > 0 && this.#old[0]!.lastSeq <= seq) {
      const s = this.#old.shift()!;
      rmSync(join(this.#dir, s.name), { force: true });
    }
  }

  /** Waits for the records in flight; closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#busy || this.#queued.length > 0 || this.#current.allocating) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    closeSync(this.#current.fd);
  }

  #open(firstSeq: number): Segment {
    const name = segmentName(firstSeq);
    const fd = openSync(join(this.#dir, name), 'w');
    // The new file's name must survive a crash as its records do.
    syncDir(this.#dir);
    return { name, fd, lastSeq: firstSeq - 1, bytes: 0, allocated: 0, allocating: false };
  }

  /** Zeros ahead of the records, written and synced off this thread (see WAL_PREALLOCATE_BYTES). */
  #preallocate(segment: Segment): void {
    if (segment.allocating || segment.bytes + WAL_PREALLOCATE_BYTES / 2 < segment.allocated) return;
    segment.allocating = true;
    // Only past what is written now: the zeros never land on records.
    const at = Math.max(segment.allocated, segment.bytes);
    write(segment.fd, ZEROS, 0, ZEROS.length, at, (error) => {
      if (error !== null) {
        segment.allocating = false;
        return;
      }
      const done = (): void => {
        segment.allocated = at + ZEROS.length;
        segment.allocating = false;
      };
      if (this.#noSync) done();
      else fdatasync(segment.fd, done);
    });
  }

  #pump(): void {
    if (this.#busy || this.#queued.length === 0) return;
    const batch = this.#queued;
    this.#queued = [];
    if (this.#failed !== null) {
      for (const q of batch) q.reject(this.#failed);
      return;
    }
    if (this.#current.bytes >= this.#segmentBytesMax) {
      closeSync(this.#current.fd);
      this.#old.push(this.#current);
      this.#current = this.#open(batch[0]!.seq);
    }
    const segment = this.#current;
    const bytes = batch.length === 1 ? batch[0]!.bytes : Buffer.concat(batch.map((q) => q.bytes));
    this.#busy = true;
    const done = (error: unknown): void => {
      this.#busy = false;
      if (error !== null) {
        // A failed write or fsync leaves the file in an unknown state: every later append fails.
        this.#failed = error;
        for (const q of batch) q.reject(error);
      } else {
        segment.lastSeq = batch[batch.length - 1]!.seq;
        for (const q of batch) q.resolve();
      }
      this.#pump();
    };
    // Into the page cache on this thread (a copy, microseconds); the fdatasync runs off it.
    let written: number;
    try {
      written = writeSync(segment.fd, bytes, 0, bytes.length, segment.bytes);
    } catch (error) {
      done(error);
      return;
    }
    if (written !== bytes.length) {
      done(new Error(`WAL short write: ${written} of ${bytes.length} bytes`));
      return;
    }
    segment.bytes += bytes.length;
    this.#preallocate(segment);
    if (this.#noSync) queueMicrotask(() => done(null));
    else fdatasync(segment.fd, (e) => done(e ?? null));
  }
}
